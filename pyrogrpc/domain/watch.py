"""Live streams of a table's new rows (WatchAlerts, WatchIncidents), fanned out in memory by
one hub per feed and server.

A `WatchFeed` says what a hub streams: rows of one table whose ids increase in commit order
(but for late commits, below), each row of one group. `AlertFeed` (alerts) and
`IncidentChangeFeed` (incident_changes, domain/incident_watch.py) are the two feeds; the
text below says "alert" for a row of the feed.

Protocol of a stream (what `WatchHub.watch` yields):

1. a heartbeat at once, carrying the resume point: the request's `after_alert_id`, or if
   it was unset the hub's cursor (every alert up to it is settled, so resuming from it
   loses nothing);
2. the replay: visible alerts with `after_alert_id < id <= cursor-at-registration`, read
   from the table in pages (no transaction is held while the client reads);
3. live alerts with larger ids, pushed by the hub into the stream's bounded buffer, in
   increasing id order, plus heartbeats: no stream stays silent longer than
   `heartbeat_seconds` (one hub-wide timer, so no timer is armed per message).
Every item carries `resume_after_alert_id`, the last alert id sent on the stream. Replay
and live part cannot overlap or leave a hole: registration reads the cursor and the hub
advances it while fanning out, both without yielding to the event loop in between.

The hub. One background task ("pump") runs one query per wake-up for all watchers
(`alerts.after(cursor)`), then pushes each new alert to the admins' streams and to the
streams of the alert's group; nothing polls the database per watcher. Wake-ups come from
`rows_committed` (for alerts: `alert_created`, the AlertService listener, called after
commit), from other replicas through `RemoteWakeups` (PostgreSQL LISTEN/NOTIFY, see
db/notify_pg.py; one channel per hub), and from a slow safety poll, so a lost
notification only delays delivery.

Late commits. Ids are drawn in order but may commit out of order (PostgreSQL: 7 may
commit after 8, or never). The hub fans out only a gap-free prefix: an id is delivered
once every smaller id is either delivered or settled as never coming. When a gap shows
up, the hub takes a commit-horizon checkpoint (db/commit_horizon.py behind the
CommitHorizon port: the sequence's last value, then the transactions holding a write lock
on the feed's table) and holds later ids until those transactions have all ended; a fresh
query then shows the late alert, or the gap is permanent (rollback, deleted row). This was chosen over the alternatives because:
- a fixed grace period would skip an alert whose transaction outlives it, and delay every
  rolled-back id by the full grace period even when nothing is in flight;
- a per-alert commit sequence needs a schema change and a write serialized across all
  replicas on the alert path.
Checkpoints cost a `pg_locks` read, only while a gap is held (polled every
`gap_poll_seconds`; the late alert's own `alert_created` usually wakes the hub first).
`max_gap_wait_seconds` bounds the hold if a transaction that wrote `alerts` stays open
(e.g. a forgotten psql session): the hub then moves on, logs a warning, and an alert that
commits even later is in the table (ListAlerts) but not on the streams. On SQLite writers
are serialized, so gaps are always permanent and never held.

Back-pressure. The hub never waits for a watcher: a buffer holding `buffer_size` items is
a reader too slow to keep up, and that stream ends with ResourceExhausted (the client
resumes from its last id, replaying from the table). A cancelled stream unregisters in
its `finally`; watchers own no task, so nothing outlives them.

The cursor starts at the horizon when the hub starts (alerts before are history, served
by replays). If the pump keeps failing (database down) for `unavailable_after_seconds`,
streams end with Unavailable rather than going silently stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from .access_check import AccessCheck
from .clock import utcnow
from .errors import DomainError, InvalidArgument, ResourceExhausted, Unauthenticated, Unavailable
from .ports import Checkpoint, CommitHorizon, RemoteWakeups, UnitOfWork, UnitOfWorkFactory
from .principal import Principal
from .read_models import Alert

logger = logging.getLogger("pyrogrpc.watch")


class FeedRow(Protocol):
    """What the hub reads of a row: its id (the stream's order and resume point) and its group."""

    @property
    def id(self) -> int: ...

    @property
    def group_id(self) -> int: ...


RowT = TypeVar("RowT", bound=FeedRow)


class WatchFeed(Protocol[RowT]):
    """A table the hub streams: how to read its rows after a cursor and its commit horizon."""

    noun: str  # what a row is, in messages: "alert", "incident change"
    id_field: str  # the id's name in the contract: "alert_id" -> after_alert_id, resume_after_alert_id

    async def after(
        self, uow: UnitOfWork, after_id: int, *, up_to: int | None, group_id: int | None, limit: int
    ) -> Sequence[RowT]:
        """Rows with `after_id < id <= up_to` (of `group_id`, None: every group), oldest first."""
        ...

    def horizon(self, uow: UnitOfWork) -> CommitHorizon: ...

    def streamed(self, row: RowT) -> bool:
        """False: the cursor moves past the row, but no stream ever gets it."""
        ...


class AlertFeed:
    noun = "alert"
    id_field = "alert_id"

    async def after(
        self, uow: UnitOfWork, after_id: int, *, up_to: int | None, group_id: int | None, limit: int
    ) -> Sequence[Alert]:
        return await uow.alerts.after(after_id, up_to=up_to, group_id=group_id, limit=limit)

    def horizon(self, uow: UnitOfWork) -> CommitHorizon:
        return uow.alert_horizon

    def streamed(self, row: Alert) -> bool:
        return not row.suppressed  # every box masked: never streamed


@dataclass(frozen=True, slots=True)
class WatchItem(Generic[RowT]):
    """One stream message: a row, or a heartbeat when `row` is None. The hub hands the same
    item of a live row to every stream, so layers above may cache what they build from it."""

    row: RowT | None
    resume_after_id: int
    server_time: datetime | None = None


class _Watcher(Generic[RowT]):
    __slots__ = ("buffer", "capacity", "error", "floor", "group_id", "heartbeat_due", "last_sent", "principal", "ready")

    def __init__(self, principal: Principal, floor: int, capacity: int):
        self.principal = principal
        self.group_id = principal.group_filter  # None: admin, sees every group
        self.floor = floor  # the hub's cursor at registration: the replay ends here
        self.buffer: deque[WatchItem[RowT]] = deque()
        self.capacity = capacity
        self.ready = asyncio.Event()
        self.error: DomainError | None = None
        self.last_sent = time.monotonic()
        self.heartbeat_due = False

    def fail(self, error: DomainError) -> None:
        self.error = error
        self.buffer.clear()
        self.ready.set()


@dataclass(frozen=True, slots=True)
class WatchTuning:
    """The hub's timings and sizes (see the module docstring for what each bounds)."""

    heartbeat_seconds: float = 10.0
    buffer_size: int = 1000
    safety_poll_seconds: float = 5.0
    gap_poll_seconds: float = 0.05
    max_gap_wait_seconds: float = 60.0
    unavailable_after_seconds: float = 15.0
    batch_size: int = 500


class WatchHub(Generic[RowT]):
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        feed: WatchFeed[RowT],
        *,
        remote: RemoteWakeups | None = None,
        accounts: AccessCheck | None = None,
        tuning: WatchTuning = WatchTuning(),
    ):
        self.heartbeat_seconds = tuning.heartbeat_seconds
        self.buffer_size = tuning.buffer_size
        self.safety_poll_seconds = tuning.safety_poll_seconds
        self.gap_poll_seconds = tuning.gap_poll_seconds
        self.max_gap_wait_seconds = tuning.max_gap_wait_seconds
        self.unavailable_after_seconds = tuning.unavailable_after_seconds
        self.batch_size = tuning.batch_size
        self._uow = uow
        self._feed = feed
        self._resume_field = f"resume_after_{feed.id_field}"
        self._remote = remote
        self._accounts = accounts
        self._accounts_changed = accounts.change_event() if accounts is not None else asyncio.Event()
        self._origin = uuid.uuid4().hex[:12]  # tells our own NOTIFYs apart from other replicas'
        self._admins: set[_Watcher[RowT]] = set()
        self._by_group: dict[int, set[_Watcher[RowT]]] = {}
        self._cursor: int | None = None  # every id <= cursor is settled and fanned out
        self._settled = 0  # every id <= settled is committed (visible) or gone for good
        self._checkpoint: Checkpoint | None = None  # taken while a gap is held
        self._abandoned: set[str] = set()  # writers that outlived max_gap_wait_seconds
        self._holding = False
        self._wake = asyncio.Event()
        self._pump_waiters: list[asyncio.Future] = []  # streams waiting for the next pump run
        self._tasks: list[asyncio.Task] = []
        self._stopped = False
        self._stop_requested = asyncio.Event()  # wakes the account check to stop
        self._failing_since: float | None = None
        self.wakeups = 0  # pump runs (tests and benchmarks)
        self.queries = 0  # wake-up queries on the feed's table

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        self._stopped = False
        self._stop_requested.clear()
        self._cursor = await self._initial_cursor()
        self._settled = self._cursor
        self._tasks = [
            asyncio.create_task(self._run(), name=f"pyrogrpc-watch-hub-{self._feed.id_field}"),
            asyncio.create_task(self._heartbeats(), name=f"pyrogrpc-watch-heartbeats-{self._feed.id_field}"),
        ]
        if self._accounts is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._end_revoked_streams(self._accounts), name=f"pyrogrpc-watch-accounts-{self._feed.id_field}"
                )
            )
        if self._remote is not None:
            await self._remote.start(self._on_remote_wake)

    async def stop(self) -> None:
        self._stopped = True
        self._stop_requested.set()
        if self._remote is not None:
            await self._remote.stop()
        # Let a pump or an account check in progress finish its query: cancelling it mid-query
        # can leave the connection (and on SQLite the write lock) in a state that blocks shutdown.
        self._wake.set()
        if self._tasks:
            run, heartbeats, *account_checks = self._tasks
            heartbeats.cancel()
            _, pending = await asyncio.wait([run, *account_checks], timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        error = Unavailable(f"server shutting down: reconnect with the last {self._resume_field}")
        self._fail_all(error)
        _resolve(self._pump_waiters, error)
        self._pump_waiters = []
        self._cursor = None

    @property
    def watcher_count(self) -> int:
        return len(self._admins) + sum(len(watchers) for watchers in self._by_group.values())

    def _watchers(self) -> list[_Watcher[RowT]]:
        return [*self._admins, *(watcher for group in self._by_group.values() for watcher in group)]

    @property
    def cursor(self) -> int | None:
        return self._cursor

    # --- wake-ups --------------------------------------------------------------------

    def rows_committed(self, last_id: int | str = "") -> None:
        """Rows of the feed were committed: wake our pump now, other replicas through NOTIFY."""
        self._wake.set()
        if self._remote is not None:
            self._remote.announce(f"{self._origin}:{last_id}")

    def _on_remote_wake(self, payload: str | None) -> None:
        if payload is None or not payload.startswith(self._origin + ":"):
            self._wake.set()

    # --- streams ---------------------------------------------------------------------

    async def watch(self, principal: Principal, after_id: int | None) -> AsyncGenerator[WatchItem[RowT], None]:
        """`after_id`: the request's after_<id_field> (None: unset)."""
        noun = self._feed.noun
        if after_id is not None and after_id < 0:
            raise InvalidArgument(
                f"must be 0 (every {noun}) or a resume point (an {noun} id); unset: new {noun}s only",
                field=f"after_{self._feed.id_field}",
            )
        if self._stopped:
            raise Unavailable(f"server shutting down: reconnect with the last {self._resume_field}")
        if after_id is None:
            await self._caught_up()  # so the resume point covers every alert committed before now
        watcher = self._register(principal)
        try:
            last = watcher.floor if after_id is None else after_id
            yield WatchItem(None, last, utcnow())
            async for row in self._replay(principal, last, watcher):
                last = row.id
                yield WatchItem(row, last)
            # Live part, inlined: this loop runs once per message and stream.
            buffer, ready = watcher.buffer, watcher.ready
            while True:
                if buffer:
                    item = buffer.popleft()
                    if item.resume_after_id > last:  # else: a resume point ahead of our cursor
                        last = item.resume_after_id
                        watcher.last_sent, watcher.heartbeat_due = time.monotonic(), False
                        yield item
                elif watcher.error is not None:
                    raise watcher.error
                elif watcher.heartbeat_due:
                    watcher.last_sent, watcher.heartbeat_due = time.monotonic(), False
                    yield WatchItem(None, last, utcnow())
                else:
                    ready.clear()
                    await ready.wait()
        finally:
            self._unregister(watcher)

    async def _replay(self, principal: Principal, after: int, watcher: _Watcher[RowT]) -> AsyncIterator[RowT]:
        feed = self._feed
        while after < watcher.floor:
            async with self._uow() as uow:
                rows = await feed.after(
                    uow, after, up_to=watcher.floor, group_id=principal.group_filter, limit=self.batch_size
                )
            for row in rows:
                if feed.streamed(row):
                    yield row
            if watcher.error is not None:
                raise watcher.error
            if len(rows) < self.batch_size:
                return
            after = rows[-1].id

    async def _heartbeats(self) -> None:
        """One timer for every stream (none per message): every half period, streams idle for at
        least half a period get a heartbeat, so none stays silent longer than a period."""
        while True:
            half = self.heartbeat_seconds / 2
            await asyncio.sleep(half)
            self._mark_idle(time.monotonic() - half)

    def _mark_idle(self, idle_since: float) -> None:
        # A function of its own, so no loop variable keeps a closed stream's watcher alive.
        for watcher in self._watchers():
            if watcher.last_sent <= idle_since:
                watcher.heartbeat_due = True
                watcher.ready.set()

    async def _end_revoked_streams(self, accounts: AccessCheck) -> None:
        """A stream outlives no change to its account (deleted, new scope or group): every
        stream's account is read again every `recheck_seconds` (all in one query), and at once
        after a local change; the streams of a changed account end with Unauthenticated."""
        changed = self._accounts_changed
        while not self._stopped:
            await _first_set(changed, self._stop_requested, timeout=accounts.recheck_seconds)
            changed.clear()
            if not self._stopped:
                await self._end_streams_of_changed_accounts(accounts)

    async def _end_streams_of_changed_accounts(self, accounts: AccessCheck) -> None:
        # A function of its own, so no local keeps a closed stream's watcher alive between runs.
        watchers = self._watchers()
        if not watchers:
            return
        try:
            revoked = await accounts.revoked(watcher.principal for watcher in watchers)
        except DomainError as error:  # the database is down: the pump tells the streams
            logger.debug("accounts of the streams not checked: %s", error)
            return
        except Exception:
            logger.exception("accounts of the streams not checked")
            return
        for watcher in watchers:
            refusal = revoked.get(watcher.principal)
            if refusal is not None:
                self._unregister(watcher)
                watcher.fail(Unauthenticated(refusal))

    async def _caught_up(self) -> None:
        """Wait for a pump run that starts after this call (shared by every stream opening meanwhile)."""
        if self._cursor is None:
            raise Unavailable(f"{self._feed.noun} streams are not available (server starting or stopping)")
        future = asyncio.get_running_loop().create_future()
        self._pump_waiters.append(future)
        self._wake.set()
        await future

    def _register(self, principal: Principal) -> _Watcher[RowT]:
        if self._cursor is None:
            raise Unavailable(f"{self._feed.noun} streams are not available (server starting or stopping)")
        if self._failing_since is not None and time.monotonic() - self._failing_since > self.unavailable_after_seconds:
            raise Unavailable("database unavailable, retry later")
        watcher: _Watcher[RowT] = _Watcher(principal, self._cursor, self.buffer_size)
        if watcher.group_id is None:
            self._admins.add(watcher)
        else:
            self._by_group.setdefault(watcher.group_id, set()).add(watcher)
        return watcher

    def _unregister(self, watcher: _Watcher[RowT]) -> None:
        if watcher.group_id is None:
            self._admins.discard(watcher)
            return
        group = self._by_group.get(watcher.group_id)
        if group is not None:
            group.discard(watcher)
            if not group:
                del self._by_group[watcher.group_id]

    def _fail_all(self, error: DomainError) -> None:
        for watcher in self._watchers():
            self._unregister(watcher)
            watcher.fail(error)

    # --- pump ------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.gap_poll_seconds
        while True:
            wait = self.gap_poll_seconds if self._holding else self.safety_poll_seconds
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass
            if self._stopped:
                return
            self._wake.clear()
            waiters, self._pump_waiters = self._pump_waiters, []
            try:
                await self._pump()
            except asyncio.CancelledError:
                self._pump_waiters.extend(waiters)
                raise
            except Exception as error:  # noqa: BLE001 - keep pumping once the database is back
                _resolve(waiters, Unavailable("database unavailable, retry later"))
                self._pump_failed(error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.safety_poll_seconds)
                self._wake.set()
                continue
            _resolve(waiters)
            backoff = self.gap_poll_seconds
            self._failing_since = None

    def _pump_failed(self, error: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            logger.warning("watch hub cannot read %ss: %s", self._feed.noun, error)
        elif now - self._failing_since > self.unavailable_after_seconds:
            self._fail_all(Unavailable(f"database unavailable: reconnect with the last {self._resume_field}"))

    async def _pump(self) -> None:
        """One wake-up: fetch the rows after the cursor, fan out those no late commit can precede."""
        self.wakeups += 1
        feed = self._feed
        while True:
            async with self._uow() as uow:
                horizon = feed.horizon(uow)
                if self._checkpoint is not None:
                    await self._try_settle(horizon)  # before the query, so the query sees what settled
                self.queries += 1
                assert self._cursor is not None  # set by start(), before the pump runs
                rows = await feed.after(uow, self._cursor, up_to=None, group_id=None, limit=self.batch_size)
                ready = self._gap_free_prefix(rows)
                self._holding = len(ready) < len(rows)
                retry = False
                if not self._holding:
                    self._checkpoint = None
                elif self._checkpoint is None or self._checkpoint.allocated_id < rows[len(ready)].id - 1:
                    self._checkpoint = await self._take_checkpoint(horizon)
                    retry = not self._checkpoint.writers  # settled at once (SQLite, or nothing in flight)
            self._fan_out(ready)
            if not (retry or (not self._holding and len(rows) == self.batch_size)):
                return

    async def _take_checkpoint(self, horizon: CommitHorizon) -> Checkpoint:
        checkpoint = await horizon.checkpoint()
        if self._abandoned & checkpoint.writers:
            return Checkpoint(checkpoint.allocated_id, checkpoint.writers - self._abandoned, checkpoint.taken_at)
        return checkpoint

    async def _try_settle(self, horizon: CommitHorizon) -> None:
        checkpoint = self._checkpoint
        assert checkpoint is not None  # called only while a gap is held
        left = await horizon.writers_left(checkpoint)
        if left and time.monotonic() - checkpoint.taken_at < self.max_gap_wait_seconds:
            return
        if left:
            logger.warning(
                "%s transactions %s still open after %.0f s; streaming past ids <= %s, "
                "a row they commit later is not streamed",
                self._feed.noun,
                sorted(left),
                self.max_gap_wait_seconds,
                checkpoint.allocated_id,
            )
            if len(self._abandoned) > 10_000:
                self._abandoned.clear()
            self._abandoned |= left  # waited for once: later gaps do not wait for them again
        self._settled = max(self._settled, checkpoint.allocated_id)
        self._checkpoint = None

    def _gap_free_prefix(self, rows: Sequence[RowT]) -> Sequence[RowT]:
        cursor = self._cursor
        assert cursor is not None
        for index, row in enumerate(rows):
            if row.id != cursor + 1 and row.id - 1 > self._settled:
                return rows[:index]  # an id in (cursor, row.id) may still commit
            cursor = row.id
        return rows

    def _fan_out(self, rows: Iterable[RowT]) -> None:
        """Synchronous on purpose: registration never sees a half-advanced cursor."""
        streamed = self._feed.streamed
        for row in rows:
            item = WatchItem(row, row.id)
            if not streamed(row):  # the cursor moves past it all the same
                self._cursor = item.resume_after_id
                continue
            for watcher in (*self._admins, *self._by_group.get(row.group_id, ())):
                if len(watcher.buffer) >= watcher.capacity:
                    self._unregister(watcher)
                    watcher.fail(
                        ResourceExhausted(
                            f"stream dropped: more than {watcher.capacity} messages waiting for the client; "
                            f"reconnect with the last {self._resume_field}"
                        )
                    )
                    continue
                watcher.buffer.append(item)
                watcher.ready.set()
            self._cursor = item.resume_after_id

    async def _initial_cursor(self) -> int:
        """The horizon at start: waits (bounded) for transactions already in flight."""
        async with self._uow() as uow:
            checkpoint = await self._feed.horizon(uow).checkpoint()
        deadline = time.monotonic() + self.max_gap_wait_seconds
        while checkpoint.writers and time.monotonic() < deadline:
            await asyncio.sleep(self.gap_poll_seconds)
            async with self._uow() as uow:
                left = await self._feed.horizon(uow).writers_left(checkpoint)
            checkpoint = Checkpoint(checkpoint.allocated_id, left, checkpoint.taken_at)
        return checkpoint.allocated_id


class AlertWatchHub(WatchHub[Alert]):
    """WatchAlerts: the hub of the alerts table, told of new alerts by AlertService."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        remote: RemoteWakeups | None = None,
        accounts: AccessCheck | None = None,
        tuning: WatchTuning = WatchTuning(),
    ):
        super().__init__(uow, AlertFeed(), remote=remote, accounts=accounts, tuning=tuning)

    async def alert_created(self, alert: Alert, *, new_event: bool) -> None:
        """AlertService listener (after commit)."""
        self.rows_committed(alert.id)


def _resolve(futures: list[asyncio.Future], error: Exception | None = None) -> None:
    for future in futures:
        if not future.done():  # a stream cancelled while waiting
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


async def _first_set(first: asyncio.Event, second: asyncio.Event, *, timeout: float) -> None:
    """Return when either event is set, or after `timeout` seconds."""
    waits = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
