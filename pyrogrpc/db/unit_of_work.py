"""Unit of work: one transaction, the repositories that share it, and database errors
turned into domain errors (so no layer above ever sees an SQLAlchemy exception).

    async with uow_factory() as uow:
        group = await uow.groups.add(Group(name="firefighters"))
        await uow.commit()

Leaving the block without `commit()` rolls back.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..domain.errors import AlreadyExists, FailedPrecondition, Unavailable
from .repositories.access import AccessRepository, GroupRepository, IdempotencyRepository, UserRepository
from .repositories.detection import AlertRepository, EventRepository, MediaRepository, NotificationRepository
from .repositories.setup import (
    DeviceRepository,
    InstallationRepository,
    RecipientRepository,
    SiteRepository,
    WebhookRepository,
)

# SQLSTATE classes: 08 connection exception, 57P0x admin shutdown, 53 insufficient resources.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P", "53")


class UnitOfWork:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]):
        self._session_factory = session_factory

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        s = self.session
        self.groups = GroupRepository(s)
        self.accesses = AccessRepository(s)
        self.users = UserRepository(s)
        self.idempotency = IdempotencyRepository(s)
        self.devices = DeviceRepository(s)
        self.sites = SiteRepository(s)
        self.installations = InstallationRepository(s)
        self.webhooks = WebhookRepository(s)
        self.recipients = RecipientRepository(s)
        self.events = EventRepository(s)
        self.media = MediaRepository(s)
        self.alerts = AlertRepository(s)
        self.notifications = NotificationRepository(s)
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            await self.session.rollback()
        except sa_exc.SQLAlchemyError:
            pass  # the original error (if any) says more; a dead connection is discarded by the pool
        finally:
            try:
                await self.session.close()
            except sa_exc.SQLAlchemyError:
                pass
        if isinstance(exc, sa_exc.SQLAlchemyError):
            translated = translate_database_error(exc)
            if translated is not exc:
                raise translated from exc

    async def commit(self) -> None:
        await self.session.commit()

    async def flush(self) -> None:
        await self.session.flush()


UnitOfWorkFactory = Callable[[], UnitOfWork]


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
