"""Python client of pyrogrpc, for cameras, integrators and the `pyrogrpc` CLI.

    async with AsyncPyroClient("server:50051", login="cam-1", password="...") as client:
        alert = await client.send_alert("frame.jpg", azimuth=120.0)

    with PyroClient("server:50051", login="alice", password="...") as client:
        for alert in client.watch_alerts():
            print(alert.id)

Module map: channel.py (keepalive, the one backoff policy, which calls retry),
errors.py (typed exceptions with the google.rpc details), tokens.py (login, refresh),
upload.py (UploadMedia stream), watch.py (auto-resuming WatchAlerts / WatchIncidents iterators),
async_client.py and sync_client.py (the two faces of the client).
"""

from .async_client import AsyncPyroClient, ServerUnreachable
from .channel import BACKOFF, CHANNEL_OPTIONS, DEFAULT_SERVER, SERVICE_CONFIG, Backoff, is_idempotent, open_channel
from .errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PyroError,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    typed_error,
)
from .sync_client import PyroClient
from .tokens import MissingCredentials, TokenKeeper
from .upload import CHUNK_SIZE, MediaSource
from .watch import watch_alerts, watch_incidents

__all__ = [
    "BACKOFF",
    "CHANNEL_OPTIONS",
    "CHUNK_SIZE",
    "DEFAULT_SERVER",
    "SERVICE_CONFIG",
    "AlreadyExists",
    "AsyncPyroClient",
    "Backoff",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "MediaSource",
    "MissingCredentials",
    "NotFound",
    "PermissionDenied",
    "PyroClient",
    "PyroError",
    "ResourceExhausted",
    "ServerUnreachable",
    "TokenKeeper",
    "Unauthenticated",
    "Unavailable",
    "is_idempotent",
    "open_channel",
    "typed_error",
    "watch_alerts",
    "watch_incidents",
]
