"""Unit of work (implements domain/ports.py's UnitOfWork): one transaction, the repositories that share it, and database errors
turned into domain errors (so no layer above ever sees an SQLAlchemy exception).

    async with uow_factory() as uow:
        group = await uow.groups.create(name="firefighters")
        await uow.commit()

Leaving the block without `commit()` rolls back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..domain import ports
from .commit_horizon import TableHorizon
from .errors import translate_database_error, translated_errors
from .repositories.access import AccessRepository, GroupRepository, IdempotencyRepository, UserRepository
from .repositories.camera import OcclusionMaskRepository, PoseRepository
from .repositories.detection import AlertRepository, EventRepository, MediaRepository, NotificationRepository
from .repositories.incident_changes import IncidentChangeRepository
from .repositories.incidents import IncidentRepository
from .repositories.retention import RetentionRepository
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
        self.incidents = IncidentRepository(s)
        self.incident_changes = IncidentChangeRepository(s)
        self.poses = PoseRepository(s)
        self.occlusion_masks = OcclusionMaskRepository(s)
        self.retention = RetentionRepository(s)
        return self

    @property
    def alert_horizon(self) -> TableHorizon:
        """The alerts table's commit horizon, read in this unit's transaction (the watch hub)."""
        return TableHorizon(self.session, "alerts")

    @property
    def incident_change_horizon(self) -> TableHorizon:
        """The incident_changes table's commit horizon (the WatchIncidents hub)."""
        return TableHorizon(self.session, "incident_changes")

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
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


def unit_of_work_factory(session_factory: async_sessionmaker[AsyncSession]) -> ports.UnitOfWorkFactory:
    """What the use cases are given: a new unit of work per call (domain/ports.py's factory)."""

    def new_unit_of_work() -> ports.UnitOfWork:
        return UnitOfWork(session_factory)

    return new_unit_of_work


UnitOfWorkFactory = Callable[[], UnitOfWork]
