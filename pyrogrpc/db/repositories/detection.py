"""Events, media, alerts and notifications."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import ColumnElement, select

from ...domain.paging import Page, PageRequest
from ..models import Alert, Event, Media, Notification
from .base import Repository


class EventRepository(Repository[Event]):
    model = Event

    async def list_past(self, page: PageRequest, *, group_id: int | None = None) -> Page[Event]:
        return await self.list(page, Event.end_time.is_not(None), group_id=group_id)

    async def list_unacknowledged(self, page: PageRequest, *, group_id: int | None = None) -> Page[Event]:
        return await self.list(page, Event.is_acknowledged.is_(False), group_id=group_id)


class MediaRepository(Repository[Media]):
    model = Media

    async def list_media(self, page: PageRequest, *, group_id: int | None, only_group_id: int | None = None) -> Page[Media]:
        """`group_id` is the caller's visibility (None: every group); `only_group_id` the request's
        filter, which can only narrow it."""
        conditions = [] if only_group_id is None else [Media.group_id == only_group_id]
        return await self.list(page, *conditions, group_id=group_id)

    async def key_in_use(self, bucket_key: str) -> bool:
        query = select(Media.id).where(Media.bucket_key == bucket_key).limit(1)
        return (await self.session.execute(query)).first() is not None


class AlertRepository(Repository[Alert]):
    model = Alert

    async def latest_of_device(self, device_id: int) -> Alert | None:
        query = select(Alert).where(Alert.device_id == device_id).order_by(Alert.id.desc()).limit(1)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_of_event(self, page: PageRequest, event_id: int) -> Page[Alert]:
        return await self.list(page, Alert.event_id == event_id)

    async def list_ongoing(self, page: PageRequest, *, group_id: int | None = None) -> Page[Alert]:
        """Alerts whose event has no end_time."""
        ongoing = select(Event.id).where(Event.end_time.is_(None))
        return await self.list(page, Alert.event_id.in_(ongoing), group_id=group_id)

    # --- WatchAlerts (issue 6) ---------------------------------------------------------

    async def after(
        self, alert_id: int, *, up_to: int | None = None, group_id: int | None = None, limit: int = 500
    ) -> Sequence[Alert]:
        """Alerts with `alert_id < id <= up_to`, oldest first: the watch hub's wake-up query and replays."""
        query = select(Alert).where(Alert.id > alert_id)
        if up_to is not None:
            query = query.where(Alert.id <= up_to)
        if group_id is not None:
            query = query.where(Alert.group_id == group_id)
        return (await self.session.execute(query.order_by(Alert.id).limit(limit))).scalars().all()


class NotificationRepository(Repository[Notification]):
    model = Notification

    def _select(self):
        return select(Notification).join(Alert, Alert.id == Notification.alert_id)

    def _group_condition(self, group_id: int) -> ColumnElement[bool]:
        return Alert.group_id == group_id
