"""AccessCheck under a burst (issue 13, item 14): the calls of one token share one read.

test_load's set-up (an admin creating 200 devices at once) failed with UNAVAILABLE "database
unavailable": every device creation commits an access, which drops the check's cache, so each
of the 200 concurrent calls read the admin's account on its own pooled connection, and on a
busy machine the last ones waited past the pool timeout.
"""

from __future__ import annotations

import asyncio

import pytest

from pyrogrpc.domain.access_check import AccessCheck
from pyrogrpc.domain.errors import Unauthenticated
from pyrogrpc.domain.principal import Principal, Scope


class _Accesses:
    def __init__(self) -> None:
        self.reads = 0
        self.release = asyncio.Event()
        self.scope = "admin"

    async def scopes_and_groups(self, access_ids):
        self.reads += 1
        scope = self.scope  # as read when the query ran
        await self.release.wait()
        return {access_id: (scope, 1) for access_id in access_ids}


class _Uow:
    def __init__(self, accesses: _Accesses) -> None:
        self.accesses = accesses

    async def __aenter__(self) -> _Uow:
        return self

    async def __aexit__(self, *exc) -> None:
        return None


ADMIN = Principal(access_id=1, scope=Scope.ADMIN, group_id=1)


async def _settled() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_concurrent_calls_of_one_account_share_one_read():
    accesses = _Accesses()
    check = AccessCheck(lambda: _Uow(accesses), recheck_seconds=60)
    calls = [asyncio.create_task(check.confirm(ADMIN)) for _ in range(200)]
    await _settled()
    accesses.release.set()
    await asyncio.gather(*calls)
    assert accesses.reads == 1


async def test_a_call_after_a_local_change_does_not_join_an_older_read():
    accesses = _Accesses()
    check = AccessCheck(lambda: _Uow(accesses), recheck_seconds=60)
    before = asyncio.create_task(check.confirm(ADMIN))
    await _settled()
    accesses.scope = "user"  # the admin is demoted and this process commits it
    check.tables_changed(frozenset({"accesses"}))
    after = asyncio.create_task(check.confirm(ADMIN))
    await _settled()
    accesses.release.set()
    await before  # read before the change: still admin
    assert accesses.reads == 2
    with pytest.raises(Unauthenticated, match="log in again"):  # the new read saw the demotion
        await after


async def test_a_cancelled_caller_does_not_cancel_the_shared_read():
    accesses = _Accesses()
    check = AccessCheck(lambda: _Uow(accesses), recheck_seconds=60)
    first, second = (asyncio.create_task(check.confirm(ADMIN)) for _ in range(2))
    await _settled()
    first.cancel()
    await _settled()
    accesses.release.set()
    await second
    assert accesses.reads == 1
