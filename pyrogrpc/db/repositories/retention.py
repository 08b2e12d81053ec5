"""The media retention purge's statements (domain/retention.py): its lease and its batches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Integer, String, bindparam, exists, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ...domain.read_models import ExpiredMedia
from ..errors import translated_errors
from ..models import Alert, Event, JobLease, Media, Pose, UTCDateTime, table_of

_media = table_of(Media)
_alerts = table_of(Alert)
_events = table_of(Event)
_poses = table_of(Pose)
_leases = table_of(JobLease)


def _take_lease(insert):  # type: ignore[no-untyped-def]  # the dialect's insert()
    """INSERT the lease, or take over the existing row only if it is ours or expired, in one
    statement: PostgreSQL re-checks the WHERE on the row it locked, SQLite has one writer, so
    two replicas never both get a row back."""
    statement = insert(_leases).values(
        name=bindparam("p_name", type_=String),
        holder=bindparam("p_holder", type_=String),
        expire_time=bindparam("p_until", type_=UTCDateTime),
    )
    return statement.on_conflict_do_update(
        index_elements=[_leases.c.name],
        set_={"holder": statement.excluded.holder, "expire_time": statement.excluded.expire_time},
        where=or_(
            _leases.c.holder == statement.excluded.holder,
            _leases.c.expire_time < bindparam("p_now", type_=UTCDateTime),
        ),
    ).returning(_leases.c.holder)


_TAKE_LEASE = {"postgresql": _take_lease(postgresql.insert), "sqlite": _take_lease(sqlite.insert)}
_RELEASE_LEASE = (
    update(_leases)
    .where(_leases.c.name == bindparam("p_name"), _leases.c.holder == bindparam("p_holder"))
    .values(expire_time=bindparam("p_now", type_=UTCDateTime))
)
# Kept: a media whose alerts' event carries the kept label, or a pose's reference picture.
_LABELLED = (
    select(_alerts.c.id)
    .join(_events, _events.c.id == _alerts.c.event_id)
    .where(_alerts.c.media_id == _media.c.id, _events.c.label == bindparam("p_keep_label", type_=String))
)
_POSE_PICTURE = select(_poses.c.id).where(_poses.c.image_media_id == _media.c.id)
# Served by ix_media_unpurged_create_time (partial: purge_time IS NULL), in its order.
_EXPIRED = (
    select(_media.c.id, _media.c.bucket_key, _media.c.create_time)
    .where(
        _media.c.purge_time.is_(None),
        _media.c.create_time < bindparam("p_before", type_=UTCDateTime),
        _media.c.bucket_key.is_not(None),
        ~exists(_LABELLED),
        ~exists(_POSE_PICTURE),
    )
    .order_by(_media.c.create_time, _media.c.id)
    .limit(bindparam("p_limit", type_=Integer))
)
_EXPIRED_AFTER = _EXPIRED.where(
    tuple_(_media.c.create_time, _media.c.id)
    > tuple_(bindparam("p_after_time", type_=UTCDateTime), bindparam("p_after_id", type_=Integer))
)
_MARK_PURGED = (
    update(_media)
    .where(_media.c.id.in_(bindparam("p_ids", expanding=True)), _media.c.purge_time.is_(None))
    .values(purge_time=bindparam("p_now", type_=UTCDateTime))
)


class RetentionRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def take_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
        statement = _TAKE_LEASE[self.session.get_bind().dialect.name]
        params = {"p_name": name, "p_holder": holder, "p_until": until, "p_now": now}
        async with translated_errors():
            return (await self.session.execute(statement, params)).first() is not None

    async def release_lease(self, name: str, holder: str, *, now: datetime) -> None:
        async with translated_errors():
            await self.session.execute(_RELEASE_LEASE, {"p_name": name, "p_holder": holder, "p_now": now})

    async def expired_media(
        self, *, created_before: datetime, after: tuple[datetime, int] | None, limit: int, keep_label: str
    ) -> Sequence[ExpiredMedia]:
        params: dict[str, object] = {"p_before": created_before, "p_limit": limit, "p_keep_label": keep_label}
        if after is not None:
            params |= {"p_after_time": after[0], "p_after_id": after[1]}
        async with translated_errors():
            rows = (await self.session.execute(_EXPIRED if after is None else _EXPIRED_AFTER, params)).all()
        return [ExpiredMedia(row.id, row.bucket_key, row.create_time) for row in rows]

    async def mark_purged(self, media_ids: Sequence[int], now: datetime) -> int:
        async with translated_errors():
            result = await self.session.execute(_MARK_PURGED, {"p_ids": list(media_ids), "p_now": now})
        return int(result.rowcount)  # type: ignore[attr-defined]
