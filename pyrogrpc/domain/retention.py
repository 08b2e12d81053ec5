"""Media retention (pyro-api #117): delete the stored content of media nobody needs any more.

A media is purged once it is older than the retention (MEDIA_RETENTION_DAYS), uploaded and
not purged yet, unless one of its alerts' events is labelled wildfire smoke or a pose shows it
as its reference picture. Media without alerts, with unlabelled events or events labelled
otherwise are purged. Only the object goes: the row stays with its `purge_time`, so history
stays countable, and GetMediaUrl / DownloadMedia answer NOT_FOUND, reason MEDIA_PURGED.

One replica at a time: a pass runs only while this process holds the `media-purge` lease
(the job_leases row, taken by one atomic conditional upsert on SQLite and PostgreSQL alike),
renewed before every batch; a crashed holder's lease expires after `lease`, then another
replica takes over. Within a process, passes never overlap either.

One batch, in this order, so that a crash anywhere leaves work the next pass finishes:
1. read up to `batch_size` expired media, oldest first (nothing changes);
2. delete their objects one by one (a missing object is no error, so deleting again is fine);
3. one UPDATE sets purge_time on the media whose object is gone, `WHERE purge_time IS NULL`.
A crash between 2 and 3 leaves rows not purged whose object is gone: the next pass deletes
again (a no-op) and marks them. Storage failing at the k-th object: the first k-1 are marked,
the pass stops, the rest wait for the next one. An event labelled wildfire smoke during the
seconds its media's batch is being deleted loses that content (its row is marked purged, so
row and storage still agree).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .clock import utcnow
from .ports import MediaStore, StorageError, UnitOfWorkFactory
from .read_models import ExpiredMedia

logger = logging.getLogger("pyrogrpc.retention")

LEASE_NAME = "media-purge"
KEEP_LABEL = "wildfire_smoke"  # events labelled so keep their media forever
# Far longer than one batch takes (a batch of deletes is seconds), so the lease never lapses
# while its holder works; short enough that a crashed holder delays purges by minutes only.
DEFAULT_LEASE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class PurgePass:
    """What one pass did: media purged, batches run, and whether it ended early (storage
    failing, lease lost, server stopping): the next pass goes on from there."""

    purged: int
    batches: int
    complete: bool


class MediaPurger:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        storage: MediaStore,
        *,
        retention: timedelta,
        batch_size: int,
        holder: str,
        lease: timedelta = DEFAULT_LEASE,
        on_purged: Callable[[int], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        if retention <= timedelta(0) or batch_size < 1:
            raise ValueError("retention must be positive and batch_size at least 1")
        self._uow = uow
        self._storage = storage
        self._retention = retention
        self._batch_size = batch_size
        self._holder = holder
        self._lease = lease
        self._on_purged = on_purged
        self._clock = clock
        self._running = asyncio.Lock()
        self.purged_total = 0  # by this process

    async def purge(self, stopping: asyncio.Event | None = None) -> PurgePass | None:
        """Run one pass; None when another replica (or a pass of this process) is running one."""
        if self._running.locked():
            return None
        async with self._running:
            if not await self._renew_lease():
                return None
            try:
                return await self._batches(stopping)
            finally:
                # Shielded: a stop arriving now must not keep the lease held until it expires.
                await asyncio.shield(self._release_lease())

    async def _batches(self, stopping: asyncio.Event | None) -> PurgePass:
        created_before = self._clock() - self._retention
        after: tuple[datetime, int] | None = None
        purged = batches = 0
        while True:
            if batches and ((stopping is not None and stopping.is_set()) or not await self._renew_lease()):
                return PurgePass(purged, batches, complete=False)
            async with self._uow() as uow:
                batch = await uow.retention.expired_media(
                    created_before=created_before, after=after, limit=self._batch_size, keep_label=KEEP_LABEL
                )
            if not batch:
                return PurgePass(purged, batches, complete=True)
            batches += 1
            after = (batch[-1].create_time, batch[-1].id)
            deleted, error = await self._delete_objects(batch)
            marked = await self._mark(deleted)
            purged += marked
            logger.info(
                "retention: purged %d media (batch %d, %d deleted objects, oldest created %s)",
                marked,
                batches,
                len(deleted),
                batch[0].create_time.isoformat(),
            )
            if error is not None:
                logger.warning(
                    "retention: media storage failed (%s); %d media of this batch wait for the next pass",
                    type(error).__name__,
                    len(batch) - len(deleted),
                )
                return PurgePass(purged, batches, complete=False)
            if len(batch) < self._batch_size:
                return PurgePass(purged, batches, complete=True)

    async def _delete_objects(self, batch: Sequence[ExpiredMedia]) -> tuple[list[int], StorageError | None]:
        """Delete each object in turn; the ids whose object is gone, and the error that stopped it."""
        deleted: list[int] = []
        for media in batch:
            try:
                await self._storage.delete(media.bucket_key)
            except StorageError as error:
                return deleted, error
            deleted.append(media.id)
        return deleted, None

    async def _mark(self, media_ids: list[int]) -> int:
        if not media_ids:
            return 0
        async with self._uow() as uow:
            marked = await uow.retention.mark_purged(media_ids, self._clock())
            await uow.commit()
        self.purged_total += marked
        if marked and self._on_purged is not None:
            self._on_purged(marked)
        return marked

    async def _renew_lease(self) -> bool:
        now = self._clock()
        async with self._uow() as uow:
            taken = await uow.retention.take_lease(LEASE_NAME, self._holder, now=now, until=now + self._lease)
            await uow.commit()
        return taken

    async def _release_lease(self) -> None:
        try:
            async with self._uow() as uow:
                await uow.retention.release_lease(LEASE_NAME, self._holder, now=self._clock())
                await uow.commit()
        except Exception as error:  # noqa: BLE001 - database down: the lease expires by itself
            logger.warning("retention: could not release the purge lease (%s); it expires by itself", error)
