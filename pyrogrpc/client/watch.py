"""`watch_alerts`: the WatchAlerts stream as an endless iterator of alerts that survives
disconnects.

Every stream message carries `resume_after_alert_id`; the iterator remembers the last one
and, when the stream breaks, calls WatchAlerts again with it as `after_alert_id`: the
server replays what was missed, so the caller sees every visible alert once, in id order.

    async for alert in watch_alerts(channel, token):           # new alerts only
    async for alert in watch_alerts(client, after_alert_id=0): # everything, then live

Reconnects (exponential backoff with jitter, reset once a message arrives) on
UNAVAILABLE (server restarting, link down, database lost), RESOURCE_EXHAUSTED (the server
dropped us for reading too slowly) and on silence longer than `heartbeat_timeout` (the
server sends a heartbeat at least every 15 s, so silence means a dead connection). With
an `AsyncPyroClient` (anything with a `tokens` TokenKeeper) the token is refreshed before
each connection and once after UNAUTHENTICATED. Other errors (INVALID_ARGUMENT,
PERMISSION_DENIED...) are raised: retrying cannot fix them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator
from typing import Any

import grpc

from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import detection_service_pb2_grpc, resources_pb2

from .channel import BACKOFF
from .errors import typed_error

logger = logging.getLogger("pyrogrpc.client.watch")

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})


class _Target:
    """What the iterator needs from its first argument: a stub and call metadata."""

    def __init__(self, target: Any, token: str | None):
        self.keeper = getattr(target, "tokens", None)  # AsyncPyroClient's TokenKeeper
        if isinstance(target, grpc.aio.Channel):
            self.stub = detection_service_pb2_grpc.DetectionServiceStub(target)
        elif hasattr(target, "WatchAlerts"):
            self.stub = target
        else:
            self.stub = target.detection
        self.token = token if token is not None else getattr(target, "token", None)
        self.refused: str | None = None

    async def metadata(self) -> tuple[tuple[str, str], ...]:
        if self.keeper is not None:
            metadata = tuple(await self.keeper.metadata())
            self.token = metadata[0][1].removeprefix("Bearer ")
            return metadata
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    async def refresh_after(self, error: grpc.aio.AioRpcError) -> bool:
        """After UNAUTHENTICATED: True if a new token is worth one more try."""
        if self.keeper is None or self.refused == self.token:
            return False
        self.refused = self.token
        return await self.keeper.refresh_after_refusal(self.token)


async def watch_alerts(
    target: Any,
    token: str | None = None,
    after_alert_id: int | None = None,
    *,
    initial_backoff: float = BACKOFF.initial_seconds,
    max_backoff: float = BACKOFF.max_seconds,
    heartbeat_timeout: float = 45.0,
    max_attempts: int | None = None,
) -> AsyncGenerator[resources_pb2.Alert, None]:
    """Alerts visible to the caller, forever.

    `target`: a `grpc.aio.Channel`, a DetectionService stub, or a client object with a
    `detection` stub (and optionally `tokens`/`token`). `after_alert_id`: None for new
    alerts only, 0 for every visible alert, else a resume point. `max_attempts`: give up
    (raise the last error) after that many failed connections in a row; None: never.
    """
    target = _Target(target, token)
    resume = after_alert_id
    backoff = initial_backoff
    failures = 0
    while True:
        request = detection_pb.WatchAlertsRequest(after_alert_id=resume)
        call = target.stub.WatchAlerts(request, metadata=await target.metadata())
        last_error: Exception
        try:
            while True:
                async with asyncio.timeout(heartbeat_timeout):
                    message = await call.read()
                if message is grpc.aio.EOF:
                    raise ConnectionError("the server ended the stream")
                failures, backoff, target.refused = 0, initial_backoff, None
                if resume is not None and message.resume_after_alert_id <= resume:
                    continue  # nothing new (a heartbeat, or an alert already yielded)
                resume = message.resume_after_alert_id
                if message.HasField("alert"):
                    yield message.alert
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNAUTHENTICATED and await target.refresh_after(error):
                continue  # new token: reconnect at once
            if error.code() not in RETRYABLE:
                raise typed_error(error) from None
            last_error = typed_error(error)
        except (TimeoutError, ConnectionError) as error:
            last_error = error
        finally:
            call.cancel()
        failures += 1
        if max_attempts is not None and failures >= max_attempts:
            raise last_error
        delay = backoff * random.uniform(0.5, 1.0)
        # One line, no traceback: a reconnect is routine on a flaky link.
        logger.warning(
            "connection lost (%s); reconnecting in %.1f s, resuming after alert %s",
            _describe(last_error),
            delay,
            resume,
        )
        await asyncio.sleep(delay)
        backoff = min(backoff * 2, max_backoff)


def _describe(error: Exception) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    if isinstance(error, TimeoutError):
        return "no message from the server for too long"
    return str(error) or type(error).__name__
