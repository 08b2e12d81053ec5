"""Generic repository: get, keyset-paged list, add and delete for one model.

Repositories speak in models and plain values; they never see protobuf or gRPC. Group
isolation is a query filter here (`group_id=None` means no filter: admins).
"""

from __future__ import annotations

from typing import Any, Generic, Sequence, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...domain.paging import Page, PageRequest, encode_page_token
from ..errors import translated_errors
from ..models import Base

M = TypeVar("M", bound=Base)


class Repository(Generic[M]):
    model: type[M]

    def __init__(self, session: AsyncSession):
        self.session = session

    def _group_condition(self, group_id: int) -> ColumnElement[bool]:
        """How a row belongs to a group; models without `group_id` override this."""
        return self.model.group_id == group_id  # type: ignore[attr-defined]

    def _select(self) -> Select[tuple[M]]:
        return select(self.model)

    async def get(self, row_id: int, *, group_id: int | None = None, for_update: bool = False) -> M | None:
        query = self._select().where(self.model.id == row_id)  # type: ignore[attr-defined]
        if group_id is not None:
            query = query.where(self._group_condition(group_id))
        if for_update:
            # Row lock on PostgreSQL; SQLite already holds the database write lock (BEGIN IMMEDIATE).
            query = query.with_for_update()
        return (await self.session.execute(query)).unique().scalar_one_or_none()

    async def list(self, page: PageRequest, *conditions: Any, group_id: int | None = None) -> Page[M]:
        query = self._select().where(*conditions)
        id_column = self.model.id  # type: ignore[attr-defined]
        if group_id is not None:
            query = query.where(self._group_condition(group_id))
        if page.before_id is not None:
            query = query.where(id_column < page.before_id)
        if page.created_after is not None:
            query = query.where(self.model.create_time >= page.created_after)  # type: ignore[attr-defined]
        if page.created_before is not None:
            query = query.where(self.model.create_time < page.created_before)  # type: ignore[attr-defined]
        query = query.order_by(id_column.desc()).limit(page.size + 1)
        rows: Sequence[M] = (await self.session.execute(query)).unique().scalars().all()
        if len(rows) > page.size:
            rows = rows[: page.size]
            return Page(rows, encode_page_token(rows[-1].id))  # type: ignore[attr-defined]
        return Page(rows)

    async def add(self, row: M) -> M:
        """Insert and flush, so the row has its id."""
        self.session.add(row)
        async with translated_errors():
            await self.session.flush()
        return row

    async def delete(self, row: M) -> None:
        await self.session.delete(row)
        async with translated_errors():
            await self.session.flush()
