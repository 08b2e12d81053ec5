"""Use cases of DetectionService events: create, read, list, update, acknowledge, delete.

An event gathers the alerts that report one fire. Most events are created by the alert
use case (event grouping, see alerts.py); CreateEvent exists for admins and devices that
manage events themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .clock import utcnow
from .errors import FailedPrecondition, InvalidArgument, NotFound
from .idempotency import create_once
from .paging import Page, PageRequest
from .ports import UnitOfWork, UnitOfWorkFactory
from .principal import Principal
from .read_models import Alert
from .records import EventRecord
from .validation import Violations, check_position, check_request_id

UPDATABLE_FIELDS = frozenset({"type", "lat", "lon", "start_time", "end_time"})


class EventService:
    def __init__(self, uow: UnitOfWorkFactory):
        self._uow = uow

    async def create_event(
        self,
        principal: Principal,
        *,
        group_id: int | None,
        type: str | None,
        lat: float,
        lon: float,
        start_time: datetime | None,
        request_id: str = "",
    ) -> EventRecord:
        v = Violations()
        if principal.is_admin:
            v.check(group_id is not None and group_id > 0, "group_id", "is required for admins")
        v.check(type is not None, "type", "must be EVENT_TYPE_WILDFIRE")
        check_position(v, lat, lon)
        check_request_id(v, request_id)
        v.raise_if_any()
        # A device's event always lands in its own group, whatever it asked for.
        target_group = group_id if principal.is_admin and group_id is not None else principal.group_id

        async def create(uow: UnitOfWork) -> EventRecord:
            if await uow.groups.get(target_group) is None:
                raise NotFound("group", target_group)
            return await uow.events.create(
                group_id=target_group, type=type, lat=lat, lon=lon, start_time=start_time or utcnow()
            )

        request = {"group_id": group_id, "type": type, "lat": lat, "lon": lon, "start_time": start_time}
        event, _ = await create_once(self._uow, principal, "CreateEvent", request_id, request, create, _load_event)
        return event

    async def get_event(self, principal: Principal, event_id: int) -> EventRecord:
        async with self._uow() as uow:
            return await visible_event(uow, principal, event_id)

    async def list_events(
        self, principal: Principal, page: PageRequest, group_id: int | None = None, label: str | None = None
    ) -> Page[EventRecord]:
        async with self._uow() as uow:
            return await uow.events.list_events(
                page, group_id=principal.group_filter, only_group_id=group_id, label=label
            )

    async def list_unlabeled_events(self, principal: Principal, page: PageRequest) -> Page[EventRecord]:
        async with self._uow() as uow:
            return await uow.events.list_unlabeled(page, group_id=principal.group_filter)

    async def label_event(self, principal: Principal, event_id: int, label: str | None) -> EventRecord:
        """Set the label, who set it (the calling user) and when; labelling acknowledges."""
        if label is None:
            raise InvalidArgument(
                "must be EVENT_LABEL_WILDFIRE_SMOKE, EVENT_LABEL_OTHER_SMOKE or EVENT_LABEL_OTHER", field="label"
            )
        async with self._uow() as uow:
            user = await uow.users.get_by_access_id(principal.access_id)
            if user is None:
                raise NotFound("user")  # the token outlived its user
            event = await visible_event(uow, principal, event_id, for_update=True)
            event.label = label
            event.labeled_by_user_id = user.id
            event.label_time = utcnow()
            event.is_acknowledged = True
            await uow.commit()
        return event

    async def list_past_events(self, principal: Principal, page: PageRequest) -> Page[EventRecord]:
        async with self._uow() as uow:
            return await uow.events.list_past(page, group_id=principal.group_filter)

    async def list_unacknowledged_events(self, principal: Principal, page: PageRequest) -> Page[EventRecord]:
        async with self._uow() as uow:
            return await uow.events.list_unacknowledged(page, group_id=principal.group_filter)

    async def list_event_alerts(self, principal: Principal, event_id: int, page: PageRequest) -> Page[Alert]:
        async with self._uow() as uow:
            await visible_event(uow, principal, event_id)
            return await uow.alerts.list_of_event(page, event_id)

    async def update_event(self, principal: Principal, event_id: int, changes: Mapping[str, Any]) -> EventRecord:
        v = Violations()
        if "type" in changes:
            v.check(changes["type"] is not None, "event.type", "must be EVENT_TYPE_WILDFIRE")
        if "start_time" in changes:
            v.check(changes["start_time"] is not None, "event.start_time", "is required (it cannot be cleared)")
        check_position(v, changes.get("lat"), changes.get("lon"), prefix="event.")
        v.raise_if_any()
        async with self._uow() as uow:
            event = await visible_event(uow, principal, event_id, for_update=True)
            for name, value in changes.items():
                setattr(event, name, value)
            if event.end_time is not None and event.end_time < event.start_time:
                field = "event.end_time" if "end_time" in changes else "event.start_time"
                raise InvalidArgument("end_time must not be before start_time", field=field)
            await uow.commit()
        return event

    async def acknowledge_event(self, principal: Principal, event_id: int) -> EventRecord:
        async with self._uow() as uow:
            event = await visible_event(uow, principal, event_id, for_update=True)
            event.is_acknowledged = True
            await uow.commit()
        return event

    async def delete_event(self, event_id: int) -> None:
        async with self._uow() as uow:
            event = await visible_event(uow, None, event_id)
            try:
                await uow.events.delete(event)
            except FailedPrecondition:
                raise FailedPrecondition(f"event {event_id} still has alerts: delete them first") from None
            await uow.commit()


async def visible_event(
    uow: UnitOfWork, principal: Principal | None, event_id: int, *, for_update: bool = False
) -> EventRecord:
    """The event if the caller may see it (None: no group limit); another group's is NOT_FOUND."""
    group_id = principal.group_filter if principal else None
    event = await uow.events.get(event_id, group_id=group_id, for_update=for_update)
    if event is None:
        raise NotFound("event", event_id)
    return event


async def _load_event(uow: UnitOfWork, event_id: int) -> EventRecord | None:
    return await uow.events.get(event_id)
