"""Optional error reporting (Sentry, SENTRY_DSN) and product analytics (PostHog, POSTHOG_KEY).

Each is enabled only when its variable is set, and its package is imported only then: both
live in the `observability` extra, never required. A variable set without its package stops
the server at start with an error naming the variable, rather than silently reporting nothing.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

from .config import ConfigError, Settings

logger = logging.getLogger("pyrogrpc.observability")

_INSTALL_HINT = "install it with: pip install 'pyrogrpc[observability]'"


def _require(module: str, package: str, variable: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{variable} is set but the {package!r} package is not installed; {_INSTALL_HINT}") from None


class PosthogAlerts:
    """Alert listener: one analytics event per new alert (the client batches in a thread, never blocks)."""

    def __init__(self, client: Any):
        self._client = client

    async def alert_created(self, alert, *, new_event: bool) -> None:
        self._client.capture(
            distinct_id=f"device-{alert.device_id}",
            event="alert-created",
            properties={
                "alert_id": alert.id,
                "event_id": alert.event_id,
                "group_id": alert.group_id,
                "new_event": new_event,
            },
        )


class Observability:
    """What `init_observability` enabled; `alert_listeners` go into the AlertService."""

    def __init__(self, *, sentry: bool = False, posthog_client: Any = None):
        self.sentry = sentry
        self.posthog_client = posthog_client

    @property
    def alert_listeners(self) -> list[PosthogAlerts]:
        return [PosthogAlerts(self.posthog_client)] if self.posthog_client is not None else []

    def shutdown(self) -> None:
        """Flush the analytics events still queued."""
        if self.posthog_client is not None:
            try:
                self.posthog_client.shutdown()
            except Exception:
                logger.warning("posthog shutdown failed", exc_info=True)


def init_observability(settings: Settings) -> Observability:
    """Enable what the settings ask for; raise ConfigError when a package is missing."""
    sentry = False
    if settings.sentry_dsn:
        sentry_sdk = _require("sentry_sdk", "sentry-sdk", "SENTRY_DSN")
        # Its default logging integration reports logged errors, e.g. unexpected INTERNAL errors.
        sentry_sdk.init(dsn=settings.sentry_dsn, server_name=settings.sentry_server_name)
        sentry = True
        logger.info("Sentry error reporting enabled")
    posthog_client = None
    if settings.posthog_key:
        posthog = _require("posthog", "posthog", "POSTHOG_KEY")
        posthog_client = posthog.Posthog(settings.posthog_key)
        logger.info("PostHog analytics enabled")
    return Observability(sentry=sentry, posthog_client=posthog_client)
