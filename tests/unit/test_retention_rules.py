"""MediaPurger (domain/retention.py) against in-memory fakes: the order of a batch, partial
storage failures, the lease lost mid-pass, passes of one process never overlapping."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from pyrogrpc.domain.ports import StorageUnavailable
from pyrogrpc.domain.read_models import ExpiredMedia
from pyrogrpc.domain.retention import MediaPurger, PurgePass

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=40)


class FakeRetention:
    """Media rows (id -> [create_time, key, purge_time]) and one lease."""

    def __init__(self, count: int):
        self.media = {i: [OLD + timedelta(seconds=i), f"key-{i}", None] for i in range(1, count + 1)}
        self.lease: tuple[str, datetime] | None = None
        self.steal_lease_after_reads: int | None = None
        self.reads = 0

    async def take_lease(self, name, holder, *, now, until):
        if self.lease is None or self.lease[0] == holder or self.lease[1] < now:
            self.lease = (holder, until)
            return True
        return False

    async def release_lease(self, name, holder, *, now):
        if self.lease and self.lease[0] == holder:
            self.lease = (holder, now)

    async def expired_media(self, *, created_before, after, limit, keep_label):
        self.reads += 1
        if self.steal_lease_after_reads == self.reads:
            self.lease = ("other-replica", NOW + timedelta(hours=1))
        rows = sorted(
            (created, i, key)
            for i, (created, key, purged) in self.media.items()
            if purged is None and created < created_before and (after is None or (created, i) > after)
        )
        return [ExpiredMedia(i, key, created) for created, i, key in rows[:limit]]

    async def mark_purged(self, media_ids, now):
        marked = [i for i in media_ids if self.media[i][2] is None]
        for i in marked:
            self.media[i][2] = now
        return len(marked)


class FakeUow:
    def __init__(self, retention: FakeRetention):
        self.retention = retention

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def commit(self):
        return None


class FakeStorage:
    def __init__(self, failing: set[str] = frozenset()):
        self.objects: set[str] = set()
        self.failing = set(failing)
        self.deleted: list[str] = []
        self.gate: asyncio.Event | None = None

    async def delete(self, key: str) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if key in self.failing:
            raise StorageUnavailable("down")
        self.deleted.append(key)


def purger(db: FakeRetention, storage: FakeStorage, batch_size: int = 2, counted: list[int] | None = None):
    return MediaPurger(
        lambda: FakeUow(db),  # type: ignore[arg-type, return-value]
        storage,  # type: ignore[arg-type]
        retention=timedelta(days=30),
        batch_size=batch_size,
        holder="me",
        on_purged=None if counted is None else counted.append,
        clock=lambda: NOW,
    )


async def test_a_pass_purges_in_batches_oldest_first_and_counts():
    db, storage, counted = FakeRetention(5), FakeStorage(), []
    assert await purger(db, storage, counted=counted).purge() == PurgePass(purged=5, batches=3, complete=True)
    assert storage.deleted == [f"key-{i}" for i in range(1, 6)] and counted == [2, 2, 1]
    assert all(row[2] == NOW for row in db.media.values())
    assert db.lease == ("me", NOW)  # released


async def test_storage_failing_mid_batch_marks_only_what_is_gone():
    db, storage = FakeRetention(4), FakeStorage(failing={"key-2"})
    assert await purger(db, storage).purge() == PurgePass(purged=1, batches=1, complete=False)
    assert [row[2] for row in db.media.values()] == [NOW, None, None, None]
    storage.failing.clear()
    assert await purger(db, storage).purge() == PurgePass(purged=3, batches=2, complete=True)


async def test_a_lease_taken_by_another_replica_stops_the_pass_at_the_next_batch():
    db, storage = FakeRetention(6), FakeStorage()
    db.steal_lease_after_reads = 1  # another replica got it while the first batch ran
    assert await purger(db, storage).purge() == PurgePass(purged=2, batches=1, complete=False)
    assert await purger(db, storage).purge() is None  # and still holds it


async def test_passes_of_one_process_never_overlap():
    db, storage = FakeRetention(2), FakeStorage()
    storage.gate = asyncio.Event()
    one = purger(db, storage)
    first = asyncio.create_task(one.purge())
    await asyncio.sleep(0)
    assert await one.purge() is None
    storage.gate.set()
    assert (await first) == PurgePass(purged=2, batches=1, complete=True)


def test_retention_must_be_positive():
    with pytest.raises(ValueError):
        MediaPurger(None, None, retention=timedelta(0), batch_size=1, holder="me")  # type: ignore[arg-type]
