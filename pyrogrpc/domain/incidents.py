"""Incidents (issue 16): one fire as seen by the cameras of a group, located where their cones cross.

Rules:
- A group's events of different devices, active within the window, whose cones cross within
  the range of their towers, are one incident; an incident holds at most one event per
  device. An event seen by one camera alone is an incident with its cone and no position.
- An event's cone: its box cone (azimuth, cone_angle), else its latest alert's azimuth with
  the device's angle_of_view, from the event's position (where the camera stood). An event
  with neither is an incident of its own, never fused.
- Incidents whose positions are closer than the merge distance merge: the older survives,
  the other is closed with merged_into_id and its events move (not when both hold an event
  of the same device, nor when one of its events was detached from the survivor).
- An incident not seen for the window closes (`sweep`); it never reopens.
- A detached event (DetachIncidentEvent) becomes an incident of its own and is never put
  back into that incident by fusion.

Where fusion runs: NOT in the alert's transaction. After an alert commits, `event_seen`
queues one job (microseconds on the alert path): it fuses the event when the alert opened
it or changed its cone, else only moves its incident's last_seen_time forward. Fusion takes
the group's row lock first, so the events of a group are fused one at a time, on every
replica: events arriving at once from several devices form one incident. A job lost to a
crash between the alert's commit and the fusion is made up by `sweep`, which fuses the
recent camera events that are in no incident.

Every change writes an incident_changes row in the same transaction (WatchIncidents streams
them). Listeners are told after the commit when an incident opens and when it FIRST gets a
position (positioned_time is set once): notifications go out once per incident.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from .clock import monotonic, utcnow
from .errors import FailedPrecondition, NotFound
from .incident_geometry import Cone, best_match, crosses, distance_m, locate
from .paging import Page, PageRequest
from .ports import BackgroundJobs, UnitOfWork, UnitOfWorkFactory
from .principal import Principal
from .read_models import IncidentEvent
from .records import EventRecord, IncidentRecord

logger = logging.getLogger("pyrogrpc.incidents")

OPEN = "open"
CLOSED = "closed"

# incident_changes.kind
OPENED = "opened"
EVENT_ADDED = "event_added"
POSITIONED = "positioned"
POSITION_CHANGED = "position_changed"
EVENT_DETACHED = "event_detached"
MERGED = "merged"
CLOSED_KIND = "closed"

# How one fusion job ended (IncidentService's on_fusion; metrics count them).
FUSION_OPENED = "opened"  # the event became an incident of its own
FUSION_JOINED = "joined"  # it joined another incident
FUSION_STAYED = "stayed"  # it stayed in its incident (its cone changed yet still crosses)
FUSION_BUMPED = "bumped"  # an alert of an event already fused: its incident's last_seen_time moved
FUSION_SKIPPED = "skipped"  # the group or the event is gone, or it is not a camera's event
FUSION_FAILED = "failed"  # raised (database down...)
FUSION_OUTCOMES = (FUSION_OPENED, FUSION_JOINED, FUSION_STAYED, FUSION_BUMPED, FUSION_SKIPPED, FUSION_FAILED)

SWEEP_BATCH = 200  # unfused events fused per sweep (the next sweep takes the rest)


@dataclass(frozen=True)
class IncidentRules:
    """Server settings (config.py INCIDENT_*)."""

    window: timedelta = timedelta(minutes=30)
    range_m: float = 30_000.0
    merge_distance_m: float = 2_000.0


@dataclass(frozen=True, slots=True)
class IncidentCone:
    event_id: int
    device_id: int
    tower_lat: float
    tower_lon: float
    azimuth: float
    angle: float


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident with its events, devices and cones: what the API returns and listeners get."""

    id: int
    group_id: int
    status: str
    lat: float | None
    lon: float | None
    uncertainty_m: float | None
    start_time: datetime
    last_seen_time: datetime
    close_time: datetime | None
    create_time: datetime
    positioned_time: datetime | None
    merged_into_id: int | None
    device_ids: tuple[int, ...]
    event_ids: tuple[int, ...]
    cones: tuple[IncidentCone, ...]


