"""Generic repository: get, keyset-paged list, add and delete for one model.

Repositories speak in models and plain values; they never see protobuf or gRPC. Group
isolation is a query filter here (`group_id=None` means no filter: admins).
"""

from __future__ import annotations

from collections import namedtuple
from functools import lru_cache
from typing import Any, Generic, Sequence, TypeVar

from sqlalchemy import ColumnElement, Row, Select, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ...domain.paging import Page, PageRequest, encode_page_token
from ..errors import translated_errors
from ..models import Base

M = TypeVar("M", bound=Base)


@lru_cache(maxsize=None)
def _row_type(table: Table) -> type:
    """A named tuple of the table's columns: a list page's rows, read by attribute name as
    models are, at a tuple's cost (a SQLAlchemy Row's attributes are ~7x slower to read)."""
    return namedtuple(f"{table.name}_row", table.c.keys())


class Repository(Generic[M]):
    model: type[M]
    # True: list() returns read-only named tuples of the table's columns instead of ORM
    # objects (a page of 100 ORM objects costs ~20% of a list RPC). Only for models with a `group_id`
    # column, whose callers pass Core conditions on `Model.__table__.c`.
    list_rows: bool = False

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

    async def get_row(self, row_id: int, *, group_id: int | None = None) -> Row | None:
        """As get(), but a read-only Row of the table's columns (attributes by name, as a model):
        no ORM object, for hot paths. Only for models with a `group_id` column."""
        table = self.model.__table__  # type: ignore[attr-defined]
        query = select(*table.c).where(table.c.id == row_id)
        if group_id is not None:
            query = query.where(table.c.group_id == group_id)
        return (await self.session.execute(query)).first()

    async def list(self, page: PageRequest, *conditions: Any, group_id: int | None = None) -> Page[M]:
        # Rows: table columns throughout, so the statement stays plain Core (no ORM compile step).
        columns = self.model.__table__.c if self.list_rows else self.model  # type: ignore[attr-defined]
        query = (select(*columns) if self.list_rows else self._select()).where(*conditions)
        id_column = columns.id
        if group_id is not None:
            query = query.where(columns.group_id == group_id if self.list_rows else self._group_condition(group_id))
        if page.created_after is not None:
            query = query.where(columns.create_time >= page.created_after)
        if page.created_before is not None:
            query = query.where(columns.create_time < page.created_before)
        # AIP-158 total_size: the same filters without the page's keyset.
        count_query = query.with_only_columns(func.count(), maintain_column_froms=True)
        if page.before_id is not None:
            query = query.where(id_column < page.before_id)
        query = query.order_by(id_column.desc()).limit(page.size + 1)
        result = await self.session.execute(query)
        if self.list_rows:
            rows: Sequence[M] = list(map(_row_type(self.model.__table__)._make, result.all()))  # type: ignore[attr-defined]
        else:
            rows = result.unique().scalars().all()
        if page.before_id is None and len(rows) <= page.size:
            return Page(rows, total_size=len(rows))  # the whole result in one page: no COUNT needed
        # One COUNT on the indexes the page uses anyway (group_id, create_time).
        total_size = (await self.session.execute(count_query)).scalar_one()
        if len(rows) > page.size:
            rows = rows[: page.size]
            return Page(rows, encode_page_token(rows[-1].id), total_size)  # type: ignore[attr-defined]
        return Page(rows, total_size=total_size)

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
