"""Incident fusion against fakes (domain/incidents.py): which events make one incident, where
it is, merges, detachments, the sweep and the listeners; milliseconds, no server.

Towers south and north of a known fire; each event's box cone points from its tower at a
target (azimuth from pyproj's geodesic, independent of the module's projection), 2.4 degrees
wide (60 deg lens x a 0.04 box), as in tests/test_incidents.py. Fusion jobs are queued by
`event_seen` as after an alert's commit and run when the test awaits `FakeJobs.run()`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyproj import Geod

from pyrogrpc.domain.incidents import IncidentRules, IncidentService, IncidentView
from tests.unit.conftest import ADMIN
from tests.unit.fakes import FakeJobs, FakeStore

GEOD = Geod(ellps="WGS84")
FIRE = (44.0, 4.0)
WEST = (43.95, 3.94)  # ~7 km south-west of FIRE; the four towers are ~9.6 km apart
EAST = (43.95, 4.06)
NORTH_WEST = (44.05, 3.94)
NORTH_EAST = (44.05, 4.06)
RULES = IncidentRules()  # 30 min window, 30 km range, 2 km merge distance
T0 = datetime(2026, 7, 14, 13, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Listener:
    def __init__(self) -> None:
        self.opened: list[IncidentView] = []
        self.positioned: list[IncidentView] = []

    async def incident_opened(self, incident: IncidentView) -> None:
        self.opened.append(incident)

    async def incident_positioned(self, incident: IncidentView) -> None:
        self.positioned.append(incident)


def bearing(tower: tuple[float, float], target: tuple[float, float]) -> float:
    azimuth, _, _ = GEOD.inv(tower[1], tower[0], target[1], target[0])
    return azimuth % 360


def distance(lat: float | None, lon: float | None, target: tuple[float, float]) -> float:
    assert lat is not None and lon is not None
    return float(GEOD.inv(lon, lat, target[1], target[0])[2])


class Scene:
    """One group's towers and their events, and the service fusing them."""

    def __init__(
        self,
        store: FakeStore,
        service: IncidentService,
        jobs: FakeJobs,
        clock: Clock,
        group_id: int,
        fusions: list[tuple[str, float]],  # what on_fusion was told: (outcome, seconds)
    ):
        self.store, self.service, self.jobs, self.clock, self.group_id = store, service, jobs, clock, group_id
        self.fusions = fusions

    async def tower(self, where: tuple[float, float]) -> int:
        device = await self.store.devices.create(group_id=self.group_id, lat=where[0], lon=where[1], angle_of_view=60.0)
        return int(device.id)

    async def event(self, device_id: int, target: tuple[float, float] | None, *, at: datetime | None = None) -> int:
        """A new event of the device, seen at `at` (default: now), whose box cone points at
        `target` (None: no box cone); not fused."""
        device = self.store.devices.rows[device_id]
        seen = at or self.clock.now
        event = await self.store.events.create(
            group_id=self.group_id,
            device_id=device_id,
            lat=device.lat,
            lon=device.lon,
            azimuth=None if target is None else bearing((device.lat, device.lon), target),
            cone_angle=None if target is None else 2.4,
            start_time=seen,
            last_seen_time=seen,
            incident_id=None,
        )
        return int(event.id)

    async def sighting(self, device_id: int, target: tuple[float, float] | None) -> int:
        """A new event, fused as after its first alert's commit."""
        event_id = await self.event(device_id, target)
        await self.seen(event_id, fuse=True)
        return event_id

    async def seen(self, event_id: int, *, fuse: bool) -> None:
        """Another alert of the event now (the alert service moves its last_seen_time)."""
        self.store.events.rows[event_id].last_seen_time = self.clock.now
        self.service.event_seen(self.group_id, event_id, self.clock.now, fuse=fuse)
        await self.jobs.run()

    def incident_of(self, event_id: int) -> Any:
        return self.store.incidents.rows[self.store.events.rows[event_id].incident_id]

    def kinds(self, incident_id: int) -> list[str]:
        return [c.kind for c in self.store.incidents.changes if c.incident_id == incident_id]


@pytest.fixture
def listener() -> Listener:
    return Listener()


@pytest.fixture
async def scene(store: FakeStore, uow, listener: Listener) -> Scene:
    clock, jobs = Clock(), FakeJobs()
    group = await store.groups.create(name="cevennes")
    fusions: list[tuple[str, float]] = []
    service = IncidentService(
        uow,
        jobs,
        rules=RULES,
        listeners=[listener],
        clock=clock,
        on_fusion=lambda outcome, seconds: fusions.append((outcome, seconds)),
    )
    return Scene(store, service, jobs, clock, group.id, fusions)


async def test_two_towers_make_one_incident_located_within_300_m(scene: Scene):
    west = await scene.sighting(await scene.tower(WEST), FIRE)
    east = await scene.sighting(await scene.tower(EAST), FIRE)

    incident = scene.incident_of(west)
    assert scene.incident_of(east) is incident
    assert len(scene.store.incidents.rows) == 1
    assert incident.status == "open"
    assert distance(incident.lat, incident.lon, FIRE) < 300
    assert incident.uncertainty_m is not None and incident.uncertainty_m < 1_000
    assert incident.positioned_time == T0
    assert scene.kinds(incident.id) == ["opened", "event_added", "positioned"]
    assert [c.id for c in scene.store.incidents.changes] == [1, 2, 3]  # the stream's order
    assert scene.jobs.done == [f"fuse event {west}", f"fuse event {east}"]


