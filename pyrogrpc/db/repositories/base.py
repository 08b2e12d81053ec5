"""Generic repository: get, keyset-paged list, add and delete for one model.

Repositories speak in models and plain values; they never see protobuf or gRPC. Group
isolation is a query filter here (`group_id=None` means no filter: admins).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from types import SimpleNamespace
from typing import Any, Generic, NamedTuple, TypeVar, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CursorResult,
    Insert,
    Integer,
    Row,
    Select,
    Table,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ...domain.paging import Page, PageRequest, encode_page_token
from ..driver_statements import Statements
from ..errors import translated_errors
from ..models import Base, table_of

M = TypeVar("M", bound=Base)


class _PageShape(NamedTuple):
    """Which filters a list page has (their values are bound parameters)."""

    by_group: bool
    created_after: bool
    created_before: bool


# (repository class, shape, keyset) -> (page query, count query), for pages without other conditions.
_PAGE_QUERIES: dict[tuple[type, _PageShape, bool], tuple[Any, Any]] = {}


def record(row: Row[*tuple[Any, ...]] | None) -> SimpleNamespace | None:
    """A Core row as a record (attributes by column name, like an ORM object): what the
    repositories return for single-row Core statements, so callers see one kind of object."""
    return None if row is None else SimpleNamespace(**row._mapping)


@cache
def _row_query(table: Table, by_group: bool) -> Select[Any]:
    """get_row's statement, built once per table and shape (its values are bound parameters)."""
    query = select(*table.c).where(table.c.id == bindparam("p_id"))
    return query.where(table.c.group_id == bindparam("p_group_id")) if by_group else query


def bound_values(table: Table, names: Iterable[str]) -> dict[str, BindParameter[Any]]:
    """An INSERT's or UPDATE's values for these columns, each bound as `p_<name>` with its
    column's type: the repositories pass their values under those names."""
    return {name: bindparam(f"p_{name}", type_=table.c[name].type) for name in names}


@cache
def _insert_returning_id(table: Table, names: frozenset[str]) -> Insert:
    """INSERT of these columns RETURNING id, built once per table and set of columns. Columns
    left out that have a Python-side scalar default (False, "") get it as a bound value: the
    statement then needs nothing computed while it executes, so it runs on the driver too."""
    values = bound_values(table, sorted(names))
    for column in table.c:
        default = column.default
        if column.name not in names and default is not None and default.is_scalar:
            values[column.name] = bindparam(f"p_{column.name}", value=default.arg, type_=column.type)  # type: ignore[attr-defined]
    return insert(table).values(values).returning(table.c.id)


