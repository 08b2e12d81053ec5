"""Repositories' Core statements straight on psycopg (PostgreSQL), beside SQLAlchemy.

Heartbeat, CreateMyMedia and UploadMedia each run one Core statement in autocommit, and the
watch hub one query after each alert. Through an AsyncSession such a statement cost
~0.3-0.5 ms of CPU more than on the driver (the session, its greenlet bridge, the ORM
execute events, the pool checkout, result rows): a third of a Heartbeat (docs/performance.md,
issue 19). Here the same statement, compiled once by the engine's dialect (same SQL, same
casts, the column types' bind and result processors kept), runs on psycopg.

Units of ONE statement run it on a pool of autocommit connections of their own
(driver_pool.py): every statement commits on its own. Units in a transaction run theirs on
their session's connection, in its transaction (transaction_statements.py, through
`run_on`). Statements must be module-level constants, or built once per shape and kept
(compiled once and kept); their parameters are bound, never rendered.
"""

from __future__ import annotations

import contextlib
from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol, cast

import psycopg
from sqlalchemy import Insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from ..domain.errors import Unavailable
from .driver_pool import DriverPool
from .errors import translate_driver_error

# Statements are module constants: more than this many distinct ones means a statement built
# per call slipped in, which would grow the cache without bound.
_MAX_STATEMENTS = 256
_CONNECT_TIMEOUT_S = 3
_CHECKOUT_TIMEOUT_S = 5  # as the SQLAlchemy pools: a saturated or dead pool answers UNAVAILABLE

StatementSpan = Callable[[str], contextlib.AbstractContextManager[Any]]
_NO_SPAN = contextlib.nullcontext()
# What run_on fetches: the first row, every row, or none (the row count).
ONE, ALL, NONE = "one", "all", "none"