async def test_one_tower_is_an_incident_with_no_position(scene: Scene):
    west = await scene.sighting(await scene.tower(WEST), FIRE)

    incident = scene.incident_of(west)
    assert (incident.lat, incident.lon, incident.uncertainty_m, incident.positioned_time) == (None,) * 4
    assert scene.kinds(incident.id) == ["opened"]
    view = await scene.service.get_incident(ADMIN, incident.id)
    assert view.event_ids == (west,) and len(view.cones) == 1  # its cone, for the map


async def test_an_event_without_box_cone_uses_its_latest_alert_and_the_lens(scene: Scene):
    west_tower = await scene.tower(WEST)
    west = await scene.event(west_tower, None)
    for azimuth in (200.0, bearing(WEST, FIRE)):  # the latest alert counts
        await scene.store.alerts.insert(
            device_id=west_tower,
            group_id=scene.group_id,
            event_id=west,
            media_id=None,
            azimuth=azimuth,
            lat=WEST[0],
            lon=WEST[1],
            localization="",
            create_time=T0,
        )
    await scene.seen(west, fuse=True)
    east = await scene.sighting(await scene.tower(EAST), FIRE)

    incident = scene.incident_of(east)
    assert scene.incident_of(west) is incident
    view = await scene.service.get_incident(ADMIN, incident.id)
    west_cone = next(c for c in view.cones if c.event_id == west)
    assert (west_cone.azimuth, west_cone.angle) == (pytest.approx(bearing(WEST, FIRE)), 60.0)
    assert incident.lat is not None


async def test_an_event_with_no_cone_at_all_is_never_fused(scene: Scene):
    await scene.sighting(await scene.tower(WEST), FIRE)
    lone = await scene.sighting(await scene.tower(EAST), None)  # no box, no alert
    assert len(scene.store.incidents.rows) == 2
    assert scene.incident_of(lone).lat is None


async def test_an_incident_holds_at_most_one_event_per_device(scene: Scene):
    west_tower = await scene.tower(WEST)
    first = await scene.sighting(west_tower, FIRE)
    east = await scene.sighting(await scene.tower(EAST), FIRE)
    second = await scene.sighting(west_tower, FIRE)  # a second smoke the same camera reported apart

    assert scene.incident_of(east) is scene.incident_of(first)
    other = scene.incident_of(second)
    assert other is not scene.incident_of(first)
    for incident in scene.store.incidents.rows.values():
        view = await scene.service.get_incident(ADMIN, incident.id)
        assert len(view.device_ids) == len(view.event_ids)


async def _stalled_incident_and_a_new_one(scene: Scene, *, reuse_west: bool) -> tuple[Any, Any, dict[str, int]]:
    """An incident at FIRE (WEST + EAST) left out of fusion for a window (not swept yet), then a
    second one at FIRE (NORTH_WEST or WEST's next event, + NORTH_EAST), then the first seen
    again and fused: its merge_near finds the second."""
    towers = {name: await scene.tower(where) for name, where in [("west", WEST), ("east", EAST)]}
    events = {"west": await scene.sighting(towers["west"], FIRE), "east": await scene.sighting(towers["east"], FIRE)}
    scene.clock.now += RULES.window + timedelta(minutes=1)  # out of open_of_group's window
    third = towers["west"] if reuse_west else await scene.tower(NORTH_WEST)
    events["third"] = await scene.sighting(third, FIRE)
    events["fourth"] = await scene.sighting(await scene.tower(NORTH_EAST), FIRE)
    older, younger = scene.incident_of(events["west"]), scene.incident_of(events["fourth"])
    assert older is not younger and younger.lat is not None
    assert distance(younger.lat, younger.lon, FIRE) < RULES.merge_distance_m

    await scene.seen(events["east"], fuse=False)  # moves the stalled incident's last_seen_time
    assert older.last_seen_time == scene.clock.now and scene.jobs.done[-1] == f"see event {events['east']}"
    await scene.seen(events["east"], fuse=True)  # its cone changed: fused, then merge_near
    return older, younger, events


async def test_incidents_within_the_merge_distance_merge_into_the_older(scene: Scene):
    older, younger, events = await _stalled_incident_and_a_new_one(scene, reuse_west=False)

    assert (younger.status, younger.merged_into_id, younger.close_time) == ("closed", older.id, scene.clock.now)
    assert older.status == "open"
    assert {scene.incident_of(e).id for e in events.values()} == {older.id}  # the events moved
    assert older.start_time == T0
    assert distance(older.lat, older.lon, FIRE) < 300  # located anew from its four cones
    assert scene.kinds(younger.id)[-1] == "merged"
    assert "event_added" in scene.kinds(older.id)[3:]


