"""In-memory fakes of the domain's ports (domain/ports.py), for the unit tier.

Records are SimpleNamespace objects with the resource's fields, as the SQLAlchemy adapter's
records are objects with attributes; alerts are `read_models.Alert` values, as there. The
fakes keep the adapter's contracts that the rules rely on: ids grow, lists are newest first
with keyset tokens, `group_id` filters (None: every group), unique idempotency keys.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import SimpleNamespace, TracebackType
from typing import Any

from pyrogrpc.domain.errors import AlreadyExists
from pyrogrpc.domain.paging import Page, PageRequest, encode_page_token
from pyrogrpc.domain.ports import Checkpoint, Job
from pyrogrpc.domain.read_models import (
    Alert,
    AlertOfDevice,
    DeviceForAlert,
    IncidentChangeRow,
    IncidentEvent,
    StoredRequest,
)


def _page(rows: list[Any], page: PageRequest) -> Page[Any]:
    rows = sorted(rows, key=lambda row: row.id, reverse=True)
    if page.before_id is not None:
        rows = [row for row in rows if row.id < page.before_id]
    if page.created_after is not None:
        rows = [row for row in rows if row.create_time >= page.created_after]
    if page.created_before is not None:
        rows = [row for row in rows if row.create_time < page.created_before]
    if len(rows) > page.size:
        rows = rows[: page.size]
        return Page(rows, encode_page_token(rows[-1].id))
    return Page(rows)


class FakeRepository:
    def __init__(self, ids: itertools.count[int] | None = None) -> None:
        self.rows: dict[int, Any] = {}
        self._ids = ids or itertools.count(1)

    async def get(self, row_id: int, *, group_id: int | None = None, for_update: bool = False) -> Any:
        row = self.rows.get(row_id)
        if row is None or (group_id is not None and row.group_id != group_id):
            return None
        return row

    async def list(
        self, page: PageRequest, *, where: Mapping[str, Any] | None = None, group_id: int | None = None
    ) -> Page[Any]:
        wanted = dict(where or {})
        rows = [
            row
            for row in self.rows.values()
            if all(getattr(row, k) == v for k, v in wanted.items()) and group_id in (None, row.group_id)
        ]
        return _page(rows, page)

    async def create(self, **fields: Any) -> Any:
        row = SimpleNamespace(id=next(self._ids), create_time=fields.pop("create_time", datetime.now()), **fields)
        self.rows[row.id] = row
        return row

    async def delete(self, row: Any) -> None:
        del self.rows[row.id]


class FakeEventRepository(FakeRepository):
    async def create(self, **fields: Any) -> Any:
        return await super().create(**{"end_time": None, **fields})  # the column's default

    async def insert(self, **values: Any) -> int:
        return int((await self.create(**values)).id)

    async def get_row(self, row_id: int, *, group_id: int | None = None) -> Any:
        return await self.get(row_id, group_id=group_id)

    async def see_again(self, event_id: int, when: datetime) -> None:
        event = self.rows[event_id]
        if getattr(event, "last_seen_time", None) is None or event.last_seen_time < when:
            event.last_seen_time = when

    async def open_of_device(self, device_id: int, *, since: datetime, until: datetime) -> list[Any]:
        return []  # boxed-alert sequences are covered by tests/unit/test_sequences.py and end to end

    async def update_sequence(self, event_id: int, **values: Any) -> None:
        vars(self.rows[event_id]).update(values)


class FakeDeviceRepository(FakeRepository):
    def __init__(self, media: FakeRepository) -> None:
        super().__init__()
        self._media = media

    async def lock(
        self, *, device_id: int | None = None, access_id: int | None = None, media_id: int | None = None
    ) -> DeviceForAlert | None:
        matches = [
            d for d in self.rows.values() if (d.id == device_id if device_id is not None else d.access_id == access_id)
        ]
        if not matches:
            return None
        device = matches[0]
        media = self._media.rows.get(media_id) if media_id is not None else None
        if media is not None and media.group_id != device.group_id:
            media = None
        return DeviceForAlert(
            device.id,
            device.group_id,
            device.azimuth,
            device.lat,
            device.lon,
            media.id if media else None,
            media.device_id if media else None,
            media.bucket_key if media else None,
        )

    async def get_by_access_id(self, access_id: int) -> Any:
        return next((d for d in self.rows.values() if d.access_id == access_id), None)


class FakeAlertRepository:
    def __init__(self, events: FakeRepository) -> None:
        self.rows: dict[int, Alert] = {}
        self._ids = itertools.count(1)
        self._events = events

    async def get(self, alert_id: int, *, group_id: int | None = None) -> Alert | None:
        alert = self.rows.get(alert_id)
        return None if alert is None or (group_id is not None and alert.group_id != group_id) else alert

    async def insert(self, **values: Any) -> int:
        alert_id = next(self._ids)
        self.rows[alert_id] = Alert(id=alert_id, **values)
        return alert_id

    async def latest_of_device(self, device_id: int) -> AlertOfDevice | None:
        mine = [a for a in self.rows.values() if a.device_id == device_id]
        if not mine:
            return None
        latest = max(mine, key=lambda a: a.id)
        return AlertOfDevice(latest.create_time, latest.event_id, self._events.rows[latest.event_id].end_time)

    async def list_alerts(
        self, page: PageRequest, *, group_id: int | None, only_group_id: int | None = None
    ) -> Page[Alert]:
        rows = [
            a
            for a in self.rows.values()
            if (group_id is None or a.group_id == group_id) and (only_group_id is None or a.group_id == only_group_id)
        ]
        return _page(rows, page)

    async def list_of_event(self, page: PageRequest, event_id: int) -> Page[Alert]:
        return _page([a for a in self.rows.values() if a.event_id == event_id], page)

    async def list_ongoing(self, page: PageRequest, *, group_id: int | None = None) -> Page[Alert]:
        ongoing = {e.id for e in self._events.rows.values() if e.end_time is None}
        rows = [a for a in self.rows.values() if a.event_id in ongoing and group_id in (None, a.group_id)]
        return _page(rows, page)

    async def after(
        self, alert_id: int, *, up_to: int | None = None, group_id: int | None = None, limit: int = 500
    ) -> Sequence[Alert]:
        rows = [
            a
            for a in sorted(self.rows.values())
            if alert_id < a.id and (up_to is None or a.id <= up_to) and group_id in (None, a.group_id)
        ]
        return rows[:limit]

    async def delete(self, alert_id: int) -> None:
        del self.rows[alert_id]


class FakeIncidentRepository(FakeRepository):
    """Incidents over the store's events, devices and alerts, read as the SQL adapter reads them
    (db/repositories/incidents.py): an event's cone columns, its device's angle_of_view and
    its latest alert's azimuth. Change rows are kept in a list, detachments in a set."""

    def __init__(
        self, groups: FakeRepository, events: FakeRepository, devices: FakeRepository, alerts: FakeAlertRepository
    ) -> None:
        super().__init__()
        self._groups = groups
        self._events = events
        self._devices = devices
        self._alerts = alerts
        self.changes: list[IncidentChangeRow] = []
        self.detached: set[tuple[int, int]] = set()  # (event id, incident id)
        self._change_ids = itertools.count(1)

    async def create(self, **fields: Any) -> Any:
        unset = dict.fromkeys(
            ["lat", "lon", "uncertainty_m", "close_time", "positioned_time", "merged_into_id"]
        )  # the columns' defaults
        return await super().create(**{**unset, **fields})

    def _read(self, event: Any) -> IncidentEvent:
        device = self._devices.rows.get(event.device_id) if event.device_id is not None else None
        alerts = [a for a in self._alerts.rows.values() if a.event_id == event.id]
        latest = max(alerts, key=lambda a: a.id) if alerts else None
        return IncidentEvent(
            id=event.id,
            group_id=event.group_id,
            incident_id=getattr(event, "incident_id", None),
            device_id=event.device_id,
            lat=event.lat,
            lon=event.lon,
            azimuth=getattr(event, "azimuth", None),
            cone_angle=getattr(event, "cone_angle", None),
            angle_of_view=getattr(device, "angle_of_view", None),
            alert_azimuth=latest.azimuth if latest else None,
            start_time=event.start_time,
            last_seen_time=getattr(event, "last_seen_time", None),
        )

    async def lock_group(self, group_id: int) -> bool:
        return group_id in self._groups.rows  # one task at a time: no lock to take

    async def event(self, event_id: int) -> IncidentEvent | None:
        event = self._events.rows.get(event_id)
        return None if event is None else self._read(event)

    async def events_of(self, incident_ids: Sequence[int]) -> list[IncidentEvent]:
        wanted = set(incident_ids)
        rows = sorted(self._events.rows.values(), key=lambda e: e.id)
        return [self._read(e) for e in rows if getattr(e, "incident_id", None) in wanted]

    async def open_of_group(self, group_id: int, *, seen_since: datetime) -> list[Any]:
        return sorted(
            (
                i
                for i in self.rows.values()
                if i.group_id == group_id and i.status == "open" and i.last_seen_time >= seen_since
            ),
            key=lambda i: i.id,
        )

    async def assign(self, event_ids: Sequence[int], incident_id: int | None) -> None:
        for event_id in event_ids:
            self._events.rows[event_id].incident_id = incident_id

    async def detach(self, incident_id: int, event_id: int, now: datetime) -> None:
        self.detached.add((event_id, incident_id))

    async def detachments(self, event_ids: Sequence[int]) -> set[tuple[int, int]]:
        return {(e, i) for e, i in self.detached if e in event_ids}

    async def record_change(self, incident_id: int, group_id: int, kind: str, now: datetime) -> None:
        self.changes.append(IncidentChangeRow(next(self._change_ids), incident_id, group_id, kind, now))

    async def see_again(self, event_id: int, when: datetime) -> bool:
        incident_id = getattr(self._events.rows.get(event_id), "incident_id", None)
        incident = self.rows.get(incident_id) if incident_id is not None else None
        if incident is None or incident.status != "open":
            return False
        incident.last_seen_time = max(incident.last_seen_time, when)
        return True

    async def unfused(self, *, seen_since: datetime, limit: int) -> list[tuple[int, int]]:
        rows = [
            (e.group_id, e.id)
            for e in sorted(self._events.rows.values(), key=lambda e: e.id)
            if getattr(e, "incident_id", None) is None
            and e.device_id is not None
            and getattr(e, "last_seen_time", None) is not None
            and e.last_seen_time >= seen_since
        ]
        return rows[:limit]

    async def groups_with_overdue(self, cutoff: datetime) -> list[int]:
        return sorted({i.group_id for i in self.rows.values() if i.status == "open" and i.last_seen_time < cutoff})

    async def close_overdue(self, group_id: int, cutoff: datetime, now: datetime) -> list[int]:
        closed = []
        for incident in sorted(self.rows.values(), key=lambda i: i.id):
            if incident.group_id == group_id and incident.status == "open" and incident.last_seen_time < cutoff:
                incident.status, incident.close_time = "closed", now
                closed.append(incident.id)
        return closed

    async def list_incidents(
        self,
        page: PageRequest,
        *,
        group_id: int | None,
        only_group_id: int | None = None,
        seen_since: datetime | None = None,
        started_before: datetime | None = None,
        open_only: bool = False,
    ) -> Page[Any]:
        rows = [
            i
            for i in self.rows.values()
            if group_id in (None, i.group_id)
            and only_group_id in (None, i.group_id)
            and (seen_since is None or i.last_seen_time >= seen_since)
            and (started_before is None or i.start_time < started_before)
            and (not open_only or i.status == "open")
        ]
        return _page(rows, page)


