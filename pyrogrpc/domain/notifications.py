"""Notifications: Telegram messages to a group's recipients, and their log.

`IncidentNotifier` is an incident listener (domain/incidents.py): when an incident opens and
when it first gets a position (once each, however many cameras see the fire) it hands one
job per recipient to the background queue (render the templates, send, log one Notification
row against the alert that opened the incident's newest event), so a slow or failing Telegram never slows or
fails anything. The recipients of a
group are cached (`CachedLookup`): a group without recipients costs no database query.
`NotificationService` holds the admin RPCs, including the synchronous SendNotification.
The Telegram sender and the queue are injected (server.py builds them; no TELEGRAM_TOKEN:
no sender, and recipients are not notified).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from .errors import FailedPrecondition, NotFound, Unavailable
from .incidents import IncidentView
from .paging import MAX_PAGE_SIZE, Page, PageRequest
from .ports import BackgroundJobs, DeliveryError, MessageSender, Repository, UnitOfWorkFactory
from .read_models import Alert
from .records import NotificationRecord, RecipientRecord
from .templates import render_template

logger = logging.getLogger("pyrogrpc.notifications")


class _Identified(Protocol):
    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=_Identified)

TELEGRAM = "telegram"
# How long a replica reuses the webhooks and recipients it loaded. Changes made through this
# process drop the cache at once (`tables_changed`); another replica's show within this time.
CACHE_SECONDS = 5.0


def iso_utc(value: datetime, timespec: str = "auto") -> str:
    """ISO-8601 in UTC with a "Z" suffix, as in templates and webhook payloads."""
    return value.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


async def all_rows(
    repository: Repository[R], *, where: Mapping[str, Any] | None = None, group_id: int | None = None
) -> list[R]:
    """Every row matching `where`, page by page (recipients, webhooks: a handful)."""
    rows: list[R] = []
    page = PageRequest(size=MAX_PAGE_SIZE)
    while True:
        result = await repository.list(page, where=where, group_id=group_id)
        rows.extend(result.items)
        if not result.next_page_token:
            return rows
        page = PageRequest(size=MAX_PAGE_SIZE, before_id=result.items[-1].id)


class CachedLookup:
    """Values loaded from the database per key, reused for `ttl` seconds; `invalidate()` drops
    them all (a load that started before the invalidation does not refill the cache)."""

    def __init__(self, load: Callable[[Any], Awaitable[Any]], ttl: float = CACHE_SECONDS):
        self._load = load
        self._ttl = ttl
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._loading: dict[Hashable, asyncio.Future] = {}
        self._generation = 0

    def peek(self, key: Hashable = None) -> Any:
        """The cached value, or None when it is missing or stale."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    async def get(self, key: Hashable = None) -> Any:
        value = self.peek(key)
        if value is not None:
            return value
        loading = self._loading.get(key)
        if loading is None:  # one query for a burst of alerts, not one each
            loading = self._loading[key] = asyncio.ensure_future(self._refill(key, self._generation))
            loading.add_done_callback(lambda done: self._loading.pop(key) if self._loading.get(key) is done else None)
        return await asyncio.shield(loading)

    async def _refill(self, key: Hashable, generation: int) -> Any:
        expires = time.monotonic() + self._ttl
        value = await self._load(key)
        if generation == self._generation:
            self._entries[key] = (expires, value)
        return value

    def invalidate(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._loading.clear()  # loads in flight may have read the old rows


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    message: str

    @property
    def text(self) -> str:
        return f"{self.subject}\n{self.message}"


def render(
    recipient: RecipientRecord, alert: Alert, device_name: str, incident: IncidentFacts | None = None
) -> RenderedMessage:
    """The recipient's templates filled for `alert` (and its incident); ValueError for a broken
    template. For an incident, the position and the link are added as lines of their own when
    the message template does not place them."""
    values: dict[str, object] = {
        "alert_id": alert.id,
        "event_id": alert.event_id,
        "date": iso_utc(alert.create_time, "seconds"),
        "device_id": alert.device_id,
        "device_name": device_name,
        "incident_id": "",
        "position": "",
        "incident_link": "",
    }
    if incident is not None:
        values.update(incident_id=incident.id, position=incident.position, incident_link=incident.link)
    message = render_template(recipient.message_template, values)
    if incident is not None:
        template = recipient.message_template
        if "position" not in template:
            message += f"\nPosition: {incident.position}"
        if incident.link and "incident_link" not in template:
            message += f"\n{incident.link}"
    return RenderedMessage(render_template(recipient.subject_template, values), message)


@dataclass(frozen=True)
class IncidentFacts:
    """What an incident notification says of the incident."""

    id: int
    position: str  # "43.60510, 3.87670 (± 250 m)", or why there is none yet
    link: str  # INCIDENT_LINK_TEMPLATE filled, or ""


def incident_facts(incident: IncidentView, link_template: str | None) -> IncidentFacts:
    if incident.lat is not None and incident.lon is not None:
        position = f"{incident.lat:.5f}, {incident.lon:.5f}"
        if incident.uncertainty_m is not None:
            position += f" (± {incident.uncertainty_m:.0f} m)"
    else:
        cameras = len(incident.device_ids)
        position = f"not located yet (seen by {cameras} camera{'s' if cameras != 1 else ''})"
    link = link_template.format(incident_id=incident.id) if link_template else ""
    return IncidentFacts(incident.id, position, link)


class _Delivery:
    """One queue job: send once, then log the row. A retry after a failed log does not send again."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        telegram: MessageSender,
        alert_id: int,
        recipient: RecipientRecord,
        rendered: RenderedMessage,
    ):
        self._uow = uow
        self._telegram = telegram
        self._alert_id = alert_id
        self._recipient_id = recipient.id
        self._chat_id = recipient.address
        self._rendered = rendered
        self._sent = False

    async def __call__(self) -> None:
        if not self._sent:
            await self._telegram.send_message(self._chat_id, self._rendered.text)
            self._sent = True
        try:
            await log_notification(self._uow, self._alert_id, self._recipient_id, self._rendered)
        except FailedPrecondition:
            # The alert or the recipient was deleted meanwhile: nothing left to log against.
            logger.warning(
                "notification of alert %s to recipient %s sent but not logged: row deleted",
                self._alert_id,
                self._recipient_id,
            )


async def log_notification(
    uow_factory: UnitOfWorkFactory, alert_id: int, recipient_id: int, rendered: RenderedMessage
) -> NotificationRecord:
    async with uow_factory() as uow:
        row = await uow.notifications.create(
            alert_id=alert_id, recipient_id=recipient_id, subject=rendered.subject, message=rendered.message
        )
        await uow.commit()
    return row


class IncidentNotifier:
    """Incident listener: an incident's opening and its first position notify every Telegram
    recipient of its group, once each."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        queue: BackgroundJobs,
        telegram: MessageSender | None,
        *,
        link_template: str | None = None,
    ):
        self._uow = uow
        self._queue = queue
        self._telegram = telegram
        self._link_template = link_template
        self._recipients = CachedLookup(self._load_recipients)  # group id -> its recipients

    def tables_changed(self, tables: frozenset[str]) -> None:
        """A commit of this process changed `tables` (see db/session.py)."""
        if "recipients" in tables:
            self._recipients.invalidate()

    async def incident_opened(self, incident: IncidentView) -> None:
        self._submit(incident, "opened")

    async def incident_positioned(self, incident: IncidentView) -> None:
        self._submit(incident, "positioned")

    def _submit(self, incident: IncidentView, kind: str) -> None:
        if self._telegram is None or self._recipients.peek(incident.group_id) == []:
            return
        facts = incident_facts(incident, self._link_template)
        self._queue.submit(
            partial(self._fan_out, incident.group_id, incident.event_ids, facts),
            name=f"notify recipients of incident {incident.id} ({kind})",
        )

    async def _load_recipients(self, group_id: int) -> list[RecipientRecord]:
        async with self._uow() as uow:
            return await all_rows(uow.recipients, group_id=group_id)

    async def _fan_out(self, group_id: int, event_ids: Sequence[int], facts: IncidentFacts) -> None:
        recipients = await self._recipients.get(group_id)
        telegram = self._telegram
        if not recipients or telegram is None:
            return
        async with self._uow() as uow:
            # The templates and the log row name an alert: the one that opened the incident's
            # newest event (the alert whose fusion opened or located the incident).
            alert = await uow.alerts.first_of_event(max(event_ids)) if event_ids else None
            if alert is None:
                return  # its alerts were deleted meanwhile
            device = await uow.devices.get(alert.device_id)
        device_name = device.access.login if device is not None else str(alert.device_id)
        for recipient in recipients:
            if recipient.notification_type != TELEGRAM:
                continue
            try:
                rendered = render(recipient, alert, device_name, facts)
            except ValueError as error:
                logger.error("recipient %s not notified of incident %s: %s", recipient.id, facts.id, error)
                continue
            job = _Delivery(self._uow, telegram, alert.id, recipient, rendered)
            self._queue.submit(job, name=f"telegram incident {facts.id} to recipient {recipient.id}")


