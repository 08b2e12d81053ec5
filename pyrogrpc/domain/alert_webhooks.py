"""Alert listener that POSTs every new alert to the "create_alert" webhooks, off the request path.

The background queue retries each POST with backoff and a per-attempt timeout; one job per
webhook, so a dead endpoint never delays the others.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .notifications import CachedLookup, all_rows, iso_utc
from .ports import BackgroundJobs, JsonPoster, UnitOfWorkFactory
from .read_models import Alert
from .records import WebhookRecord

CREATE_ALERT = "create_alert"


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The alert as JSON, with the API's field names."""
    return {
        "id": alert.id,
        "device_id": alert.device_id,
        "group_id": alert.group_id,
        "event_id": alert.event_id,
        "media_id": alert.media_id,
        "azimuth": alert.azimuth,
        "lat": alert.lat,
        "lon": alert.lon,
        "localization": alert.localization,
        "create_time": iso_utc(alert.create_time),
    }


class AlertWebhooks:
    """The webhook list is cached (`CachedLookup`): with no webhook, an alert costs nothing;
    otherwise the POST jobs are queued at once, or after one lookup job when the cache is stale."""

    def __init__(self, uow: UnitOfWorkFactory, queue: BackgroundJobs, poster: JsonPoster):
        self._uow = uow
        self._queue = queue
        self._poster = poster
        self._webhooks = CachedLookup(self._load)

    def tables_changed(self, tables: frozenset[str]) -> None:
        """A commit of this process changed `tables` (see db/session.py)."""
        if "webhooks" in tables:
            self._webhooks.invalidate()

    async def alert_created(self, alert: Alert, *, new_event: bool) -> None:
        webhooks = self._webhooks.peek()
        if webhooks == []:
            return
        payload = alert_payload(alert)
        if webhooks is None:
            self._queue.submit(partial(self._fan_out, payload), name=f"webhooks of alert {alert.id}")
        else:
            self._post_all(webhooks, payload)

    async def _load(self, _key: object = None) -> list[WebhookRecord]:
        async with self._uow() as uow:
            return await all_rows(uow.webhooks, where={"callback": CREATE_ALERT})

    async def _fan_out(self, payload: dict[str, Any]) -> None:
        self._post_all(await self._webhooks.get(), payload)

    def _post_all(self, webhooks: list[WebhookRecord], payload: dict[str, Any]) -> None:
        for webhook in webhooks:
            self._queue.submit(
                partial(self._poster.post_json, webhook.url, payload),
                name=f"webhook {webhook.id} of alert {payload['id']}",
            )
