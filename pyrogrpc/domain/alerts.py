"""Use cases of DetectionService alerts: create (with event grouping), read, list, delete.

Event grouping: an alert without boxes and without event_id joins the event of the same
device's latest alert when that alert is recent and its event still open; otherwise it
opens a new wildfire event. An alert with boxes (issue 15) first drops the boxes wholly
inside an occlusion mask of its pose (none left: the alert is stored `suppressed`, in no
event, told to no listener), then continues the device's open event of the same pose whose
latest boxes it overlaps (rules in sequences.py), or opens one. The device row is locked
first, so concurrent alerts of one device are serialized and can never open two events.

After an alert is committed, the `EventActivity` (incidents.py: fusion, queued) and every
`AlertListener` are told (webhooks, metrics, live watchers). Listeners run after the commit,
never fail the call and are not called again for an idempotent replay.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from .clock import utcnow
from .errors import FailedPrecondition, InvalidArgument, NotFound
from .geometry import Detection, check_detections, encode_detections, unmasked
from .idempotency import check_same_request, create_once, request_digest
from .localization import check_localization
from .paging import Page, PageRequest
from .ports import UnitOfWork, UnitOfWorkFactory
from .principal import Principal
from .read_models import Alert, DeviceForAlert, PoseOfAlert
from .sequences import Optics, continued_event, continued_event_values, new_event_values
from .validation import Violations, check_azimuth, check_position, check_request_id

logger = logging.getLogger("pyrogrpc.alerts")

NEW_EVENT_TYPE = "wildfire"


class EventActivity(Protocol):
    """Told after the commit which event an alert joined (incidents.py IncidentService):
    `fuse` when the alert opened the event or changed its cone. Must not block."""

    def event_seen(self, group_id: int, event_id: int, when: datetime, *, fuse: bool) -> None: ...


class AlertListener(Protocol):
    """Told about each newly committed alert; `new_event` when the alert opened its event."""

    async def alert_created(self, alert: Alert, *, new_event: bool) -> None: ...


@dataclass(frozen=True)
class NewAlert:
    """What a client asks for; None means "not given" (the device's value, or event grouping)."""

    media_id: int | None = None
    event_id: int | None = None
    azimuth: float | None = None
    lat: float | None = None
    lon: float | None = None
    localization: str = ""
    request_id: str = ""
    detections: tuple[Detection, ...] = ()
    pose_id: int | None = None
    capture_time: datetime | None = None


@dataclass(frozen=True)
class DetectionRules:
    """Server settings of boxed alerts (see config.py)."""

    max_boxes: int = 20
    iou_threshold: float = 0.0
    capture_skew: timedelta = timedelta(seconds=60)
    max_capture_age: timedelta = timedelta(days=1)


def alert_request(new: NewAlert, *, without: tuple[str, ...] = (), **extra: object) -> dict[str, object]:
    """What a retry under the same request_id must repeat: every field of `new` but
    request_id (and `without`), plus `extra`; its digest is stored with the key."""
    request = {name: value for name, value in asdict(new).items() if name != "request_id" and name not in without}
    return {**request, **extra}


class AlertService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        relaxation: timedelta,
        listeners: list[AlertListener] | None = None,
        single_statement_uow: UnitOfWorkFactory | None = None,
        rules: DetectionRules | None = None,
        event_activity: EventActivity | None = None,
    ):
        self._uow = uow
        self._event_activity = event_activity
        self.rules = rules or DetectionRules()
        self._single = single_statement_uow or uow  # reads of one statement (see db/session.py)
        self._relaxation = relaxation
        # Public on purpose: other components (e.g. the WatchAlerts hub) append themselves.
        self.listeners: list[AlertListener] = list(listeners or [])

    # --- create ----------------------------------------------------------------------

    async def create_my_alert(self, principal: Principal, new: NewAlert) -> Alert:
        """An alert of the calling device: its device is found and locked in the one transaction."""
        self.validate(new)
        return await self._create(principal, "CreateMyAlert", new, access_id=principal.access_id)

    async def create_alert(self, principal: Principal, device_id: int, new: NewAlert) -> Alert:
        """An alert for any device (admins)."""
        self.validate(new)
        return await self._create(principal, "CreateAlert", new, device_id=device_id)

    # --- SendAlert's steps (see send_alert.py) --------------------------------------------

    async def replay(
        self, principal: Principal, operation: str, request_id: str, request: Mapping[str, object]
    ) -> Alert | None:
        """The alert an earlier call with this request_id created, if any; RequestIdReused
        when that call's `request` (see `alert_request`) was another one."""
        if not request_id:
            return None
        async with self._uow() as uow:
            key = await uow.idempotency.find(principal.access_id, operation, request_id)
            if key is None:
                return None
            check_same_request(key.request_digest, request_digest(request), operation)
            alert = await uow.alerts.get(key.resource_id)
        if alert is None:
            raise NotFound(f"{operation} result", key.resource_id)  # created, then deleted since
        return alert

    async def preflight(self, principal: Principal, new: NewAlert) -> None:
        """The database checks of CreateMyAlert that do not need the media: the device, its
        pose, the event and a position. Run before any byte is stored, so a refused alert
        leaves nothing behind."""
        self.validate(new)
        async with self._single() as uow:  # one statement (two with an event_id): no transaction
            device, pose = await uow.devices.read_with_pose(principal.access_id, new.pose_id)
            if device is None:
                raise NotFound("device")
            if new.pose_id is not None and pose is None:
                raise NotFound("pose", new.pose_id)
            if new.event_id is not None and await uow.events.get_row(new.event_id, group_id=device.group_id) is None:
                raise NotFound("event", new.event_id)
            _resolved_position(device, new, pose)

    async def create_sent_alert(self, principal: Principal, new: NewAlert, request: Mapping[str, object]) -> Alert:
        """SendAlert's alert, once its media is uploaded (idempotent under its own operation;
        `request` is what a retry must repeat, without the media id each attempt gets anew)."""
        return await self._create(principal, "SendAlert", new, access_id=principal.access_id, request=request)

    async def _create(
        self,
        principal: Principal,
        operation: str,
        new: NewAlert,
        *,
        device_id: int | None = None,
        access_id: int | None = None,
        request: Mapping[str, object] | None = None,
    ) -> Alert:
        opened_event = False
        cone_changed = False

        async def create(uow: UnitOfWork) -> Alert:
            nonlocal opened_event, cone_changed
            # Lock first: every other alert of this device waits here until we commit. The
            # same statement reads the media to attach, if any.
            pose = None
            if new.pose_id is None:
                device = await uow.devices.lock(device_id=device_id, access_id=access_id, media_id=new.media_id)
            else:  # the pose and its masks come with the lock, in the same statement
                device, pose = await uow.devices.lock_with_pose(
                    device_id=device_id, access_id=access_id, media_id=new.media_id, pose_id=new.pose_id
                )
            if device is None:
                if device_id is None:
                    raise NotFound("device")  # the token outlived its device
                raise NotFound("device", device_id)
            _check_media(device, new.media_id)
            if new.pose_id is not None and pose is None:
                raise NotFound("pose", new.pose_id)  # another device's (even of the group), or none
            values = _resolved_position(device, new, pose)
            now = utcnow()
            when = new.capture_time or now
            detections: list[Detection] = list(new.detections)
            if detections and pose is not None:
                detections = unmasked(detections, pose.masks)
            suppressed = bool(new.detections) and not detections
            event_id: int | None
            if suppressed:
                event_id = None  # every box masked: a known false positive, kept for the record only
            elif new.event_id is not None:
                event = await uow.events.get(new.event_id, group_id=device.group_id)
                if event is None:
                    raise NotFound("event", new.event_id)
                event_id = event.id
            elif detections:
                optics = Optics(pose.azimuth if pose is not None else values["azimuth"], device.angle_of_view)
                event_id, opened_event, cone_changed = await self._sequence_of(
                    uow, device, new.pose_id, detections, when, now, values, optics
                )
            else:
                event_id = await self._open_event_of(uow, device, now)
                if event_id is None:
                    event_id = await uow.events.insert(
                        group_id=device.group_id,
                        type=NEW_EVENT_TYPE,
                        lat=values["lat"],
                        lon=values["lon"],
                        start_time=now,
                        is_acknowledged=False,
                        create_time=now,
                        device_id=device.id,
                        pose_id=new.pose_id,
                        last_seen_time=when,
                    )
                    opened_event = True
                else:
                    await uow.events.see_again(event_id, when)
            # Core inserts (no ORM flush); the returned Alert is built from the inserted values.
            fields: dict[str, Any] = dict(
                device_id=device.id,
                group_id=device.group_id,
                event_id=event_id,
                media_id=new.media_id,
                localization=new.localization,
                create_time=now,
                **values,
            )
            if new.detections or new.pose_id is not None or new.capture_time is not None:
                # Only boxed (or posed, or timed) alerts name the new columns: the plain
                # alert's INSERT stays the statement it was.
                fields.update(
                    pose_id=new.pose_id,
                    capture_time=new.capture_time,
                    boxes=encode_detections(new.detections),
                    suppressed=suppressed,
                )
            return Alert(id=await uow.alerts.insert(**fields), **fields)

        if request is None:  # the target device is part of an admin's request
            request = alert_request(new) if device_id is None else alert_request(new, device_id=device_id)
        alert, created = await create_once(
            self._uow, principal, operation, new.request_id, request, create, _load_alert
        )
        if created and not alert.suppressed:
            if self._event_activity is not None and alert.event_id is not None:
                when = alert.capture_time or alert.create_time
                self._event_activity.event_seen(alert.group_id, alert.event_id, when, fuse=opened_event or cone_changed)
            await self._tell_listeners(alert, new_event=opened_event)
        return alert

    async def _sequence_of(
        self,
        uow: UnitOfWork,
        device: DeviceForAlert,
        pose_id: int | None,
        detections: list[Detection],
        when: datetime,
        now: datetime,
        values: dict[str, float],
        optics: Optics,
    ) -> tuple[int, bool, bool]:
        """(event id, opened, cone changed) of a boxed alert: the open event it continues, else a new one."""
        candidates = await uow.events.open_of_device(
            device.id, since=when - self._relaxation, until=when + self._relaxation
        )
        event = continued_event(
            candidates,
            detections,
            pose_id=pose_id,
            when=when,
            relaxation=self._relaxation,
            iou_threshold=self.rules.iou_threshold,
        )
        if event is not None:
            changes = continued_event_values(event, detections, when, optics)
            if changes:
                await uow.events.update_sequence(event.id, **changes)
            return event.id, False, "azimuth" in changes or "cone_angle" in changes
        event_id = await uow.events.insert(
            group_id=device.group_id,
            type=NEW_EVENT_TYPE,
            lat=values["lat"],
            lon=values["lon"],
            start_time=now,
            is_acknowledged=False,
            create_time=now,
            device_id=device.id,
            pose_id=pose_id,
            **new_event_values(detections, when, optics),
        )
        return event_id, True, True

    async def _open_event_of(self, uow: UnitOfWork, device: DeviceForAlert, now: datetime) -> int | None:
        """The id of the event the device's latest alert belongs to, if that alert is recent and the event open."""
        latest = await uow.alerts.latest_of_device(device.id)  # with its event, in one query
        if latest is None or now - latest.create_time >= self._relaxation or latest.end_time is not None:
            return None
        return latest.event_id

    async def _tell_listeners(self, alert: Alert, *, new_event: bool) -> None:
        for listener in list(self.listeners):
            try:
                await listener.alert_created(alert, new_event=new_event)
            except Exception:
                logger.exception("alert listener %r failed for alert %s", listener, alert.id)

    # --- read, list, delete ------------------------------------------------------------

    async def get_alert(self, principal: Principal, alert_id: int) -> Alert:
        async with self._single() as uow:
            return await _visible_alert(uow, principal, alert_id)

    async def list_alerts(self, principal: Principal, page: PageRequest, group_id: int | None = None) -> Page[Alert]:
        async with self._single() as uow:
            return await uow.alerts.list_alerts(page, group_id=principal.group_filter, only_group_id=group_id)

    async def list_ongoing_alerts(self, principal: Principal, page: PageRequest) -> Page[Alert]:
        async with self._single() as uow:
            return await uow.alerts.list_ongoing(page, group_id=principal.group_filter)

    async def delete_alert(self, alert_id: int) -> None:
        async with self._uow() as uow:
            alert = await _visible_alert(uow, None, alert_id)
            await uow.alerts.delete(alert.id)  # its notifications go with it (ON DELETE CASCADE)
            await uow.commit()

    def validate(self, new: NewAlert, *, now: datetime | None = None) -> None:
        """Every check that needs no database (SendAlert runs it before storing a byte)."""
        v = Violations()
        check_detections(v, new.detections, self.rules.max_boxes)
        if new.capture_time is not None:
            now = now or utcnow()
            v.check(
                new.capture_time <= now + self.rules.capture_skew,
                "capture_time",
                f"must not be more than {int(self.rules.capture_skew.total_seconds())} s in the future",
            )
            v.check(
                new.capture_time >= now - self.rules.max_capture_age,
                "capture_time",
                f"must not be more than {int(self.rules.max_capture_age.total_seconds())} s in the past",
            )
        if new.pose_id is not None:
            v.check(new.pose_id > 0, "pose_id", "must be a pose id")
        _validate(new, v)