class NotificationService:
    def __init__(self, uow: UnitOfWorkFactory, telegram: MessageSender | None):
        self._uow = uow
        self._telegram = telegram

    async def send_notification(self, alert_id: int, recipient_id: int) -> NotificationRecord:
        async with self._uow() as uow:
            alert = await uow.alerts.get(alert_id)
            if alert is None:
                raise NotFound("alert", alert_id)
            recipient = await uow.recipients.get(recipient_id)
            if recipient is None:
                raise NotFound("recipient", recipient_id)
            device = await uow.devices.get(alert.device_id)
        if recipient.notification_type != TELEGRAM:
            raise FailedPrecondition(
                f"recipient {recipient_id} uses an unsupported channel {recipient.notification_type!r}"
            )
        if self._telegram is None:
            raise FailedPrecondition("the server has no Telegram credentials (TELEGRAM_TOKEN is not set)")
        try:
            rendered = render(recipient, alert, device.access.login if device is not None else str(alert.device_id))
        except ValueError as error:
            raise FailedPrecondition(f"recipient {recipient_id} has a broken template: {error}") from None
        try:
            await self._telegram.send_message(recipient.address, rendered.text)
        except DeliveryError as error:
            # 4xx (e.g. unknown chat): retrying cannot help; otherwise Telegram is unreachable.
            if error.permanent:
                raise FailedPrecondition(f"Telegram refused the message: {error}") from None
            raise Unavailable(f"Telegram is unreachable, retry later: {error}") from None
        return await log_notification(self._uow, alert_id, recipient_id, rendered)

    async def get_notification(self, notification_id: int) -> NotificationRecord:
        async with self._uow() as uow:
            notification = await uow.notifications.get(notification_id)
        if notification is None:
            raise NotFound("notification", notification_id)
        return notification

    async def list_notifications(self, page: PageRequest) -> Page[NotificationRecord]:
        async with self._uow() as uow:
            return await uow.notifications.list(page)

    async def delete_notification(self, notification_id: int) -> None:
        async with self._uow() as uow:
            notification = await uow.notifications.get(notification_id)
            if notification is None:
                raise NotFound("notification", notification_id)
            await uow.notifications.delete(notification)
            await uow.commit()
