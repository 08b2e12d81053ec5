"""Tokens must not outlive the account they were issued for.

A JWT stays valid until it expires (a device's lasts a year), but its account may since be
deleted or moved to another scope or group: a demoted admin must not keep admin rights for
the rest of the token's life. Every call's principal is checked against its account's
current row: the row is re-read at most every `recheck_seconds` per account, and at once in
the process that committed a change to it. So nearly every call pays a dict lookup, and a
revoked token stops working within seconds on every replica. Open WatchAlerts streams are
checked the same way, all at once (`revoked()`), by the watch hub.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .errors import Unauthenticated
from .ports import UnitOfWorkFactory
from .principal import Principal

_MAX_REMEMBERED = 100_000  # accesses; beyond, start over (each costs one read to refill)
_READ_BATCH = 500  # accounts per query of revoked() (SQLite's bound parameters are limited)


@dataclass(frozen=True)
class _Account:
    """An account as last read; scope None: it no longer exists."""

    scope: str | None
    group_id: int | None
    read_at: float


class AccessCheck:
    def __init__(
        self, uow: UnitOfWorkFactory, *, recheck_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic
    ):
        self._uow = uow
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._accounts: dict[int, _Account] = {}
        self._changes = 0  # local commits that changed accesses, so far
        # access id -> the read of it in flight: a burst of calls with one token (an admin
        # creating 200 devices, each commit dropping the cache) shares one query instead of
        # taking one pooled connection each.
        self._reading: dict[int, asyncio.Future[dict[int, _Account]]] = {}
        # One event per watch hub, set by a local change: each hub re-checks its streams at once
        # (and clears its own event only: a shared one cleared by one hub could be missed by another).
        self._change_events: list[asyncio.Event] = []

    async def confirm(self, principal: Principal) -> None:
        """Raise Unauthenticated if the principal's account changed since its token was issued."""
        account = self._accounts.get(principal.access_id)
        if account is None or self._clock() - account.read_at >= self.recheck_seconds:
            account = await self._read_one(principal.access_id)
        refusal = _refusal(account, principal)
        if refusal is not None:
            raise Unauthenticated(refusal)

    async def revoked(self, principals: Iterable[Principal]) -> dict[Principal, str]:
        """Those of `principals` whose account changed, with why; every account is read anew,
        in one query per 500 accounts."""
        principals = set(principals)
        accounts = await self._read(sorted({principal.access_id for principal in principals}))
        refusals = ((principal, _refusal(accounts[principal.access_id], principal)) for principal in principals)
        return {principal: refusal for principal, refusal in refusals if refusal is not None}

    def change_event(self) -> asyncio.Event:
        """A new event, set after each local commit that changed an access (the caller clears it)."""
        event = asyncio.Event()
        self._change_events.append(event)
        return event

    def tables_changed(self, tables: frozenset[str]) -> None:
        """After a commit of this process: a changed access is re-read at its next call."""
        if "accesses" in tables:
            self._changes += 1
            self._accounts.clear()
            self._reading.clear()  # reads begun before the change: later calls start their own
            for changed in self._change_events:
                changed.set()

    async def _read_one(self, access_id: int) -> _Account:
        reading = self._reading.get(access_id)
        if reading is None:
            reading = asyncio.ensure_future(self._read([access_id]))
            self._reading[access_id] = reading
            reading.add_done_callback(lambda done: self._forget_reading(access_id, done))
        # Shielded: one caller cancelled (client gone) must not cancel the read the others await.
        return (await asyncio.shield(reading))[access_id]

    def _forget_reading(self, access_id: int, done: asyncio.Future) -> None:
        if self._reading.get(access_id) is done:
            del self._reading[access_id]

    async def _read(self, access_ids: list[int]) -> dict[int, _Account]:
        changes = self._changes
        found: dict[int, tuple[str, int]] = {}
        for start in range(0, len(access_ids), _READ_BATCH):
            async with self._uow() as uow:
                found.update(await uow.accesses.scopes_and_groups(access_ids[start : start + _READ_BATCH]))
        now = self._clock()
        missing: tuple[str | None, int | None] = (None, None)
        accounts = {access_id: _Account(*found.get(access_id, missing), now) for access_id in access_ids}
        # A local change committed during the read may have made it stale: use it, keep it not.
        if changes == self._changes:
            self._remember(accounts)
        return accounts

    def _remember(self, accounts: dict[int, _Account]) -> None:
        if len(self._accounts) + len(accounts) > _MAX_REMEMBERED:
            self._accounts.clear()
        self._accounts.update(accounts)


def _refusal(account: _Account, principal: Principal) -> str | None:
    """Why the principal's token is refused now, or None."""
    if account.scope is None:
        return "the account of this access token no longer exists"
    if account.scope != principal.scope.value or account.group_id != principal.group_id:
        return "the account's scope or group changed since this token was issued: log in again"
    return None
