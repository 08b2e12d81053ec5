"""Database failures translated into domain errors, so no layer above sees SQLAlchemy."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import psycopg
from sqlalchemy import exc as sa_exc

from ..domain.errors import AlreadyExists, FailedPrecondition, Unavailable

# SQLSTATE classes: 08 connection exception, 57P0x admin shutdown, 53 insufficient resources.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P", "53")


@contextlib.asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    try:
        yield
    except sa_exc.SQLAlchemyError as error:
        translated = translate_database_error(error)
        if translated is error:
            raise
        raise translated from error


def translate_database_error(error: sa_exc.SQLAlchemyError) -> Exception:
    """Map a database failure onto what the client should be told."""
    if isinstance(error, sa_exc.IntegrityError):
        return _constraint_violated(error.orig)
    if isinstance(error, sa_exc.TimeoutError):
        return Unavailable("database is busy or unreachable, retry later")
    if isinstance(error, sa_exc.DBAPIError):
        disconnected = error.connection_invalidated or isinstance(
            error, (sa_exc.OperationalError, sa_exc.InterfaceError)
        )
        if disconnected or _sqlstate(error.orig).startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
            return Unavailable("database unavailable, retry later")
    return error


def translate_driver_error(error: psycopg.Error) -> Exception:
    """The same mapping for psycopg's own exceptions (statements run on the driver, see
    driver_statements.py)."""
    if isinstance(error, psycopg.IntegrityError):
        return _constraint_violated(error)
    disconnected = isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))
    if disconnected or _sqlstate(error).startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
        return Unavailable("database unavailable, retry later")
    return error


def _sqlstate(driver_error: BaseException | None) -> str:
    return getattr(driver_error, "sqlstate", None) or ""


def _constraint_violated(driver_error: BaseException | None) -> Exception:
    text = str(driver_error).lower()
    sqlstate = _sqlstate(driver_error)
    if sqlstate == "23505" or "unique constraint" in text:
        return AlreadyExists("a resource with the same unique field already exists")
    if sqlstate == "23503" or "foreign key constraint" in text:
        return FailedPrecondition("the resource is referenced by other resources, or references a missing one")
    return FailedPrecondition("the change violates a database constraint")