def _validate(new: NewAlert, v: Violations) -> None:
    check_azimuth(v, new.azimuth)
    check_position(v, new.lat, new.lon)
    check_request_id(v, new.request_id)
    check_localization(v, new.localization)
    v.raise_if_any()


def _check_media(device: DeviceForAlert, media_id: int | None) -> None:
    """`device` is the row of `devices.lock(media_id=...)`: it carries the media's columns."""
    if media_id is None:
        return
    if device.media_id is None:  # no such media in the device's group
        raise NotFound("media", media_id)
    if device.media_device_id != device.id:
        raise InvalidArgument(f"media {media_id} belongs to another device", field="media_id")
    if device.media_bucket_key is None:
        raise FailedPrecondition(f"media {media_id} is not uploaded yet: call UploadMedia first")


def _resolved_position(device: DeviceForAlert, new: NewAlert, pose: PoseOfAlert | None = None) -> dict[str, float]:
    """azimuth, lat and lon: the request's, else the pose's (azimuth), else the device's;
    neither is FAILED_PRECONDITION."""
    values: dict[str, float] = {}
    missing = []
    for name in ("azimuth", "lat", "lon"):
        value = getattr(new, name)
        if value is None and name == "azimuth" and pose is not None:
            value = pose.azimuth
        if value is None:
            value = getattr(device, name)
        if value is None:
            missing.append(name)
        values[name] = value
    if missing:
        raise FailedPrecondition(
            f"no {', '.join(missing)} given and the device has none: set them in the request or on the device"
        )
    return values


async def _visible_alert(uow: UnitOfWork, principal: Principal | None, alert_id: int) -> Alert:
    group_id = principal.group_filter if principal else None
    alert = await uow.alerts.get(alert_id, group_id=group_id)
    if alert is None:
        raise NotFound("alert", alert_id)
    return alert


async def _load_alert(uow: UnitOfWork, alert_id: int) -> Alert | None:
    return await uow.alerts.get(alert_id)
