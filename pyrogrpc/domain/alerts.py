"""Use cases of DetectionService alerts: create (with event grouping), read, list, delete.

Event grouping: an alert without event_id joins the event of the same device's latest
alert when that alert is recent and its event still open; otherwise it opens a new
wildfire event. The device row is locked first, so concurrent alerts of one device are
serialized and can never open two events.

After an alert is committed, every `AlertListener` is told (notifications, webhooks,
live watchers). Listeners run after the commit, never fail the call and are not called
again for an idempotent replay.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from .clock import utcnow
from .errors import FailedPrecondition, InvalidArgument, NotFound
from .idempotency import create_once
from .localization import check_localization
from .paging import Page, PageRequest
from .ports import UnitOfWork, UnitOfWorkFactory
from .principal import Principal
from .read_models import Alert, DeviceForAlert
from .validation import Violations, check_azimuth, check_position, check_request_id

logger = logging.getLogger("pyrogrpc.alerts")

NEW_EVENT_TYPE = "wildfire"


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


class AlertService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        relaxation: timedelta,
        listeners: list[AlertListener] | None = None,
        single_statement_uow: UnitOfWorkFactory | None = None,
    ):
        self._uow = uow
        self._single = single_statement_uow or uow  # reads of one statement (see db/session.py)
        self._relaxation = relaxation
        # Public on purpose: other components (e.g. the WatchAlerts hub) append themselves.
        self.listeners: list[AlertListener] = list(listeners or [])

    # --- create ----------------------------------------------------------------------

    async def create_my_alert(self, principal: Principal, new: NewAlert) -> Alert:
        """An alert of the calling device: its device is found and locked in the one transaction."""
        _validate(new)
        return await self._create(principal, "CreateMyAlert", new, access_id=principal.access_id)

    async def create_alert(self, principal: Principal, device_id: int, new: NewAlert) -> Alert:
        """An alert for any device (admins)."""
        _validate(new)
        return await self._create(principal, "CreateAlert", new, device_id=device_id)

    async def _create(
        self,
        principal: Principal,
        operation: str,
        new: NewAlert,
        *,
        device_id: int | None = None,
        access_id: int | None = None,
    ) -> Alert:
        opened_event = False

        async def create(uow: UnitOfWork) -> Alert:
            nonlocal opened_event
            # Lock first: every other alert of this device waits here until we commit. The
            # same statement reads the media to attach, if any.
            device = await uow.devices.lock(device_id=device_id, access_id=access_id, media_id=new.media_id)
            if device is None:
                if device_id is None:
                    raise NotFound("device")  # the token outlived its device
                raise NotFound("device", device_id)
            _check_media(device, new.media_id)
            values = _resolved_position(device, new)
            now = utcnow()
            event_id: int | None
            if new.event_id is not None:
                event = await uow.events.get(new.event_id, group_id=device.group_id)
                if event is None:
                    raise NotFound("event", new.event_id)
                event_id = event.id
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
                    )
                    opened_event = True
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
            return Alert(id=await uow.alerts.insert(**fields), **fields)

        # What a retry must repeat: every field but request_id (and the target device, for admins).
        request = {name: value for name, value in asdict(new).items() if name != "request_id"}
        if device_id is not None:
            request["device_id"] = device_id
        alert, created = await create_once(
            self._uow, principal, operation, new.request_id, request, create, _load_alert
        )
        if created:
            await self._tell_listeners(alert, new_event=opened_event)
        return alert

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


def _validate(new: NewAlert) -> None:
    v = Violations()
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


def _resolved_position(device: DeviceForAlert, new: NewAlert) -> dict[str, float]:
    """azimuth, lat and lon: the request's, else the device's; neither is FAILED_PRECONDITION."""
    values: dict[str, float] = {}
    missing = []
    for name in ("azimuth", "lat", "lon"):
        value = getattr(new, name)
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