class IncidentListener(Protocol):
    """Told after the commit, once per incident each: it opened; it got its first position."""

    async def incident_opened(self, incident: IncidentView) -> None: ...

    async def incident_positioned(self, incident: IncidentView) -> None: ...


def cone_values(event: IncidentEvent) -> tuple[float, float] | None:
    """(azimuth, opening) of an event's cone, or None when it has none (see the module rules)."""
    if event.azimuth is not None and event.cone_angle is not None and event.cone_angle > 0:
        return event.azimuth, event.cone_angle
    if event.alert_azimuth is not None and event.angle_of_view:
        return event.alert_azimuth, event.angle_of_view
    return None


def view_of(incident: IncidentRecord, events: Sequence[IncidentEvent]) -> IncidentView:
    cones = []
    for event in events:
        values = cone_values(event)
        if values is not None and event.device_id is not None:
            cones.append(IncidentCone(event.id, event.device_id, event.lat, event.lon, *values))
    return IncidentView(
        id=incident.id,
        group_id=incident.group_id,
        status=incident.status,
        lat=incident.lat,
        lon=incident.lon,
        uncertainty_m=incident.uncertainty_m,
        start_time=incident.start_time,
        last_seen_time=incident.last_seen_time,
        close_time=incident.close_time,
        create_time=incident.create_time,
        positioned_time=incident.positioned_time,
        merged_into_id=incident.merged_into_id,
        device_ids=tuple(sorted({e.device_id for e in events if e.device_id is not None})),
        event_ids=tuple(sorted(e.id for e in events)),
        cones=tuple(cones),
    )


