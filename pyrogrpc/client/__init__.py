"""Python client of pyrogrpc, for cameras, integrators and the `pyrogrpc` CLI.

    async with AsyncPyroClient("server:50051", login="cam-1", password="...") as client:
        alert = await client.send_alert("frame.jpg", azimuth=120.0)

    with PyroClient("server:50051", login="alice", password="...") as client:
        for alert in client.watch_alerts():
            print(alert.id)

Module map: channel.py (keepalive and retry settings), tokens.py (login, refresh),
upload.py (UploadMedia stream), watch.py (auto-resuming WatchAlerts iterator),
async_client.py and sync_client.py (the two faces of the client).
"""

from .async_client import AsyncPyroClient, ServerUnreachable
from .channel import CHANNEL_OPTIONS, DEFAULT_SERVER, SERVICE_CONFIG, open_channel
from .sync_client import PyroClient
from .tokens import MissingCredentials, TokenKeeper
from .upload import CHUNK_SIZE, MediaSource
from .watch import watch_alerts

__all__ = [
    "CHANNEL_OPTIONS",
    "CHUNK_SIZE",
    "DEFAULT_SERVER",
    "SERVICE_CONFIG",
    "AsyncPyroClient",
    "MediaSource",
    "MissingCredentials",
    "PyroClient",
    "ServerUnreachable",
    "TokenKeeper",
    "open_channel",
    "watch_alerts",
]
