"""SQLAlchemy models: the tables of the pyronear domain, shared by PostgreSQL and SQLite.

Column names are the API's (`create_time`, `start_time`, ...). Foreign keys say what a
delete does: RESTRICT where a dependent row must be removed first (the API answers
FAILED_PRECONDITION), CASCADE where the dependent row has no meaning alone.
Alembic migrations in `migrations/` produce exactly this schema.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ..domain.clock import utcnow as _utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identity.
BigId = BigInteger().with_variant(Integer, "sqlite")


# The domain's clock; re-exported here because the column defaults use it.
utcnow = _utcnow


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on the way in and out; SQLite would otherwise hand back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _id() -> Mapped[int]:
    return mapped_column(BigId, primary_key=True)


def _create_time() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, default=utcnow, nullable=False)


# sqlite_autoincrement: ids are never reused after a delete, so resume points stay valid.
_TABLE_ARGS = {"sqlite_autoincrement": True}


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (_TABLE_ARGS,)
    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    create_time: Mapped[datetime] = _create_time()


class Access(Base):
    """Credentials of a user or a device; scope is one of admin, user, device."""

    __tablename__ = "accesses"
    __table_args__ = (_TABLE_ARGS,)
    id: Mapped[int] = _id()
    login: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    hashed_password: Mapped[str] = mapped_column(String(100), nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), nullable=False, index=True)
    create_time: Mapped[datetime] = _create_time()


class User(Base):
    __tablename__ = "users"
    __table_args__ = (_TABLE_ARGS,)
    id: Mapped[int] = _id()
    access_id: Mapped[int] = mapped_column(ForeignKey("accesses.id", ondelete="CASCADE"), unique=True, nullable=False)
    create_time: Mapped[datetime] = _create_time()
    access: Mapped[Access] = relationship(lazy="joined", innerjoin=True)


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (_TABLE_ARGS,)
    id: Mapped[int] = _id()
    access_id: Mapped[int] = mapped_column(ForeignKey("accesses.id", ondelete="CASCADE"), unique=True, nullable=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), nullable=False, index=True)
    specs: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    software_hash: Mapped[str | None] = mapped_column(String(128))
    angle_of_view: Mapped[float | None] = mapped_column(Float)
    elevation: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    azimuth: Mapped[float | None] = mapped_column(Float)
    pitch: Mapped[float | None] = mapped_column(Float)
    last_ping_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    create_time: Mapped[datetime] = _create_time()
    access: Mapped[Access] = relationship(lazy="joined", innerjoin=True)


class Pose(Base):
    """A position a camera patrols to; its masks and (SET NULL) its alerts and events follow it."""

    __tablename__ = "poses"
    __table_args__ = (_TABLE_ARGS,)
    id: Mapped[int] = _id()
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True)
    azimuth: Mapped[float] = mapped_column(Float, nullable=False)
    patrol_index: Mapped[int | None] = mapped_column(Integer)
    # SET NULL: deleting a media (admin) must not be blocked by a pose showing it.
    image_media_id: Mapped[int | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"), index=True)
    image_update_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    create_time: Mapped[datetime] = _create_time()


class OcclusionMask(Base):
    """A normalized box of a pose's image where detections are ignored."""

    __tablename__ = "occlusion_masks"
    __table_args__ = (_TABLE_ARGS,)
    id: Mapped[int] = _id()
    pose_id: Mapped[int] = mapped_column(ForeignKey("poses.id", ondelete="CASCADE"), nullable=False, index=True)
    x_min: Mapped[float] = mapped_column(Float, nullable=False)
    y_min: Mapped[float] = mapped_column(Float, nullable=False)
    x_max: Mapped[float] = mapped_column(Float, nullable=False)
    y_max: Mapped[float] = mapped_column(Float, nullable=False)
    create_time: Mapped[datetime] = _create_time()


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("group_id", "name"), _TABLE_ARGS)
    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), nullable=False, index=True)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    geocode: Mapped[str] = mapped_column(String(20), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    create_time: Mapped[datetime] = _create_time()


class Installation(Base):
    __tablename__ = "installations"
    __table_args__ = (_TABLE_ARGS,)
    id: Mapped[int] = _id()
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), nullable=False, index=True)
    start_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_trustworthy: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    create_time: Mapped[datetime] = _create_time()


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_group_id_id", "group_id", "id"),
        # Event grouping of boxed alerts looks up the device's recent open events.
        Index("ix_events_device_id_last_seen_time", "device_id", "last_seen_time"),
        _TABLE_ARGS,
    )
    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    start_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_acknowledged: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    create_time: Mapped[datetime] = _create_time()
    # Sequence of detections (issue 15): whose alerts, from which pose, the cone of the most
    # confident box, and the latest unmasked boxes the next alert is matched against (JSON).
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    pose_id: Mapped[int | None] = mapped_column(ForeignKey("poses.id", ondelete="SET NULL"), index=True)
    azimuth: Mapped[float | None] = mapped_column(Float)
    cone_angle: Mapped[float | None] = mapped_column(Float)
    max_confidence: Mapped[float | None] = mapped_column(Float)
    last_seen_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    latest_boxes: Mapped[str | None] = mapped_column(Text)
    # Triage: label (None = unlabelled), who set it and when.
    label: Mapped[str | None] = mapped_column(String(24))
    labeled_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    label_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The incident the event is part of (domain/incidents.py); NULL until fused.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True)


