"""Idempotent creates (domain/idempotency.py) and paging (domain/paging.py), against fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pyrogrpc.domain.alerts import AlertService, NewAlert
from pyrogrpc.domain.errors import AlreadyExists, InvalidArgument, NotFound, RequestIdReused
from pyrogrpc.domain.idempotency import create_once, request_digest
from pyrogrpc.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest, encode_page_token
from pyrogrpc.domain.principal import Principal, Scope
from tests.unit.conftest import ADMIN
from tests.unit.fakes import FakeRepository, FakeStore, FakeUnitOfWork

REQUEST = {"name": "g"}  # the request's fields but request_id


async def _load(uow, row_id):
    return await uow.groups.get(row_id)


async def test_a_request_id_creates_once_and_replays_the_first_result(store, uow):
    async def create(u):
        return await u.groups.create(name="g")

    first, created = await create_once(uow, ADMIN, "CreateGroup", "req-1", REQUEST, create, _load)
    again, created_again = await create_once(uow, ADMIN, "CreateGroup", "req-1", REQUEST, create, _load)
    assert (created, created_again) == (True, False)
    assert again is first and len(store.groups.rows) == 1
    other, _ = await create_once(uow, ADMIN, "CreateGroup", "req-2", REQUEST, create, _load)
    assert other.id != first.id


async def test_a_request_id_reused_for_another_request_is_refused(store, uow):
    async def create(u):
        return await u.groups.create(name="g")

    await create_once(uow, ADMIN, "CreateGroup", "req", REQUEST, create, _load)
    with pytest.raises(RequestIdReused):
        await create_once(uow, ADMIN, "CreateGroup", "req", {"name": "other"}, create, _load)
    assert len(store.groups.rows) == 1


async def test_keys_are_per_caller_and_per_operation(store, uow):
    async def create(u):
        return await u.groups.create(name="g")

    someone = Principal(access_id=2, scope=Scope.ADMIN, group_id=1)
    await create_once(uow, ADMIN, "CreateGroup", "same", REQUEST, create, _load)
    await create_once(uow, someone, "CreateGroup", "same", REQUEST, create, _load)
    await create_once(uow, ADMIN, "CreateSite", "same", REQUEST, create, _load)
    assert len(store.groups.rows) == 3


async def test_without_a_request_id_every_call_creates(store, uow):
    async def create(u):
        return await u.groups.create(name="g")

    for _ in range(2):
        await create_once(uow, ADMIN, "CreateGroup", "", REQUEST, create, _load)
    assert len(store.groups.rows) == 2 and not store.idempotency.keys


async def test_a_concurrent_retry_that_committed_first_is_answered_with_its_row(store, uow):
    winner = await store.groups.create(name="winner")

    async def create(u):
        # The other call commits between our replay check and our insert: our insert collides.
        await store.idempotency.remember(ADMIN.access_id, "CreateGroup", "race", winner.id, request_digest(REQUEST))
        raise AlreadyExists("duplicate")

    row, created = await create_once(uow, ADMIN, "CreateGroup", "race", REQUEST, create, _load)
    assert (row, created) == (winner, False)


async def test_a_replayed_result_deleted_since_is_not_found(store, uow):
    async def create(u):
        return await u.groups.create(name="g")

    row, _ = await create_once(uow, ADMIN, "CreateGroup", "gone", REQUEST, create, _load)
    del store.groups.rows[row.id]
    with pytest.raises(NotFound):
        await create_once(uow, ADMIN, "CreateGroup", "gone", REQUEST, create, _load)


async def test_an_alert_replay_tells_no_listener_again(store: FakeStore, uow):
    told = []

    class Listener:
        async def alert_created(self, alert, *, new_event):
            told.append(alert.id)

    access = await store.accesses.create(login="cam", group_id=1)
    await store.devices.create(access_id=access.id, group_id=1, azimuth=1.0, lat=1.0, lon=1.0)
    camera = Principal(access_id=access.id, scope=Scope.DEVICE, group_id=1)
    service = AlertService(uow, relaxation=timedelta(minutes=1), listeners=[Listener()])
    first = await service.create_my_alert(camera, NewAlert(request_id="r"))
    again = await service.create_my_alert(camera, NewAlert(request_id="r"))
    assert again == first and told == [first.id] and len(store.alerts.rows) == 1


# --- paging ----------------------------------------------------------------------------


def test_page_size_defaults_caps_and_refuses_negative():
    assert PageRequest.parse(0, "").size == DEFAULT_PAGE_SIZE
    assert PageRequest.parse(10**6, "").size == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument) as refused:
        PageRequest.parse(-1, "")
    assert refused.value.violations[0].field == "page_size"


@pytest.mark.parametrize("token", ["garbage", "djE6MA", "djE6LTU", encode_page_token(7) + "!"])
def test_tokens_not_issued_by_us_are_invalid(token):
    with pytest.raises(InvalidArgument) as refused:
        PageRequest.parse(5, token)
    assert refused.value.violations[0].field == "page_token"


def test_date_window_must_be_ordered():
    now = datetime.now(UTC)
    with pytest.raises(InvalidArgument):
        PageRequest.parse(5, "", now, now)
    assert PageRequest.parse(5, "", now - timedelta(1), now).created_after == now - timedelta(1)


async def test_keyset_pages_walk_every_row_once_newest_first():
    repository = FakeRepository()
    for _ in range(7):
        await repository.create(group_id=1)
    seen, token = [], ""
    while True:
        page = await repository.list(PageRequest.parse(3, token))
        seen += [row.id for row in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]


def test_fake_unit_of_work_shares_the_store(store):
    assert FakeUnitOfWork(store).alerts is FakeUnitOfWork(store).alerts
