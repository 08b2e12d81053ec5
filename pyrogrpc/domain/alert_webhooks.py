"""Webhooks, off the request path: every new alert to the "create_alert" webhooks (an alert
listener); an incident's opening and first position, once each, to the "incident" webhooks
(an incident listener, domain/incidents.py).

The background queue retries each POST with backoff and a per-attempt timeout; one job per
webhook, so a dead endpoint never delays the others.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .incidents import IncidentView
from .notifications import CachedLookup, all_rows, iso_utc
from .ports import BackgroundJobs, JsonPoster, UnitOfWorkFactory
from .read_models import Alert
from .records import WebhookRecord

CREATE_ALERT = "create_alert"
INCIDENT = "incident"


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


def incident_payload(kind: str, incident: IncidentView, link_template: str | None = None) -> dict[str, Any]:
    """{"type": "incident_opened" | "incident_positioned", "incident": {...}} with the API's field names."""
    body: dict[str, Any] = {
        "id": incident.id,
        "group_id": incident.group_id,
        "status": incident.status,
        "lat": incident.lat,
        "lon": incident.lon,
        "uncertainty_m": incident.uncertainty_m,
        "start_time": iso_utc(incident.start_time),
        "last_seen_time": iso_utc(incident.last_seen_time),
        "device_ids": list(incident.device_ids),
        "event_ids": list(incident.event_ids),
        "cones": [
            {
                "event_id": c.event_id,
                "device_id": c.device_id,
                "tower_lat": c.tower_lat,
                "tower_lon": c.tower_lon,
                "azimuth": c.azimuth,
                "angle": c.angle,
            }
            for c in incident.cones
        ],
        "create_time": iso_utc(incident.create_time),
    }
    if link_template:
        body["link"] = link_template.format(incident_id=incident.id)
    return {"type": f"incident_{kind}", "incident": body}


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


class IncidentWebhooks:
    """Incident listener: POSTs `incident_payload` to every "incident" webhook (cached as above)."""

    def __init__(
        self, uow: UnitOfWorkFactory, queue: BackgroundJobs, poster: JsonPoster, *, link_template: str | None = None
    ):
        self._uow = uow
        self._queue = queue
        self._poster = poster
        self._link_template = link_template
        self._webhooks = CachedLookup(self._load)

    def tables_changed(self, tables: frozenset[str]) -> None:
        if "webhooks" in tables:
            self._webhooks.invalidate()

    async def incident_opened(self, incident: IncidentView) -> None:
        await self._send(incident_payload("opened", incident, self._link_template))

    async def incident_positioned(self, incident: IncidentView) -> None:
        await self._send(incident_payload("positioned", incident, self._link_template))

    async def _send(self, payload: dict[str, Any]) -> None:
        webhooks = await self._webhooks.get()  # already off the request path (after fusion)
        for webhook in webhooks:
            self._queue.submit(
                partial(self._poster.post_json, webhook.url, payload),
                name=f"webhook {webhook.id} of incident {payload['incident']['id']} ({payload['type']})",
            )

    async def _load(self, _key: object = None) -> list[WebhookRecord]:
        async with self._uow() as uow:
            return await all_rows(uow.webhooks, where={"callback": INCIDENT})
