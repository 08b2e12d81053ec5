"""`watch_alerts` / `watch_incidents`: the WatchAlerts / WatchIncidents stream as an endless
iterator of alerts / incident changes that survives disconnects.

Every stream message carries a resume point (`resume_after_alert_id`,
`resume_after_change_id`); the iterator remembers the last one and, when the stream breaks,
calls the RPC again with it (`after_alert_id`, `after_change_id`): the server replays what
was missed, so the caller sees every visible item once, in id order. Both share one loop
(`_resuming`); a `_Feed` says what differs.

    async for alert in watch_alerts(channel, token):               # new alerts only
    async for alert in watch_alerts(client, after_alert_id=0):     # everything, then live
    async for change in watch_incidents(client, after_change_id=0) # incident changes

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
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
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

    def __init__(self, target: Any, token: str | None, rpc: str):
        self.keeper = getattr(target, "tokens", None)  # AsyncPyroClient's TokenKeeper
        if isinstance(target, grpc.aio.Channel):
            self.stub = detection_service_pb2_grpc.DetectionServiceStub(target)
        elif hasattr(target, rpc):
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


def watch_alerts(
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
    return _resuming(
        _Target(target, token, "WatchAlerts"),
        _ALERTS,
        after_alert_id,
        initial_backoff=initial_backoff,
        max_backoff=max_backoff,
        heartbeat_timeout=heartbeat_timeout,
        max_attempts=max_attempts,
    )


def watch_incidents(
    target: Any,
    token: str | None = None,
    after_change_id: int | None = None,
    *,
    initial_backoff: float = BACKOFF.initial_seconds,
    max_backoff: float = BACKOFF.max_seconds,
    heartbeat_timeout: float = 45.0,
    max_attempts: int | None = None,
) -> AsyncGenerator[detection_pb.IncidentChange, None]:
    """Changes of the incidents visible to the caller (WatchIncidents), forever, each once, in
    change_id order. Arguments as `watch_alerts`; `after_change_id`: None for new changes only,
    0 for every stored change, else a resume point (a change_id)."""
    return _resuming(
        _Target(target, token, "WatchIncidents"),
        _INCIDENTS,
        after_change_id,
        initial_backoff=initial_backoff,
        max_backoff=max_backoff,
        heartbeat_timeout=heartbeat_timeout,
        max_attempts=max_attempts,
    )


@dataclass(frozen=True)
class _Feed:
    """What differs between the watch RPCs: the method, its request, and the message fields."""

    rpc: str
    request: Callable[[int | None], Any]  # resume point -> request
    resume_field: str  # the message's resume point
    payload: str  # the message's field that is not a heartbeat
    noun: str


_ALERTS = _Feed(
    "WatchAlerts",
    lambda after: detection_pb.WatchAlertsRequest(after_alert_id=after),
    "resume_after_alert_id",
    "alert",
    "alert",
)
_INCIDENTS = _Feed(
    "WatchIncidents",
    lambda after: detection_pb.WatchIncidentsRequest(after_change_id=after),
    "resume_after_change_id",
    "change",
    "incident change",
)


async def _resuming(
    target: _Target,
    feed: _Feed,
    resume: int | None,
    *,
    initial_backoff: float,
    max_backoff: float,
    heartbeat_timeout: float,
    max_attempts: int | None,
) -> AsyncGenerator[Any, None]:
    """The stream of `feed`, reconnected from its last resume point whenever it breaks."""
    backoff = initial_backoff
    failures = 0
    while True:
        call = getattr(target.stub, feed.rpc)(feed.request(resume), metadata=await target.metadata())
        last_error: Exception
        try:
            while True:
                async with asyncio.timeout(heartbeat_timeout):
                    message = await call.read()
                if message is grpc.aio.EOF:
                    raise ConnectionError("the server ended the stream")
                failures, backoff, target.refused = 0, initial_backoff, None
                point = getattr(message, feed.resume_field)
                if resume is not None and point <= resume:
                    continue  # nothing new (a heartbeat, or a message already yielded)
                resume = point
                if message.HasField(feed.payload):
                    yield getattr(message, feed.payload)
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
            "connection lost (%s); reconnecting in %.1f s, resuming after %s %s",
            _describe(last_error),
            delay,
            feed.noun,
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
