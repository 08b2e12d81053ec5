"""Channel settings for clients on flaky rural links (cameras behind 3G/4G and NAT).

- Keepalive pings every 30 s keep NAT mappings open and detect a dead link within
  ~40 s; the values match the server's `_SERVER_OPTIONS` (it accepts pings every 10 s
  and without calls), so the server never answers them with GOAWAY "too_many_pings".
- A service config retries unary RPCs on UNAVAILABLE (link down, server restarting,
  database briefly unreachable) with exponential backoff. Every create RPC a device
  calls carries a request_id, so such a retry never creates a second row.
  UploadMedia (client-streaming) and WatchAlerts (server-streaming) are excluded:
  the client restarts an upload itself (the server accepts a re-upload with the same
  request_id) and the watch iterator resumes from its last alert id.
"""

from __future__ import annotations

import json

import grpc

DEFAULT_SERVER = "localhost:50051"

SERVICES = (
    "pyronear.v1.AccessService",
    "pyronear.v1.SetupService",
    "pyronear.v1.DetectionService",
    "grpc.health.v1.Health",
)
STREAMING_METHODS = (("pyronear.v1.DetectionService", "UploadMedia"), ("pyronear.v1.DetectionService", "WatchAlerts"))

RETRY_POLICY = {
    "maxAttempts": 5,
    "initialBackoff": "0.25s",
    "maxBackoff": "5s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}

SERVICE_CONFIG = {
    "methodConfig": [
        {"name": [{"service": service} for service in SERVICES], "retryPolicy": RETRY_POLICY},
        # A method-level entry overrides its service's: no transparent retry for streams.
        {"name": [{"service": service, "method": method} for service, method in STREAMING_METHODS]},
    ]
}

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
