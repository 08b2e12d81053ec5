"""Events, media, alerts and notifications."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select

from ..models import Alert, Event, Media, Notification
from .base import Repository


class EventRepository(Repository[Event]):
    model = Event


class MediaRepository(Repository[Media]):
    model = Media


class AlertRepository(Repository[Alert]):
    model = Alert


class NotificationRepository(Repository[Notification]):
    model = Notification

    def _select(self):
        return select(Notification).join(Alert, Alert.id == Notification.alert_id)

    def _group_condition(self, group_id: int) -> ColumnElement[bool]:
        return Alert.group_id == group_id
