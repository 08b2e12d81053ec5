"""The embedded mode's aiosqlite connections (pyrogrpc/db/sqlite_one_hop.py): one trip to the
connection's thread per statement, with what SQLAlchemy reads afterwards intact."""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from pyrogrpc.db.session import create_engine
from pyrogrpc.db.sqlite_one_hop import OneHopConnection


@pytest.fixture
async def engine(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one-hop.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch) -> list[str]:
    """The name of every function run on a connection's thread."""
    seen: list[str] = []
    original = OneHopConnection._execute

    async def counted(self, fn, *args, **kwargs):
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(OneHopConnection, "_execute", counted)
    return seen


async def test_a_statement_is_one_trip_and_keeps_rows_rowcount_and_lastrowid(engine, trips):
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # the pool's connection is made and set up
        trips.clear()
        inserted = await connection.execute(text("INSERT INTO t (name) VALUES ('a'), ('b'), ('c')"))
        assert trips == ["_run"]  # plain aiosqlite: cursor, execute, close (and fetchall for rows)
        assert inserted.rowcount == 3 and inserted.lastrowid == 3
        trips.clear()
        rows = (await connection.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
        assert trips == ["_run"] and [tuple(row) for row in rows] == [(1, "a"), (2, "b"), (3, "c")]
        updated = await connection.execute(text("UPDATE t SET name = name || '!' WHERE id > :id"), {"id": 1})
        assert updated.rowcount == 2
        many = await connection.execute(text("INSERT INTO t (name) VALUES (:name)"), [{"name": "d"}, {"name": "e"}])
        assert many.rowcount == 2
        returned = await connection.execute(text("DELETE FROM t WHERE id >= 4 RETURNING name"))
        assert sorted(returned.scalars()) == ["d", "e"]
        await connection.commit()


async def test_errors_reach_sqlalchemy_as_the_driver_raised_them(engine):
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
        with pytest.raises(exc.IntegrityError, match="UNIQUE"):
            await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
        await connection.rollback()
        with pytest.raises(exc.OperationalError, match="no such table"):
            await connection.execute(text("SELECT * FROM missing"))


async def test_streamed_results_are_fetched_in_parts(engine):
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO t (name) VALUES ('a'), ('b'), ('c')"))
        result = await connection.execute(text("SELECT name FROM t ORDER BY id"))
        assert result.fetchone() == ("a",) and result.fetchmany(5) == [("b",), ("c",)] and result.fetchone() is None
