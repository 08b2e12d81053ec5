"""Database failures translated into domain errors, so no layer above sees SQLAlchemy."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

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
        text = str(error.orig).lower()
        sqlstate = getattr(error.orig, "sqlstate", None)
        if sqlstate == "23505" or "unique constraint" in text:
            return AlreadyExists("a resource with the same unique field already exists")
        if sqlstate == "23503" or "foreign key constraint" in text:
            return FailedPrecondition("the resource is referenced by other resources, or references a missing one")
        return FailedPrecondition("the change violates a database constraint")
    if isinstance(error, sa_exc.TimeoutError):
        return Unavailable("database is busy or unreachable, retry later")
    if isinstance(error, sa_exc.DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None) or ""
        if error.connection_invalidated or isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return Unavailable("database unavailable, retry later")
        if sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
            return Unavailable("database unavailable, retry later")
    return error