class _Fusion:
    """One fusion transaction of one group (the group row is locked): the open incidents and
    their events as loaded, the changes written, and what to announce after the commit."""

    def __init__(self, uow: UnitOfWork, rules: IncidentRules, now: datetime):
        self.uow = uow
        self.rules = rules
        self.now = now
        self.incidents: dict[int, IncidentRecord] = {}
        self.members: dict[int, list[IncidentEvent]] = defaultdict(list)
        self.announce: list[tuple[str, int]] = []  # (OPENED | POSITIONED, incident id)

    async def load(self, group_id: int) -> None:
        seen_since = self.now - self.rules.window
        for incident in await self.uow.incidents.open_of_group(group_id, seen_since=seen_since):
            self.incidents[incident.id] = incident
        for event in await self.uow.incidents.events_of(list(self.incidents)):
            if event.incident_id is not None:
                self.members[event.incident_id].append(event)

    def cone(self, event: IncidentEvent) -> Cone | None:
        values = cone_values(event)
        return None if values is None else Cone(event.lat, event.lon, values[0], values[1], self.rules.range_m)

    def cones(self, incident_id: int) -> list[Cone]:
        return [c for c in map(self.cone, self.members[incident_id]) if c is not None]

    async def change(self, incident: IncidentRecord, kind: str) -> None:
        await self.uow.incidents.record_change(incident.id, incident.group_id, kind, self.now)

    async def open(self, event: IncidentEvent) -> IncidentRecord:
        """A new incident of this event alone."""
        seen = event.last_seen_time or event.start_time
        incident = await self.uow.incidents.create(
            group_id=event.group_id,
            status=OPEN,
            start_time=min(event.start_time, seen),
            last_seen_time=seen,
            create_time=self.now,
        )
        await self.uow.incidents.assign([event.id], incident.id)
        self.incidents[incident.id] = incident
        self.members[incident.id] = [event._replace(incident_id=incident.id)]
        await self.change(incident, OPENED)
        self.announce.append((OPENED, incident.id))
        return incident

    async def add(self, incident: IncidentRecord, events: Sequence[IncidentEvent]) -> None:
        await self.uow.incidents.assign([e.id for e in events], incident.id)
        self.members[incident.id].extend(e._replace(incident_id=incident.id) for e in events)
        for event in events:
            seen = event.last_seen_time or event.start_time
            incident.last_seen_time = max(incident.last_seen_time, seen)
            incident.start_time = min(incident.start_time, event.start_time)
        await self.change(incident, EVENT_ADDED)

    async def position(self, incident: IncidentRecord) -> None:
        """Locate the incident anew from its cones; a change is recorded only when it moved."""
        cones = self.cones(incident.id)
        fix = locate(cones) if len(cones) >= 2 else None
        new = (None, None, None) if fix is None else (fix.lat, fix.lon, fix.uncertainty_m)
        if new == (incident.lat, incident.lon, incident.uncertainty_m):
            return
        incident.lat, incident.lon, incident.uncertainty_m = new
        if fix is not None and incident.positioned_time is None:
            incident.positioned_time = self.now
            await self.change(incident, POSITIONED)
            self.announce.append((POSITIONED, incident.id))
        else:
            await self.change(incident, POSITION_CHANGED)

    async def merge_near(self, incident: IncidentRecord) -> None:
        """Merge the open incidents positioned within the merge distance of `incident`."""
        survivor = incident
        while survivor.lat is not None and survivor.lon is not None:
            other = await self._mergeable(survivor)
            if other is None:
                return
            older, younger = sorted((survivor, other), key=lambda i: (i.start_time, i.id))
            moved = self.members.pop(younger.id, [])
            younger.status = CLOSED
            younger.close_time = self.now
            younger.merged_into_id = older.id
            await self.change(younger, MERGED)
            await self.add(older, moved)
            await self.position(older)
            survivor = older

    async def _mergeable(self, incident: IncidentRecord) -> IncidentRecord | None:
        assert incident.lat is not None and incident.lon is not None
        devices = {e.device_id for e in self.members[incident.id]}
        for other in self.incidents.values():
            if other.id == incident.id or other.status != OPEN or other.lat is None or other.lon is None:
                continue
            if distance_m(incident.lat, incident.lon, other.lat, other.lon) >= self.rules.merge_distance_m:
                continue
            if devices & {e.device_id for e in self.members[other.id]}:
                continue  # one event per device: two smokes seen by one camera stay apart
            events = [e.id for e in self.members[incident.id] + self.members[other.id]]
            detached = await self.uow.incidents.detachments(events)
            if any(i in (incident.id, other.id) for _, i in detached):
                continue  # a user split them
            return other
        return None

    async def fuse(self, event: IncidentEvent) -> str:
        """Put the event where it belongs: it stays, joins the incident its cone crosses best,
        or opens its own (FUSION_STAYED, FUSION_JOINED, FUSION_OPENED)."""
        current = self.incidents.get(event.incident_id) if event.incident_id is not None else None
        cone = self.cone(event)
        if current is not None:
            members = self.members[current.id]
            members[:] = [event if m.id == event.id else m for m in members]  # its cone as it is now
            others = [c for m in members if m.id != event.id and (c := self.cone(m)) is not None]
            seen = event.last_seen_time or event.start_time
            current.last_seen_time = max(current.last_seen_time, seen)
            if cone is None or not others or crosses(cone, others):
                await self.position(current)
                await self.merge_near(current)
                return FUSION_STAYED
            # Its new cone left the others': it leaves this incident.
            members[:] = [m for m in members if m.id != event.id]
            await self.change(current, EVENT_DETACHED)
            await self.position(current)
        target = await self._best_incident(event, cone, exclude=current.id if current else None)
        if target is None:
            await self.open(event)
            return FUSION_OPENED
        await self.add(target, [event])
        await self.position(target)
        await self.merge_near(target)
        return FUSION_JOINED

    def _within_reach(self, event: IncidentEvent, incident_id: int) -> bool:
        """A cheap necessary condition of crossing (the geometry costs ~0.1 ms per candidate):
        the incident's common area, or its towers' cones, can reach this tower's cone."""
        incident = self.incidents[incident_id]
        reach = self.rules.range_m
        if incident.lat is not None and incident.lon is not None:
            slack = incident.uncertainty_m or 0.0
            return distance_m(event.lat, event.lon, incident.lat, incident.lon) <= reach + slack
        return any(distance_m(event.lat, event.lon, m.lat, m.lon) <= 2 * reach for m in self.members[incident_id])

    async def _best_incident(
        self, event: IncidentEvent, cone: Cone | None, exclude: int | None
    ) -> IncidentRecord | None:
        if cone is None:
            return None  # no cone: never fused
        detached = {i for _, i in await self.uow.incidents.detachments([event.id])}
        candidates: list[tuple[int, list[Cone]]] = []
        for incident_id, members in self.members.items():
            if incident_id == exclude or incident_id in detached or incident_id not in self.incidents:
                continue
            if any(m.device_id == event.device_id for m in members):
                continue  # at most one event per device
            if not self._within_reach(event, incident_id):
                continue
            cones = self.cones(incident_id)
            if cones:
                candidates.append((incident_id, cones))
        if not candidates:
            return None
        key = best_match(cone, candidates)
        return None if key is None else self.incidents[key]


