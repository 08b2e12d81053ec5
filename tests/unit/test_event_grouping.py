"""Event grouping and the other rules of AlertService, against fakes (domain/alerts.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from pyrogrpc.domain.alerts import AlertService, NewAlert
from pyrogrpc.domain.clock import utcnow
from pyrogrpc.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from pyrogrpc.domain.paging import PageRequest
from pyrogrpc.domain.principal import Principal, Scope
from pyrogrpc.domain.read_models import Alert
from tests.unit.conftest import ADMIN
from tests.unit.fakes import FakeStore

RELAXATION = timedelta(minutes=30)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Alert, bool]] = []

    async def alert_created(self, alert: Alert, *, new_event: bool) -> None:
        self.calls.append((alert, new_event))


async def _camera(store: FakeStore, group_id: int = 1, **position: Any) -> Principal:
    access = await store.accesses.create(login=f"cam{group_id}", scope="device", group_id=group_id)
    fields = {"azimuth": 90.0, "lat": 44.0, "lon": 4.0, **position}
    await store.devices.create(access_id=access.id, group_id=group_id, **fields)
    return Principal(access_id=access.id, scope=Scope.DEVICE, group_id=group_id)


@pytest.fixture
def listener() -> Recorder:
    return Recorder()


@pytest.fixture
def alerts(uow, listener: Recorder) -> AlertService:
    return AlertService(uow, relaxation=RELAXATION, listeners=[listener])


async def test_first_alert_opens_an_event_and_the_next_joins_it(store, alerts, listener):
    camera = await _camera(store)
    first = await alerts.create_my_alert(camera, NewAlert())
    second = await alerts.create_my_alert(camera, NewAlert(azimuth=95.0))
    assert second.event_id == first.event_id
    assert len(store.events.rows) == 1
    assert [new_event for _, new_event in listener.calls] == [True, False]
    assert (second.azimuth, second.lat, second.lon) == (95.0, 44.0, 4.0)  # request first, then the device's


async def test_an_old_latest_alert_or_an_ended_event_opens_a_new_event(store, alerts):
    camera = await _camera(store)
    first = await alerts.create_my_alert(camera, NewAlert())
    store.alerts.rows[first.id] = first._replace(create_time=utcnow() - RELAXATION)  # as old as the window
    second = await alerts.create_my_alert(camera, NewAlert())
    assert second.event_id != first.event_id
    store.events.rows[second.event_id].end_time = utcnow()
    third = await alerts.create_my_alert(camera, NewAlert())
    assert len({first.event_id, second.event_id, third.event_id}) == 3


async def test_grouping_is_per_device(store, alerts):
    one, other = await _camera(store), await _camera(store)
    assert (await alerts.create_my_alert(one, NewAlert())).event_id != (
        await alerts.create_my_alert(other, NewAlert())
    ).event_id


async def test_an_event_of_another_group_is_not_found(store, alerts):
    camera = await _camera(store, group_id=1)
    foreign = await store.events.create(group_id=2, end_time=None)
    with pytest.raises(NotFound):
        await alerts.create_my_alert(camera, NewAlert(event_id=foreign.id))


async def test_no_position_anywhere_is_a_failed_precondition(store, alerts):
    camera = await _camera(store, lat=None)
    with pytest.raises(FailedPrecondition, match="lat"):
        await alerts.create_my_alert(camera, NewAlert())
    assert not store.alerts.rows


async def test_media_rules(store, alerts):
    camera = await _camera(store)
    device = next(iter(store.devices.rows.values()))
    pending = await store.media.create(device_id=device.id, group_id=1, bucket_key=None)
    with pytest.raises(FailedPrecondition, match="not uploaded"):
        await alerts.create_my_alert(camera, NewAlert(media_id=pending.id))
    someone_elses = await store.media.create(device_id=device.id + 100, group_id=1, bucket_key="k")
    with pytest.raises(InvalidArgument):
        await alerts.create_my_alert(camera, NewAlert(media_id=someone_elses.id))
    other_group = await store.media.create(device_id=device.id, group_id=2, bucket_key="k")
    with pytest.raises(NotFound):
        await alerts.create_my_alert(camera, NewAlert(media_id=other_group.id))


async def test_bad_input_is_refused_before_any_read(store, alerts):
    camera = await _camera(store)
    with pytest.raises(InvalidArgument) as refused:
        await alerts.create_my_alert(camera, NewAlert(azimuth=400.0, localization="{not json"))
    assert {v.field for v in refused.value.violations} == {"azimuth", "localization"}


async def test_a_user_sees_only_its_group(store, alerts):
    mine, theirs = await _camera(store, group_id=1), await _camera(store, group_id=2)
    kept = await alerts.create_my_alert(mine, NewAlert())
    hidden = await alerts.create_my_alert(theirs, NewAlert())
    user = Principal(access_id=99, scope=Scope.USER, group_id=1)
    page = await alerts.list_alerts(user, PageRequest())
    assert [a.id for a in page.items] == [kept.id]
    with pytest.raises(NotFound):
        await alerts.get_alert(user, hidden.id)
    assert {a.id for a in (await alerts.list_alerts(ADMIN, PageRequest())).items} == {kept.id, hidden.id}


async def test_a_failing_listener_does_not_fail_the_call(store, uow, listener):
    class Broken:
        async def alert_created(self, alert: Alert, *, new_event: bool) -> None:
            raise RuntimeError("boom")

    service = AlertService(uow, relaxation=RELAXATION, listeners=[Broken(), listener])
    alert = await service.create_my_alert(await _camera(store), NewAlert())
    assert listener.calls == [(alert, True)]