class Incident(Base):
    """One fire seen by one or more cameras of a group: events whose cones cross (issue 16)."""

    __tablename__ = "incidents"
    __table_args__ = (
        # The closer scans open incidents by last_seen_time.
        Index("ix_incidents_status_last_seen_time", "status", "last_seen_time"),
        _TABLE_ARGS,
    )
    id: Mapped[int] = _id()
    # CASCADE: incidents are derived history; they must not keep a group (with no events left) alive.
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    uncertainty_m: Mapped[float | None] = mapped_column(Float)
    start_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    create_time: Mapped[datetime] = _create_time()
    close_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When it first got a position: set once, drives the once-only "positioned" notification.
    positioned_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True)


class IncidentDetachment(Base):
    """An event a user took out of an incident: fusion never puts it back there."""

    __tablename__ = "incident_detachments"
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True, index=True)
    create_time: Mapped[datetime] = _create_time()


class IncidentChange(Base):
    """One change of an incident, written in the transaction that makes it; WatchIncidents
    streams these rows in id order (the resume point is an id)."""

    __tablename__ = "incident_changes"
    __table_args__ = (Index("ix_incident_changes_group_id_id", "group_id", "id"), _TABLE_ARGS)
    id: Mapped[int] = _id()
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False, index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    change_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Media(Base):
    __tablename__ = "media"
    __table_args__ = (
        Index("ix_media_group_id_id", "group_id", "id"),
        # The retention purge's scan (db/repositories/retention.py): unpurged media by age.
        # Partial, so purged history does not grow it.
        Index(
            "ix_media_unpurged_create_time",
            "create_time",
            "id",
            postgresql_where=text("purge_time IS NULL"),
            sqlite_where=text("purge_time IS NULL"),
        ),
        _TABLE_ARGS,
    )
    id: Mapped[int] = _id()
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"), nullable=False, index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    bucket_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(100))
    upload_request_id: Mapped[str | None] = mapped_column(String(128))
    # SHA-256 of the upload header that succeeded (domain/upload.py); a retry must match it.
    upload_request_digest: Mapped[str | None] = mapped_column(String(64))
    # Pixels of an uploaded image, read from its header (NULL for videos and before upload).
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    create_time: Mapped[datetime] = _create_time()
    # When the retention policy deleted the stored content (None: kept). bucket_key stays: it
    # tells the object that was there, and keeps a purged media from being uploaded again.
    purge_time: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_group_id_id", "group_id", "id"),
        Index("ix_alerts_device_id_id", "device_id", "id"),
        _TABLE_ARGS,
    )
    id: Mapped[int] = _id()
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="RESTRICT"), nullable=False)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), nullable=False)
    # None only for a suppressed alert (every box masked): it joins no event.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="RESTRICT"), index=True)
    media_id: Mapped[int | None] = mapped_column(ForeignKey("media.id", ondelete="RESTRICT"), index=True)
    azimuth: Mapped[float] = mapped_column(Float, nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lon: Mapped[float] = mapped_column(Float, nullable=False)
    localization: Mapped[str] = mapped_column(Text, nullable=False, default="")
    create_time: Mapped[datetime] = _create_time()
    pose_id: Mapped[int | None] = mapped_column(ForeignKey("poses.id", ondelete="SET NULL"), index=True)
    capture_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Detection boxes as sent, JSON [[x_min, y_min, x_max, y_max, confidence], ...]; None: no boxes.
    boxes: Mapped[str | None] = mapped_column(Text)
    suppressed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())


class Webhook(Base):
    __tablename__ = "webhooks"
    __table_args__ = (_TABLE_ARGS,)
    id: Mapped[int] = _id()
    callback: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    create_time: Mapped[datetime] = _create_time()


class Recipient(Base):
    __tablename__ = "recipients"
    __table_args__ = (_TABLE_ARGS,)
    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="RESTRICT"), nullable=False, index=True)
    notification_type: Mapped[str] = mapped_column(String(16), nullable=False)
    address: Mapped[str] = mapped_column(String(255), nullable=False)
    subject_template: Mapped[str] = mapped_column(Text, nullable=False)
    message_template: Mapped[str] = mapped_column(Text, nullable=False)
    create_time: Mapped[datetime] = _create_time()


class Notification(Base):
    """Log of one message sent to one recipient about one alert."""

    __tablename__ = "notifications"
    __table_args__ = (_TABLE_ARGS,)
    id: Mapped[int] = _id()
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False, index=True)
    # SET NULL: deleting a recipient keeps the log of what was sent.
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id", ondelete="SET NULL"), index=True)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    create_time: Mapped[datetime] = _create_time()


class IdempotencyKey(Base):
    """First result of a create called with a client `request_id`; a retry returns it."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("access_id", "operation", "request_id"), _TABLE_ARGS)
    id: Mapped[int] = _id()
    access_id: Mapped[int] = mapped_column(ForeignKey("accesses.id", ondelete="CASCADE"), nullable=False)
    operation: Mapped[str] = mapped_column(String(64), nullable=False)
    request_id: Mapped[str] = mapped_column(String(128), nullable=False)
    resource_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # SHA-256 of the first request (domain/idempotency.py); NULL on keys stored before it existed.
    request_digest: Mapped[str | None] = mapped_column(String(64))
    create_time: Mapped[datetime] = _create_time()


class JobLease(Base):
    """Who runs a job that only one replica at a time may run (the retention purge), and until
    when: taken by one conditional upsert (db/repositories/retention.py), renewed while working,
    free again once expired, so a crashed holder blocks nobody for long."""

    __tablename__ = "job_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128), nullable=False)
    expire_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


def table_of(model: type[Base]) -> Table:
    """The Core table of a model, typed as one (`Model.__table__` is typed as a FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