class IncidentService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        jobs: BackgroundJobs,
        *,
        rules: IncidentRules | None = None,
        listeners: list[IncidentListener] | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_fusion: Callable[[str, float], None] | None = None,
        single_statement_uow: UnitOfWorkFactory | None = None,
    ):
        """`on_fusion(outcome, seconds)`: told after every fusion job (metrics)."""
        self._uow = uow
        # The bump after each alert is one statement: no transaction (see db/session.py).
        self._single = single_statement_uow or uow
        self._jobs = jobs
        self.rules = rules or IncidentRules()
        self.listeners: list[IncidentListener] = list(listeners or [])
        self._clock = clock
        self._on_fusion = on_fusion

    # --- after an alert (alerts.py) --------------------------------------------------------

    def event_seen(self, group_id: int, event_id: int, when: datetime, *, fuse: bool) -> None:
        """An alert of the event committed: queue its fusion (`fuse`: the event is new or its
        cone changed) or the bump of its incident's last_seen_time. Never blocks nor raises."""
        if fuse:
            self._jobs.submit(partial(self.fuse, group_id, event_id), name=f"fuse event {event_id}")
        else:
            self._jobs.submit(partial(self.see_again, group_id, event_id, when), name=f"see event {event_id}")

    async def see_again(self, group_id: int, event_id: int, when: datetime) -> None:
        await self._reported(partial(self._see_again, group_id, event_id, when))

    async def fuse(self, group_id: int, event_id: int) -> None:
        await self._reported(partial(self._fuse, group_id, event_id))

    async def _reported(self, job: Callable[[], Awaitable[str]]) -> None:
        """Run one fusion job and tell on_fusion how it ended and how long it took."""
        started, outcome = monotonic(), FUSION_FAILED
        try:
            outcome = await job()
        finally:
            if self._on_fusion is not None:
                self._on_fusion(outcome, monotonic() - started)

    async def _see_again(self, group_id: int, event_id: int, when: datetime) -> str:
        async with self._single() as uow:
            seen = await uow.incidents.see_again(event_id, when)
            await uow.commit()
        if seen:
            return FUSION_BUMPED
        return await self._fuse(group_id, event_id)  # in no open incident (fusion lost, or it closed meanwhile)

    async def _fuse(self, group_id: int, event_id: int) -> str:
        async with self._uow() as uow:
            if not await uow.incidents.lock_group(group_id):
                return FUSION_SKIPPED
            event = await uow.incidents.event(event_id)
            if event is None or event.device_id is None or event.group_id != group_id:
                return FUSION_SKIPPED  # deleted meanwhile, or not a camera's event
            fusion = _Fusion(uow, self.rules, self._clock())
            await fusion.load(group_id)
            outcome = await fusion.fuse(event)
            await uow.commit()
        await self._announce(fusion.announce)
        return outcome

    # --- periodic (server.py) ----------------------------------------------------------------

    async def sweep(self) -> tuple[int, int]:
        """Close overdue incidents, then fuse recent camera events in no incident (a fusion job
        lost to a crash). Safe on several replicas at once. (closed, fused) counts."""
        now = self._clock()
        cutoff = now - self.rules.window
        async with self._uow() as uow:
            groups = await uow.incidents.groups_with_overdue(cutoff)
        closed = 0
        for group_id in groups:
            async with self._uow() as uow:
                await uow.incidents.lock_group(group_id)
                ids = await uow.incidents.close_overdue(group_id, cutoff, now)
                for incident_id in ids:
                    await uow.incidents.record_change(incident_id, group_id, CLOSED_KIND, now)
                await uow.commit()
            closed += len(ids)
        async with self._uow() as uow:
            unfused = await uow.incidents.unfused(seen_since=cutoff, limit=SWEEP_BATCH)
        for group_id, event_id in unfused:
            await self.fuse(group_id, event_id)
        return closed, len(unfused)

    # --- RPCs ----------------------------------------------------------------------------------

    async def get_incident(self, principal: Principal, incident_id: int) -> IncidentView:
        async with self._uow() as uow:
            incident = await _visible(uow, principal, incident_id)
            return view_of(incident, await uow.incidents.events_of([incident.id]))

    async def list_incidents(
        self,
        principal: Principal,
        page: PageRequest,
        *,
        group_id: int | None = None,
        seen_since: datetime | None = None,
        started_before: datetime | None = None,
        open_only: bool = False,
    ) -> Page[IncidentView]:
        async with self._uow() as uow:
            result = await uow.incidents.list_incidents(
                page,
                group_id=principal.group_filter,
                only_group_id=group_id,
                seen_since=seen_since,
                started_before=started_before,
                open_only=open_only,
            )
            members: dict[int, list[IncidentEvent]] = defaultdict(list)
            for event in await uow.incidents.events_of([i.id for i in result.items]):
                if event.incident_id is not None:
                    members[event.incident_id].append(event)
        views = [view_of(incident, members[incident.id]) for incident in result.items]
        return Page(views, result.next_page_token, result.total_size)

    async def list_incident_events(
        self, principal: Principal, incident_id: int, page: PageRequest
    ) -> Page[EventRecord]:
        async with self._uow() as uow:
            incident = await _visible(uow, principal, incident_id)
            return await uow.events.list(page, where={"incident_id": incident.id})

    async def detach_event(
        self, principal: Principal, incident_id: int, event_id: int
    ) -> tuple[IncidentView, IncidentView]:
        """(the incident without the event, the event's own new incident)."""
        async with self._uow() as uow:
            incident = await _visible(uow, principal, incident_id)
            await uow.incidents.lock_group(incident.group_id)
            event = await uow.incidents.event(event_id)
            if event is None or event.group_id != incident.group_id:
                raise NotFound("event", event_id)
            if event.incident_id != incident.id:
                raise FailedPrecondition(f"event {event_id} is not in incident {incident_id}")
            fusion = _Fusion(uow, self.rules, self._clock())
            fusion.incidents[incident.id] = incident
            fusion.members[incident.id] = [e for e in await uow.incidents.events_of([incident.id]) if e.id != event.id]
            await uow.incidents.detach(incident.id, event.id, fusion.now)
            await fusion.change(incident, EVENT_DETACHED)
            await fusion.position(incident)
            if not fusion.members[incident.id] and incident.status == OPEN:
                incident.status, incident.close_time = CLOSED, fusion.now  # nothing left in it
                await fusion.change(incident, CLOSED_KIND)
            alone = await fusion.open(event)
            views = (view_of(incident, fusion.members[incident.id]), view_of(alone, fusion.members[alone.id]))
            await uow.commit()
        await self._announce(fusion.announce)
        return views

    # --- listeners -----------------------------------------------------------------------------

    async def _announce(self, announcements: Sequence[tuple[str, int]]) -> None:
        if not announcements or not self.listeners:
            return
        async with self._uow() as uow:
            views = {}
            for _, incident_id in announcements:
                incident = await uow.incidents.get(incident_id)
                if incident is not None:
                    views[incident_id] = view_of(incident, await uow.incidents.events_of([incident_id]))
        for kind, incident_id in announcements:
            view = views.get(incident_id)
            if view is None:
                continue
            for listener in list(self.listeners):
                try:
                    if kind == OPENED:
                        await listener.incident_opened(view)
                    else:
                        await listener.incident_positioned(view)
                except Exception:
                    logger.exception("incident listener %r failed for incident %s", listener, incident_id)


async def _visible(uow: UnitOfWork, principal: Principal, incident_id: int) -> IncidentRecord:
    incident = await uow.incidents.get(incident_id, group_id=principal.group_filter)
    if incident is None:
        raise NotFound("incident", incident_id)
    return incident
