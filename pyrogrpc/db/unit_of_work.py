"""Unit of work: one transaction, the repositories that share it, and database errors
turned into domain errors (so no layer above ever sees an SQLAlchemy exception).

    async with uow_factory() as uow:
        group = await uow.groups.add(Group(name="firefighters"))
        await uow.commit()

Leaving the block without `commit()` rolls back.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .errors import translate_database_error, translated_errors
from .repositories.access import AccessRepository, GroupRepository, IdempotencyRepository, UserRepository
from .repositories.camera import OcclusionMaskRepository, PoseRepository
from .repositories.detection import AlertRepository, EventRepository, MediaRepository, NotificationRepository
from .repositories.setup import (
    DeviceRepository,
    InstallationRepository,
    RecipientRepository,
    SiteRepository,
    WebhookRepository,
)


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
        self.poses = PoseRepository(s)
        self.occlusion_masks = OcclusionMaskRepository(s)
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        # close() rolls back whatever was not committed and detaches the rows without
        # expiring them, so use cases can return them after the block. Shielded: a call
        # cancelled meanwhile (client gone, deadline, server stop) must not cut the rollback
        # short, or the connection keeps its transaction (on SQLite the write lock, blocking
        # every writer until the busy timeout).
        await asyncio.shield(_close(self.session))
        if isinstance(exc, sa_exc.SQLAlchemyError):
            translated = translate_database_error(exc)
            if translated is not exc:
                raise translated from exc

    async def commit(self) -> None:
        async with translated_errors():
            await self.session.commit()

    async def flush(self) -> None:
        async with translated_errors():
            await self.session.flush()


async def _close(session: AsyncSession) -> None:
    try:
        await session.close()
    except sa_exc.SQLAlchemyError:
        pass  # the original error (if any) says more; a dead connection is discarded by the pool


UnitOfWorkFactory = Callable[[], UnitOfWork]