async def test_incidents_holding_events_of_one_device_do_not_merge(scene: Scene):
    older, younger, events = await _stalled_incident_and_a_new_one(scene, reuse_west=True)

    assert older.status == younger.status == "open"
    assert younger.merged_into_id is None
    assert scene.incident_of(events["third"]) is younger
    assert "merged" not in scene.kinds(younger.id)


async def test_a_detached_event_is_not_put_back_by_a_later_fusion(scene: Scene, listener: Listener):
    west = await scene.sighting(await scene.tower(WEST), FIRE)
    east = await scene.sighting(await scene.tower(EAST), FIRE)
    fused = scene.incident_of(west)

    without, alone = await scene.service.detach_event(ADMIN, fused.id, east)
    assert without.id == fused.id and without.event_ids == (west,) and without.lat is None
    assert alone.event_ids == (east,) and scene.store.incidents.detached == {(east, fused.id)}
    assert scene.kinds(fused.id)[-2:] == ["event_detached", "position_changed"]

    # Its own incident closes (unseen for the window) while WEST keeps seeing the fire...
    scene.clock.now += RULES.window / 2
    await scene.seen(west, fuse=False)
    scene.clock.now += RULES.window / 2 + timedelta(minutes=1)
    assert await scene.service.sweep() == (1, 0)
    assert scene.store.incidents.rows[alone.id].status == "closed"
    # ...then EAST sees it again: in no open incident, it is fused, and WEST's incident, the
    # one its cone crosses, is the one it may not join.
    await scene.seen(east, fuse=False)
    assert scene.jobs.done[-1] == f"see event {east}"
    again = scene.incident_of(east)
    assert again.id not in (fused.id, alone.id)
    assert scene.incident_of(west) is fused and fused.lat is None
    assert len(listener.positioned) == 1  # only the first fusion's


async def test_sweep_closes_unseen_incidents_and_fuses_events_in_none(scene: Scene):
    west_tower = await scene.tower(WEST)
    west = await scene.sighting(west_tower, FIRE)
    stale = scene.incident_of(west)
    scene.clock.now += RULES.window + timedelta(seconds=1)
    # Events whose fusion job was lost (a crash between the alert's commit and the job).
    lost = [await scene.event(await scene.tower(where), FIRE) for where in (EAST, NORTH_EAST)]
    old = await scene.event(west_tower, FIRE, at=T0)  # last seen before the window: left alone

    assert await scene.service.sweep() == (1, 2)
    assert (stale.status, stale.close_time) == ("closed", scene.clock.now)
    assert scene.kinds(stale.id)[-1] == "closed"
    revived = scene.incident_of(lost[0])
    assert scene.incident_of(lost[1]) is revived and revived.id != stale.id  # closed incidents never reopen
    assert distance(revived.lat, revived.lon, FIRE) < 300
    assert scene.store.events.rows[old].incident_id is None
    assert await scene.service.sweep() == (0, 0)  # nothing left to do


async def test_listeners_are_told_once_on_open_and_once_on_first_position(scene: Scene, listener: Listener):
    west = await scene.sighting(await scene.tower(WEST), FIRE)
    incident_id = scene.incident_of(west).id
    assert [v.id for v in listener.opened] == [incident_id] and listener.positioned == []

    await scene.sighting(await scene.tower(EAST), FIRE)
    assert len(listener.positioned) == 1
    first = listener.positioned[0]
    assert first.id == incident_id and first.lat is not None and len(first.device_ids) == 2

    await scene.sighting(await scene.tower(NORTH_WEST), FIRE)  # moves the position: no new notification
    await scene.seen(west, fuse=False)
    assert "position_changed" in scene.kinds(incident_id)
    assert [v.id for v in listener.opened] == [incident_id]
    assert [v.id for v in listener.positioned] == [incident_id]


async def test_a_failing_listener_does_not_stop_the_others(scene: Scene, listener: Listener):
    class Broken:
        async def incident_opened(self, incident: IncidentView) -> None:
            raise RuntimeError("down")

        async def incident_positioned(self, incident: IncidentView) -> None:
            raise RuntimeError("down")

    scene.service.listeners.insert(0, Broken())
    await scene.sighting(await scene.tower(WEST), FIRE)
    assert len(listener.opened) == 1


async def test_every_fusion_job_reports_its_outcome_and_duration(scene: Scene):
    west = await scene.sighting(await scene.tower(WEST), FIRE)
    east = await scene.sighting(await scene.tower(EAST), FIRE)
    await scene.seen(east, fuse=False)
    await scene.seen(east, fuse=True)  # its cone "changed" but still crosses WEST's
    scene.service.event_seen(scene.group_id, 999, scene.clock.now, fuse=True)  # deleted meanwhile
    await scene.jobs.run()
    assert [outcome for outcome, _ in scene.fusions] == ["opened", "joined", "bumped", "stayed", "skipped"]
    assert all(0 <= seconds < 5 for _, seconds in scene.fusions)

    async def down(group_id: int) -> bool:
        raise ConnectionError("database down")

    scene.store.incidents.lock_group = down  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await scene.seen(west, fuse=True)
    assert scene.fusions[-1][0] == "failed"
