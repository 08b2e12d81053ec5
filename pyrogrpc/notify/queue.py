"""In-process background queue for outbound notifications.

Why: Telegram messages and webhook calls must happen off the request path, so
a slow or failing remote side never slows or fails ``CreateAlert``. The queue
is bounded (memory stays bounded when a remote side is down: new jobs are
dropped, with a warning) and each attempt has a timeout (a hung remote side
cannot pin a worker forever).

A job is a zero-argument callable returning an awaitable; it is called again
for each attempt, so every retry gets a fresh coroutine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pyrogrpc.notify.errors import DeliveryError

__all__ = ["BackgroundQueue", "QueueStats"]

logger = logging.getLogger("pyrogrpc.notify")

Job = Callable[[], Awaitable[None]]


@dataclass
class QueueStats:
    """Counters, mostly for tests and metrics.

    ``retried`` counts extra attempts; ``dropped`` counts jobs refused by
    ``submit`` plus jobs abandoned by ``stop`` (queued or cut mid-flight).
    """

    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0


class BackgroundQueue:
    """Bounded queue of async jobs run by a few worker tasks, with retries."""

    def __init__(
        self,
        *,
        max_size: int = 1000,
        workers: int = 4,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        attempt_timeout_seconds: float = 10.0,
    ):
        if max_size < 1 or workers < 1 or max_attempts < 1:
            raise ValueError("max_size, workers and max_attempts must be >= 1")
        self._queue: asyncio.Queue[tuple[Job, str]] = asyncio.Queue(maxsize=max_size)
        self._worker_count = workers
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._attempt_timeout = attempt_timeout_seconds
        self._workers: list[asyncio.Task[None]] = []
        self._stopped = False
        self.stats = QueueStats()

    async def start(self) -> None:
        """Start the workers. Jobs submitted before ``start`` wait for it."""
        if self._stopped:
            raise RuntimeError("BackgroundQueue cannot be restarted after stop()")
        if self._workers:
            return
        self._workers = [
            asyncio.create_task(self._worker(), name=f"pyrogrpc-notify-{i}") for i in range(self._worker_count)
        ]

    def submit(self, job: Job, *, name: str) -> bool:
        """Enqueue ``job``; never blocks, never raises. False when refused."""
        if self._stopped:
            self.stats.dropped += 1
            logger.warning("notification job %r dropped: queue is stopped", name)
            return False
        try:
            self._queue.put_nowait((job, name))
        except asyncio.QueueFull:
            self.stats.dropped += 1
            logger.warning("notification job %r dropped: queue is full (%d jobs)", name, self._queue.maxsize)
            return False
        return True

    @property
    def depth(self) -> int:
        """Jobs waiting for a worker (a metric)."""
        return self._queue.qsize()

    async def join(self) -> None:
        """Wait until every submitted job has finished (succeeded or failed)."""
        await self._queue.join()

    async def stop(self, drain_timeout_seconds: float = 5.0) -> None:
        """Refuse new jobs, let queued ones finish up to the timeout, then cancel."""
        self._stopped = True
        if self._workers:
            try:
                await asyncio.wait_for(self._queue.join(), drain_timeout_seconds)
            except TimeoutError:
                logger.warning("notification queue not drained after %.1fs; cancelling", drain_timeout_seconds)
            for task in self._workers:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self._workers = []
        # Whatever is still queued will never run; account for it so join() returns.
        while not self._queue.empty():
            _, name = self._queue.get_nowait()
            self.stats.dropped += 1
            logger.warning("notification job %r dropped at shutdown", name)
            self._queue.task_done()

    async def _worker(self) -> None:
        while True:
            job, name = await self._queue.get()
            try:
                await self._run(job, name)
            except asyncio.CancelledError:
                self.stats.dropped += 1
                logger.warning("notification job %r cancelled at shutdown", name)
                raise
            finally:
                self._queue.task_done()

    async def _run(self, job: Job, name: str) -> None:
        current = asyncio.current_task()
        for attempt in range(1, self._max_attempts + 1):
            try:
                async with asyncio.timeout(self._attempt_timeout):
                    await job()
            except DeliveryError as exc:
                error: BaseException = exc
                if exc.permanent:
                    self.stats.failed += 1
                    logger.error("notification job %r failed permanently: %s", name, exc)
                    return
            except asyncio.CancelledError as exc:
                # Our own cancellation (stop) must propagate; a CancelledError
                # leaking out of the job itself is just a failed attempt.
                if current is not None and current.cancelling():
                    raise
                error = exc
            except TimeoutError as exc:
                error = exc
            except Exception as exc:  # noqa: BLE001 - any bug in a job must not kill the worker
                error = exc
            else:
                self.stats.succeeded += 1
                return

            reason = _describe(error, self._attempt_timeout)
            if attempt == self._max_attempts:
                self.stats.failed += 1
                logger.error(
                    "notification job %r failed after %d attempts: %s",
                    name,
                    attempt,
                    reason,
                    # A traceback helps for unexpected errors; DeliveryError already says why.
                    exc_info=None if isinstance(error, DeliveryError) else error,
                )
                return
            self.stats.retried += 1
            delay = self._backoff * 2 ** (attempt - 1)
            logger.warning(
                "notification job %r attempt %d/%d failed (%s); retrying in %.2fs",
                name,
                attempt,
                self._max_attempts,
                reason,
                delay,
            )
            # Sleeping in the worker keeps the design simple; the backoff is short
            # compared to the per-attempt timeout, and other workers keep going.
            await asyncio.sleep(delay)


def _describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, TimeoutError) and not isinstance(error, DeliveryError):
        return f"timed out after {timeout:g}s"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