@cache
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

    def __init__(self, session: AsyncSession, driver: Statements | None = None):
        self.session = session
        # PostgreSQL: the Core statements of _first_record, _all_rows and _execute run on
        # psycopg directly (driver_statements.py), in the unit's transaction or each committing
        # on its own in a unit of one statement.
        self._driver = driver

    async def _first_record(self, statement: Any, params: Mapping[str, Any]) -> SimpleNamespace | None:
        """The first row of a Core statement (a module constant) as a record, or None."""
        if self._driver is not None:
            return await self._driver.first(statement, params)
        return record((await self.session.execute(statement, params)).first())

    async def _all_rows(self, statement: Any, params: Mapping[str, Any]) -> Sequence[Any]:
        """Every row of a Core statement (a module constant), by index and by column name."""
        if self._driver is not None:
            return await self._driver.all(statement, params)
        return (await self.session.execute(statement, params)).all()

    async def _execute(self, statement: Any, params: Mapping[str, Any]) -> int:
        """Run a Core statement without rows (a module constant); the count of rows it changed."""
        if self._driver is not None:
            return await self._driver.execute(statement, params)
        async with translated_errors():
            result = await self.session.execute(statement, params)
        return cast(CursorResult[Any], result).rowcount

    async def _insert(self, values: Mapping[str, Any]) -> int:
        """Insert one row of these columns (Core, no ORM flush); its id."""
        statement = _insert_returning_id(table_of(self.model), frozenset(values))
        async with translated_errors():
            row = await self._first_record(statement, {f"p_{name}": value for name, value in values.items()})
        assert row is not None  # INSERT ... RETURNING returns its row
        return cast(int, row.id)

    def _column(self, name: str) -> Any:
        """The column a `where={name: value}` filter of list() compares; joins override it."""
        if name == "group_id" and not self.list_rows:
            return None  # _group_condition says how a row belongs to a group
        return getattr(table_of(self.model).c if self.list_rows else self.model, name)

    def _conditions(self, where: Mapping[str, Any] | None) -> list[Any]:
        conditions = []
        for name, value in (where or {}).items():
            column = self._column(name)
            conditions.append(self._group_condition(value) if column is None else column == value)
        return conditions

    def _group_condition(self, group_id: int) -> ColumnElement[bool]:
        """How a row belongs to a group; models without `group_id` override this."""
        return self.model.group_id == group_id  # type: ignore[attr-defined]

    def _select(self) -> Select[M]:
        return select(self.model)

    async def get(self, row_id: int, *, group_id: int | None = None, for_update: bool = False) -> M | None:
        query = self._select().where(self.model.id == row_id)  # type: ignore[attr-defined]
        if group_id is not None:
            query = query.where(self._group_condition(group_id))
        if for_update:
            # Row lock on PostgreSQL; SQLite already holds the database write lock (BEGIN IMMEDIATE).
            query = query.with_for_update()
        return (await self.session.execute(query)).unique().scalar_one_or_none()

    async def get_row(self, row_id: int, *, group_id: int | None = None) -> SimpleNamespace | None:
        """As get(), but a detached record of the table's columns (no ORM object), for hot
        paths. Only for models with a `group_id` column."""
        if group_id is None:
            return await self._first_record(_row_query(table_of(self.model), False), {"p_id": row_id})
        params = {"p_id": row_id, "p_group_id": group_id}
        return await self._first_record(_row_query(table_of(self.model), True), params)

    async def list(
        self, page: PageRequest, *, where: Mapping[str, Any] | None = None, group_id: int | None = None
    ) -> Page[Any]:
        """A page, newest first; `where`: field name -> required value."""
        return await self._list(page, *self._conditions(where), group_id=group_id)

    async def _list(self, page: PageRequest, *conditions: Any, group_id: int | None = None) -> Page[Any]:
        shape = _PageShape(group_id is not None, page.created_after is not None, page.created_before is not None)
        keyset = page.before_id is not None
        if conditions:
            query, count_query = self._page_queries(conditions, shape, keyset)
        else:  # built once per shape: building and hashing it anew cost ~13% of a ListAlerts call
            key = (type(self), shape, keyset)
            if (queries := _PAGE_QUERIES.get(key)) is None:
                queries = _PAGE_QUERIES[key] = self._page_queries((), shape, keyset)
            query, count_query = queries
        filters = {"p_group_id": group_id, "p_after": page.created_after, "p_before": page.created_before}
        result = await self.session.execute(query, {**filters, "p_before_id": page.before_id, "p_limit": page.size + 1})
        fetched = result.all() if self.list_rows else result.unique().all()
        if fetched:
            total_size = fetched[0][-1]
        elif not keyset:
            total_size = 0
        else:  # a page token past the last row: the count alone
            total_size = (await self.session.execute(count_query, filters)).scalar_one()
        if self.list_rows:
            make = self._row_type()._make
            rows: Sequence[Any] = [make(row[:-1]) for row in fetched]
        else:
            rows = [row[0] for row in fetched]
        if len(rows) > page.size:
            rows = rows[: page.size]
            return Page(rows, encode_page_token(rows[-1].id), total_size)
        return Page(rows, total_size=total_size)

    def _page_queries(self, conditions: Sequence[Any], shape: _PageShape, keyset: bool) -> tuple[Any, Any]:
        """(page query, count query) with bound parameters for the page's values: newest first,
        page.size + 1 rows (one more says there is a next page), each row ending with the
        AIP-158 total_size: the same filters without the keyset, counted in the same statement
        (an uncorrelated scalar subquery, evaluated once, on the indexes the page uses anyway;
        a second statement cost ~20% of a ListAlerts call's server CPU)."""
        # Rows: table columns throughout, so the statement stays plain Core (no ORM compile step).
        columns: Any = table_of(self.model).c if self.list_rows else self.model
        query = (select(*columns) if self.list_rows else self._select()).where(*conditions)
        if shape.by_group:
            group_id: Any = bindparam("p_group_id")  # _group_condition compares it to a column
            query = query.where(columns.group_id == group_id if self.list_rows else self._group_condition(group_id))
        if shape.created_after:
            query = query.where(columns.create_time >= bindparam("p_after"))
        if shape.created_before:
            query = query.where(columns.create_time < bindparam("p_before"))
        count_query = query.with_only_columns(func.count(), maintain_column_froms=True).correlate(None)
        if keyset:
            query = query.where(columns.id < bindparam("p_before_id"))
        query = query.add_columns(count_query.scalar_subquery()).order_by(columns.id.desc())
        return query.limit(bindparam("p_limit", type_=Integer)), count_query

    def _row_type(self) -> Any:
        """The read-only row type of list_rows lists (a named tuple of the table's columns)."""
        return _row_type(table_of(self.model))

    async def create(self, **fields: Any) -> M:
        """A new row with these fields, inserted and flushed (so it has its id)."""
        return await self.add(self.model(**fields))

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