class FakeJobs:
    """BackgroundJobs that run nothing until `run()` is awaited, then every job submitted,
    in order (jobs a job submits too): the work is done, synchronously, when the test says."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, Job]] = []
        self.done: list[str] = []

    def submit(self, job: Job, *, name: str) -> bool:
        self.pending.append((name, job))
        return True

    async def run(self) -> None:
        while self.pending:
            name, job = self.pending.pop(0)
            await job()
            self.done.append(name)


class FakeUserRepository(FakeRepository):
    async def get(self, row_id: int, *, group_id: int | None = None, for_update: bool = False) -> Any:
        user = self.rows.get(row_id)  # a user's group is its access's
        return None if user is None or group_id not in (None, user.access.group_id) else user

    async def get_by_access_id(self, access_id: int, *, for_update: bool = False) -> Any:
        return next((u for u in self.rows.values() if u.access_id == access_id), None)


class FakeIdempotencyRepository:
    def __init__(self) -> None:
        self.keys: dict[tuple[int, str, str], StoredRequest] = {}

    async def find(self, access_id: int, operation: str, request_id: str) -> StoredRequest | None:
        return self.keys.get((access_id, operation, request_id))

    async def remember(
        self, access_id: int, operation: str, request_id: str, resource_id: int, request_digest: str
    ) -> None:
        if (access_id, operation, request_id) in self.keys:
            raise AlreadyExists("a resource with the same unique field already exists")
        self.keys[(access_id, operation, request_id)] = StoredRequest(resource_id, request_digest)


class FakeCommitHorizon:
    async def checkpoint(self) -> Checkpoint:
        return Checkpoint(0, frozenset())

    async def writers_left(self, checkpoint: Checkpoint) -> frozenset[str]:
        return frozenset()


class FakeStore:
    """The data shared by every unit of work (the database)."""

    def __init__(self) -> None:
        self.groups = FakeRepository()
        self.accesses = FakeRepository()
        self.users = FakeUserRepository()
        self.idempotency = FakeIdempotencyRepository()
        self.media = FakeRepository()
        self.devices = FakeDeviceRepository(self.media)
        self.sites = FakeRepository()
        self.installations = FakeRepository()
        self.webhooks = FakeRepository()
        self.recipients = FakeRepository()
        self.events = FakeEventRepository()
        self.alerts = FakeAlertRepository(self.events)
        self.notifications = FakeRepository()
        self.incidents = FakeIncidentRepository(self.groups, self.events, self.devices, self.alerts)
        self.alert_horizon = FakeCommitHorizon()
        self.commits = 0


class FakeUnitOfWork:
    """Repositories of one FakeStore. No isolation or rollback: the rules under test commit or
    raise before writing, and the end-to-end tests cover transactions."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store
        for name in [
            "groups",
            "accesses",
            "users",
            "idempotency",
            "devices",
            "sites",
            "installations",
            "webhooks",
            "recipients",
            "events",
            "media",
            "alerts",
            "notifications",
            "incidents",
            "alert_horizon",
        ]:
            setattr(self, name, getattr(store, name))

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def commit(self) -> None:
        self._store.commits += 1

    async def flush(self) -> None:
        return None
