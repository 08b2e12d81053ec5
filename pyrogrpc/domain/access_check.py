"""Tokens must not outlive the account they were issued for.

A JWT stays valid until it expires (a device's lasts a year), but its account may since be
deleted or moved to another scope or group: a demoted admin must not keep admin rights for
the rest of the token's life. Every call's principal is checked against its account's
current row: the row is re-read at most every `recheck_seconds` per account, and at once in
the process that committed a change to it. So nearly every call pays a dict lookup, and a
revoked token stops working within seconds on every replica.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..db.unit_of_work import UnitOfWorkFactory
from .errors import Unauthenticated
from .principal import Principal

_MAX_REMEMBERED = 100_000  # accesses; beyond, start over (each costs one read to refill)


@dataclass(frozen=True)
class _Account:
    """An account as last read; scope None: it no longer exists."""

    scope: str | None
    group_id: int | None
    read_at: float


class AccessCheck:
    def __init__(self, uow: UnitOfWorkFactory, *, recheck_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self._uow = uow
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._accounts: dict[int, _Account] = {}
        self._changes = 0  # local commits that changed accesses, so far

    async def confirm(self, principal: Principal) -> None:
        """Raise Unauthenticated if the principal's account changed since its token was issued."""
        account = self._accounts.get(principal.access_id)
        if account is None or self._clock() - account.read_at >= self.recheck_seconds:
            account = await self._read(principal.access_id)
        if account.scope is None:
            raise Unauthenticated("the account of this access token no longer exists")
        if account.scope != principal.scope.value or account.group_id != principal.group_id:
            raise Unauthenticated("the account's scope or group changed since this token was issued: log in again")

    def tables_changed(self, tables: frozenset[str]) -> None:
        """After a commit of this process: a changed access is re-read at its next call."""
        if "accesses" in tables:
            self._changes += 1
            self._accounts.clear()

    async def _read(self, access_id: int) -> _Account:
        changes = self._changes
        async with self._uow() as uow:
            access = await uow.accesses.get(access_id)
        if access is None:
            account = _Account(None, None, self._clock())
        else:
            account = _Account(access.scope, access.group_id, self._clock())
        # A local change committed during the read may have made it stale: use it, keep it not.
        if changes == self._changes:
            if len(self._accounts) >= _MAX_REMEMBERED:
                self._accounts.clear()
            self._accounts[access_id] = account
        return account
