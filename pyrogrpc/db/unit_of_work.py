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
from typing import Any, cast

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..domain import ports
from .commit_horizon import TableHorizon
from .driver_statements import DriverStatements, Statements
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
from .transaction_statements import TransactionStatements


class UnitOfWork:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        driver: DriverStatements | None = None,
        *,
        in_transaction: bool = False,
    ):
        self._session_factory = session_factory
        # PostgreSQL only. Units of ONE statement (autocommit): the repositories' Core
        # statements run on the driver's own pool, each committing on its own. Units in a
        # transaction (`in_transaction`): on the session's connection (transaction_statements.py).
        self._driver = driver
        self._in_transaction = in_transaction

    async def __aenter__(self) -> UnitOfWork:
        d: Statements | None = self._driver
        if self._driver is None or self._in_transaction:
            self._lazy = None
            self.session = self._session_factory()
            if self._driver is not None:
                d = TransactionStatements(self.session, self._driver)
        else:
            # A unit of one statement may run it on the driver: its session is made only if a
            # repository uses it (a Heartbeat then never makes one).
            self._lazy = _SessionOnFirstUse(self._session_factory)
            self.session = cast(AsyncSession, self._lazy)
        s = self.session
        self.groups = GroupRepository(s, d)
        self.accesses = AccessRepository(s, d)
        self.users = UserRepository(s, d)
        self.idempotency = IdempotencyRepository(s, d)
        self.devices = DeviceRepository(s, d)
        self.sites = SiteRepository(s, d)
        self.installations = InstallationRepository(s, d)
        self.webhooks = WebhookRepository(s, d)
        self.recipients = RecipientRepository(s, d)
        self.events = EventRepository(s, d)
        self.media = MediaRepository(s, d)
        self.alerts = AlertRepository(s, d)
        self.notifications = NotificationRepository(s, d)
        self.incidents = IncidentRepository(s, d)
        self.incident_changes = IncidentChangeRepository(s)
        self.poses = PoseRepository(s, d)
        self.occlusion_masks = OcclusionMaskRepository(s, d)
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
        session = self._made_session()
        if session is not None:
            await asyncio.shield(_close(session))
        if isinstance(exc, sa_exc.SQLAlchemyError):
            translated = translate_database_error(exc)
            if translated is not exc:
                raise translated from exc

    async def commit(self) -> None:
        if self._made_session() is None:
            return  # every statement ran on the driver, each committed on its own
        async with translated_errors():
            await self.session.commit()

    def _made_session(self) -> AsyncSession | None:
        return self.session if self._lazy is None else self._lazy.made

    async def flush(self) -> None:
        async with translated_errors():
            await self.session.flush()


class _SessionOnFirstUse:
    """Stands for a unit's AsyncSession, made on the first attribute read."""

    __slots__ = ("_factory", "made")

    def __init__(self, factory: async_sessionmaker[AsyncSession]):
        self._factory = factory
        self.made: AsyncSession | None = None

    def __getattr__(self, name: str) -> Any:
        if self.made is None:
            self.made = self._factory()
        return getattr(self.made, name)


async def _close(session: AsyncSession) -> None:
    try:
        await session.close()
    except sa_exc.SQLAlchemyError:
        pass  # the original error (if any) says more; a dead connection is discarded by the pool


def unit_of_work_factory(
    session_factory: async_sessionmaker[AsyncSession],
    driver: DriverStatements | None = None,
    *,
    in_transaction: bool = False,
) -> ports.UnitOfWorkFactory:
    """What the use cases are given: a new unit of work per call (domain/ports.py's factory).
    `driver` (PostgreSQL): the repositories' Core statements run on psycopg directly; without
    `in_transaction`, only for units of one statement, whose statements each commit on their own."""

    def new_unit_of_work() -> ports.UnitOfWork:
        return UnitOfWork(session_factory, driver, in_transaction=in_transaction)

    return new_unit_of_work


UnitOfWorkFactory = Callable[[], UnitOfWork]
