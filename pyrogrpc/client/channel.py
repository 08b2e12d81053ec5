"""Channel settings for clients on flaky rural links (cameras behind 3G/4G and NAT).

- Keepalive pings every 30 s keep NAT mappings open and detect a dead link within
  ~40 s; the values match the server's `_SERVER_OPTIONS` (it accepts pings every 10 s
  and without calls), so the server never answers them with GOAWAY "too_many_pings".
- One backoff policy (`BACKOFF`) for every retry of the client: the channel's service
  config retries IDEMPOTENT unary RPCs on UNAVAILABLE (link down, server restarting,
  database briefly unreachable) with it, the upload restart and the WatchAlerts resume
  wait by it too. Idempotent = reads (Get*, List*), Login, Heartbeat, AcknowledgeEvent,
  LabelEvent (it sets a value: sending it twice leaves the same label),
  the Update* RPCs that set values, and the create RPCs that carry a request_id (the
  client fills one in when the caller did not, so a retry never creates a second row).
  Creates without a request_id, deletes, password changes and SendNotification are NOT
  retried: a retry after a lost answer could act twice. UploadMedia (client-streaming)
  and WatchAlerts (server-streaming) restart themselves (see upload.py, watch.py).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool

DEFAULT_SERVER = "localhost:50051"

SERVICES = (
    "pyronear.v1.AccessService",
    "pyronear.v1.SetupService",
    "pyronear.v1.DetectionService",
    "grpc.health.v1.Health",
)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, the client's one retry policy."""

    max_attempts: int = 5
    initial_seconds: float = 0.25
    max_seconds: float = 5.0
    multiplier: float = 2.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based), with 50-100% jitter."""
        return min(self.initial_seconds * self.multiplier ** (retry - 1), self.max_seconds) * random.uniform(0.5, 1.0)

    def service_config_policy(self) -> dict[str, Any]:
        return {
            "maxAttempts": self.max_attempts,
            "initialBackoff": f"{self.initial_seconds}s",
            "maxBackoff": f"{self.max_seconds}s",
            "backoffMultiplier": self.multiplier,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }


BACKOFF = Backoff()

# Creates made idempotent by a request_id (the client fills an empty one in).
REQUEST_ID_CREATES = frozenset({"CreateEvent", "CreateMyMedia", "CreateAlert", "CreateMyAlert"})
_NOT_IDEMPOTENT_UPDATES = frozenset({"UpdateMyPassword", "UpdateUserPassword", "UpdateDevicePassword"})


def is_idempotent(method: str) -> bool:
    """May `method` (a bare RPC name) be sent again after a lost answer?"""
    if method.startswith(("Get", "List")) or method in REQUEST_ID_CREATES:
        return True
    if method.startswith("Update"):
        return method not in _NOT_IDEMPOTENT_UPDATES
    return method in {"Login", "Heartbeat", "AcknowledgeEvent", "LabelEvent", "Check"}


def _methods(service: str) -> list[str]:
    return [method.name for method in descriptor_pool.Default().FindServiceByName(service).methods]


def _retried_methods() -> list[dict[str, str]]:
    from grpc_health.v1 import health_pb2  # noqa: F401  (registers grpc.health.v1 in the pool)

    from pyronear.v1 import access_service_pb2, detection_service_pb2, setup_service_pb2  # noqa: F401

    return [
        {"service": service, "method": method}
        for service in SERVICES
        for method in _methods(service)
        if is_idempotent(method)
    ]


SERVICE_CONFIG = {"methodConfig": [{"name": _retried_methods(), "retryPolicy": BACKOFF.service_config_policy()}]}
RETRY_POLICY = SERVICE_CONFIG["methodConfig"][0]["retryPolicy"]

KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]

CHANNEL_OPTIONS = [
    *KEEPALIVE_OPTIONS,
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
    # Reconnect quickly after a link drop instead of the default 20 s first backoff cap.
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 10_000),
]


def open_channel(
    server: str = DEFAULT_SERVER, *, secure: bool = False, root_certificates: bytes | None = None
) -> grpc.aio.Channel:
    """An asyncio channel to `server` ("host:port"); TLS when `secure` (system roots unless given)."""
    if secure:
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        return grpc.aio.secure_channel(server, credentials, options=CHANNEL_OPTIONS)
    return grpc.aio.insecure_channel(server, options=CHANNEL_OPTIONS)