class Statements(Protocol):
    """How repositories run their Core statements (module constants) on psycopg directly:
    DriverStatements (autocommit, one statement per unit) or TransactionStatements (in a
    unit's transaction)."""

    async def first(self, statement: ClauseElement, params: Mapping[str, Any]) -> SimpleNamespace | None: ...

    async def all(self, statement: ClauseElement, params: Mapping[str, Any]) -> list[Any]: ...

    async def execute(self, statement: ClauseElement, params: Mapping[str, Any]) -> int: ...


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A statement compiled for psycopg, with what SQLAlchemy would do to its values."""

    sql: str
    construct_params: Callable[..., Any]
    bind_processors: tuple[tuple[str, Callable[[Any], Any]], ...]
    column_types: tuple[Any, ...]  # of the result's columns, in order
    inserted_table: str | None  # an INSERT's table, reported to on_commit as the sessions do


@dataclass(frozen=True, slots=True)
class _Result:
    """How a statement's rows read: known from its first execution (the columns' type codes)."""

    names: tuple[str, ...]
    row_type: Any
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]


class DriverStatements:
    """One-statement units' Core statements on an autocommit psycopg pool."""

    def __init__(
        self,
        database_url: str,
        dialect: Dialect,
        *,
        size: int = 10,
        on_commit: Callable[[frozenset[str]], None] | None = None,
    ):
        url = make_url(database_url).set(drivername="postgresql")
        self._pool = DriverPool(
            url.render_as_string(hide_password=False),
            size=size,
            checkout_timeout=_CHECKOUT_TIMEOUT_S,
            autocommit=True,
            connect_timeout=_CONNECT_TIMEOUT_S,
            # As the SQLAlchemy engines (db/session.py): timestamps come back in UTC.
            options="-c TimeZone=UTC",
        )
        self._dialect = dialect  # the engine's: statements compile to the SQL SQLAlchemy would send
        self._prepared: dict[ClauseElement, _Prepared] = {}
        self._results: dict[ClauseElement, _Result] = {}
        self._on_commit = on_commit
        self.statement_span: StatementSpan | None = None  # set when tracing is on

    async def close(self) -> None:
        await self._pool.drain()

    def in_use(self) -> int:
        return self._pool.in_use

    async def first(self, statement: ClauseElement, params: Mapping[str, Any]) -> SimpleNamespace | None:
        """The statement's first row as a record (attributes by column name, as
        repositories/base.py's `record`), or None."""
        return self.first_of(statement, await self._on_pool(statement, params, ONE))

    async def all(self, statement: ClauseElement, params: Mapping[str, Any]) -> list[Any]:
        """Every row, as named tuples (by index and by column name, as SQLAlchemy's rows)."""
        return self.all_of(statement, await self._on_pool(statement, params, ALL))

    async def execute(self, statement: ClauseElement, params: Mapping[str, Any]) -> int:
        """A statement without rows (an UPDATE without RETURNING); the count of rows it changed."""
        return cast(int, await self._on_pool(statement, params, NONE))

    def first_of(self, statement: ClauseElement, rows: list[tuple[Any, ...]]) -> SimpleNamespace | None:
        if not rows:
            return None
        return SimpleNamespace(**dict(zip(self._results[statement].names, rows[0], strict=True)))

    def all_of(self, statement: ClauseElement, rows: list[tuple[Any, ...]]) -> list[Any]:
        if not rows:
            return []
        row_type = self._results[statement].row_type
        return [row_type._make(row) for row in rows]

    async def _on_pool(self, statement: ClauseElement, params: Mapping[str, Any], fetch: str) -> Any:
        """Run on a connection of the autocommit pool: the statement commits on its own."""
        try:
            try:
                connection = await self._pool.acquire()
            except psycopg.Error as error:  # could not connect
                if (domain_error := _domain_error(error)) is None:
                    raise
                raise domain_error from error
            try:
                result = await self.run_on(connection, statement, params, fetch)
            finally:
                await self._pool.release(connection)
        except Unavailable:
            # The other idle connections are likely dead too (a restarted server): renew
            # them all now, so that one call fails, not one per pooled connection.
            await self._pool.drain()
            raise
        table = self._prepared[statement].inserted_table
        if table is not None and self._on_commit is not None:
            self._on_commit(frozenset((table,)))
        return result

    async def run_on(
        self, connection: psycopg.AsyncConnection[Any], statement: ClauseElement, params: Mapping[str, Any], fetch: str
    ) -> Any:
        """Run the statement on `connection` (in whatever transaction it is in): its rows
        (`fetch` one or all) or, with none, its row count. psycopg's errors come out as
        domain errors where there is one (db/errors.py)."""
        prepared = self._prepared.get(statement) or self._prepare(statement)
        values = dict(prepared.construct_params(params))
        for name, process in prepared.bind_processors:
            values[name] = process(values[name])
        try:
            with self.statement_span(prepared.sql) if self.statement_span else _NO_SPAN:
                cursor = await connection.execute(prepared.sql, values, prepare=True)
                if fetch == NONE:
                    return cursor.rowcount
                if fetch == ALL:
                    rows = await cursor.fetchall()
                else:
                    row = await cursor.fetchone()
                    rows = [] if row is None else [row]
        except psycopg.Error as error:
            if (domain_error := _domain_error(error)) is None:
                raise
            raise domain_error from error
        if not rows:
            return rows
        result = self._results.get(statement) or self._result_of(statement, prepared, cursor.description)
        if result.processors:
            rows = [_processed(row, result.processors) for row in rows]
        return rows

    def inserted_table(self, statement: ClauseElement) -> str | None:
        """The table an INSERT statement (already run) adds rows to, else None."""
        return self._prepared[statement].inserted_table

    def _result_of(self, statement: ClauseElement, prepared: _Prepared, description: Any) -> _Result:
        names = tuple(column.name for column in description)
        processors = []
        for index, (type_, column) in enumerate(zip(prepared.column_types, description, strict=True)):
            process = type_.dialect_impl(self._dialect).result_processor(self._dialect, column.type_code)
            if process is not None:
                processors.append((index, process))
        result = _Result(names, namedtuple("row", names, rename=True), tuple(processors))
        self._results[statement] = result
        return result

    def _prepare(self, statement: ClauseElement) -> _Prepared:
        if len(self._prepared) >= _MAX_STATEMENTS:
            raise RuntimeError("driver statements must be module-level constants, not built per call")
        dialect = self._dialect
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        if compiled.insert_prefetch or compiled.update_prefetch:
            # SQLAlchemy computes those columns' Python-side defaults while executing, not here.
            raise ValueError(f"a statement with Python-side column defaults cannot run on the driver: {compiled}")
        binds = []
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds.append((name, process))
        prepared = _Prepared(
            sql=compiled.string,
            construct_params=compiled.construct_params,
            bind_processors=tuple(binds),
            column_types=tuple(column.type for column in getattr(statement, "exported_columns", ())),
            inserted_table=statement.table.name if isinstance(statement, Insert) else None,
        )
        self._prepared[statement] = prepared
        return prepared


def _domain_error(error: psycopg.Error) -> Exception | None:
    """The domain error db/errors.py maps a psycopg error to, if any."""
    translated = translate_driver_error(error)
    return None if translated is error else translated


def _processed(row: tuple[Any, ...], processors: tuple[tuple[int, Callable[[Any], Any]], ...]) -> tuple[Any, ...]:
    values = list(row)
    for index, process in processors:
        values[index] = process(values[index])
    return tuple(values)
