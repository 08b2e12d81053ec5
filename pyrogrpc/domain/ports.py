"""The interfaces the domain owns and the adapters implement (ports).

The use cases depend on these Protocols only; `pyrogrpc/db` (SQLAlchemy), `pyrogrpc/storage`,
`pyrogrpc/notify` and `db/notify_pg.py` implement them, and `server.py` plugs the
implementations in. Nothing here knows SQL, HTTP or gRPC, so `tests/unit` runs the use
cases against in-memory fakes of the same Protocols.

Records. Repositories of the CRUD resources (groups, accesses, users, devices, sites,
installations, webhooks, recipients, events, media, notifications) hand back *records*
(records.py: a Protocol per resource, attributes named as the API's fields). A use case may
change a record's attributes; the unit of work's `commit()` stores the change. Alerts, the
hot path, come back as the immutable `read_models.Alert`.

Lists filter with `where`: field name -> required value (e.g. `{"group_id": 3}`), so no
query language leaks into the domain.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from .clock import monotonic
from .geometry import Box
from .paging import Page, PageRequest
from .read_models import (
    Alert,
    AlertOfDevice,
    DeviceForAlert,
    ExpiredMedia,
    IncidentChangeRow,
    IncidentEvent,
    PoseOfAlert,
    StoredRequest,
)
from .records import (
    AccessRecord,
    DeviceRecord,
    EventRecord,
    GroupRecord,
    IncidentRecord,
    InstallationRecord,
    MediaRecord,
    NotificationRecord,
    OcclusionMaskRecord,
    PoseRecord,
    RecipientRecord,
    SiteRecord,
    UserRecord,
    WebhookRecord,
)
from .sequences import OpenEvent

Record = Any
"""A row with no record Protocol of its own (e.g. a heartbeat's device with its login)."""

R = TypeVar("R", covariant=True)


# --- repositories ---------------------------------------------------------------------


class Repository(Protocol[R]):
    """What every repository offers, for records of type R (records.py); `group_id=None`
    means no group filter (admins)."""

    async def get(self, row_id: int, *, group_id: int | None = None, for_update: bool = False) -> R | None: ...

    async def list(
        self, page: PageRequest, *, where: Mapping[str, Any] | None = None, group_id: int | None = None
    ) -> Page[R]: ...

    async def create(self, **fields: Any) -> R:
        """Insert a row with these fields, flushed so it has its id."""
        ...

    async def delete(self, row: Any) -> None:
        """Delete now (flushed): a row still referenced raises FailedPrecondition here."""
        ...


class GroupRepository(Repository[GroupRecord], Protocol):
    async def get_by_name(self, name: str) -> GroupRecord | None: ...


class AccessRepository(Repository[AccessRecord], Protocol):
    async def get_by_login(self, login: str) -> AccessRecord | None: ...

    async def scopes_and_groups(self, access_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
        """access id -> (scope, group_id) of those of `access_ids` that exist, in one query."""
        ...


class UserRepository(Repository[UserRecord], Protocol):
    async def get_by_access_id(self, access_id: int, *, for_update: bool = False) -> UserRecord | None: ...


class Identified(Protocol):
    """Anything with an id (records, read models)."""

    @property
    def id(self) -> int: ...


class PoseRepository(Repository[PoseRecord], Protocol):
    async def list_of_device(self, page: PageRequest, device_id: int) -> Page[PoseRecord]: ...

    async def all_of_device(self, device_id: int) -> Sequence[PoseRecord]: ...

    async def of_devices(self, device_ids: Sequence[int]) -> Mapping[int, Sequence[PoseRecord]]: ...

    async def set_image(self, pose: Any, media_id: int, now: datetime) -> PoseRecord: ...


class OcclusionMaskRepository(Repository[OcclusionMaskRecord], Protocol):
    async def add_box(self, pose_id: int, box: Box) -> OcclusionMaskRecord: ...

    async def list_of_pose(self, page: PageRequest, pose_id: int) -> Page[OcclusionMaskRecord]: ...

    async def of_device(self, device_id: int, pose_id: int | None = None) -> Sequence[OcclusionMaskRecord]: ...


class IdempotencyRepository(Protocol):
    async def find(self, access_id: int, operation: str, request_id: str) -> StoredRequest | None: ...

    async def remember(
        self, access_id: int, operation: str, request_id: str, resource_id: int, request_digest: str
    ) -> None: ...


class DeviceRepository(Repository[DeviceRecord], Protocol):
    async def get_by_access_id(self, access_id: int) -> DeviceRecord | None: ...

    async def ping(self, access_id: int, now: datetime) -> Record | None:
        """Set last_ping_time of the device of `access_id`; the device's fields and its `login`."""
        ...

    async def lock(
        self, *, device_id: int | None = None, access_id: int | None = None, media_id: int | None = None
    ) -> DeviceForAlert | None:
        """The device (by id or by its access), locked until the commit, with the media to attach."""
        ...

    async def list_installed_at(self, site_id: int, now: datetime, page: PageRequest) -> Page[DeviceRecord]: ...

    async def lock_with_pose(
        self, *, device_id: int | None = None, access_id: int | None = None, media_id: int | None = None, pose_id: int
    ) -> tuple[DeviceForAlert | None, PoseOfAlert | None]:
        """lock(), plus the pose `pose_id` with its masks if it is the device's (else None)."""
        ...

    async def read_with_pose(
        self, access_id: int, pose_id: int | None
    ) -> tuple[DeviceForAlert | None, PoseOfAlert | None]:
        """The device of `access_id` and its pose `pose_id` with masks, without locking."""
        ...


class EventRepository(Repository[EventRecord], Protocol):
    async def insert(self, **values: Any) -> int:
        """Insert one event; its id (no record built: the alert path only needs the id)."""
        ...

    async def get_row(self, row_id: int, *, group_id: int | None = None) -> EventRecord | None:
        """As get(), read-only (no tracked record)."""
        ...

    async def list_events(
        self, page: PageRequest, *, group_id: int | None, only_group_id: int | None = None, label: str | None = None
    ) -> Page[EventRecord]: ...

    async def list_unlabeled(self, page: PageRequest, *, group_id: int | None = None) -> Page[EventRecord]: ...

    async def open_of_device(self, device_id: int, *, since: datetime, until: datetime) -> list[OpenEvent]:
        """The device's open boxed events last seen within [since, until] (event sequences)."""
        ...

    async def update_sequence(self, event_id: int, **values: Any) -> None: ...

    async def see_again(self, event_id: int, when: datetime) -> None:
        """Move the event's last_seen_time forward to `when` (never back)."""
        ...

    async def list_past(self, page: PageRequest, *, group_id: int | None = None) -> Page[EventRecord]: ...

    async def list_unacknowledged(self, page: PageRequest, *, group_id: int | None = None) -> Page[EventRecord]: ...


class IncidentRepository(Repository[IncidentRecord], Protocol):
    """Incidents (domain/incidents.py). Fusion runs with the group locked (`lock_group`)."""

    async def lock_group(self, group_id: int) -> bool:
        """Lock the group's row until the commit (fusion of a group is serialized); False when
        the group does not exist."""
        ...

    async def event(self, event_id: int) -> IncidentEvent | None: ...

    async def events_of(self, incident_ids: Sequence[int]) -> list[IncidentEvent]: ...

    async def open_of_group(self, group_id: int, *, seen_since: datetime) -> Sequence[IncidentRecord]:
        """The group's open incidents seen since then, oldest first (tracked records)."""
        ...

    async def assign(self, event_ids: Sequence[int], incident_id: int | None) -> None: ...

    async def detach(self, incident_id: int, event_id: int, now: datetime) -> None: ...

    async def detachments(self, event_ids: Sequence[int]) -> set[tuple[int, int]]:
        """(event id, incident id) of the detachments of these events."""
        ...

    async def record_change(self, incident_id: int, group_id: int, kind: str, now: datetime) -> None: ...

    async def see_again(self, event_id: int, when: datetime) -> bool:
        """Move the last_seen_time of the event's incident forward; False when the event is in no
        open incident."""
        ...

    async def unfused(self, *, seen_since: datetime, limit: int) -> list[tuple[int, int]]:
        """(group id, event id) of camera events seen since then that are in no incident."""
        ...

    async def groups_with_overdue(self, cutoff: datetime) -> list[int]: ...

    async def close_overdue(self, group_id: int, cutoff: datetime, now: datetime) -> list[int]:
        """Close the group's open incidents last seen before `cutoff`; their ids."""
        ...

    async def list_incidents(
        self,
        page: PageRequest,
        *,
        group_id: int | None,
        only_group_id: int | None = None,
        seen_since: datetime | None = None,
        started_before: datetime | None = None,
        open_only: bool = False,
    ) -> Page[IncidentRecord]: ...


class MediaRepository(Repository[MediaRecord], Protocol):
    async def list_media(
        self, page: PageRequest, *, group_id: int | None, only_group_id: int | None = None
    ) -> Page[MediaRecord]: ...

    async def add_for_device(self, access_id: int, media_type: str, now: datetime) -> MediaRecord | None: ...

    async def get_of_device(self, media_id: int, access_id: int) -> MediaRecord | None:
        """The media if it belongs to the device of `access_id` (so to its group too)."""
        ...

    async def set_content(self, media_id: int, **content: Any) -> MediaRecord | None: ...

    async def get_row(self, row_id: int, *, group_id: int | None = None) -> MediaRecord | None:
        """As get(), read-only (no tracked record): for hot paths."""
        ...


class AlertRepository(Protocol):
    async def get(self, alert_id: int, *, group_id: int | None = None) -> Alert | None: ...

    async def insert(self, **values: Any) -> int: ...

    async def latest_of_device(self, device_id: int) -> AlertOfDevice | None: ...

    async def first_of_event(self, event_id: int) -> Alert | None: ...

    async def list_alerts(
        self, page: PageRequest, *, group_id: int | None, only_group_id: int | None = None
    ) -> Page[Alert]: ...

    async def list_of_event(self, page: PageRequest, event_id: int) -> Page[Alert]: ...

    async def list_ongoing(self, page: PageRequest, *, group_id: int | None = None) -> Page[Alert]: ...

    async def after(
        self, alert_id: int, *, up_to: int | None = None, group_id: int | None = None, limit: int = 500
    ) -> Sequence[Alert]:
        """Alerts with `alert_id < id <= up_to`, oldest first."""
        ...

    async def delete(self, alert_id: int) -> None: ...


class RetentionRepository(Protocol):
    """The media retention purge (domain/retention.py): its lease and its two statements."""

    async def take_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
        """Hold lease `name` until `until` if it is free, expired at `now`, or already `holder`'s;
        False when another holder has it. Atomic: two callers never both get it."""
        ...

    async def release_lease(self, name: str, holder: str, *, now: datetime) -> None:
        """End `holder`'s lease at `now` (a no-op when someone else holds it)."""
        ...

    async def expired_media(
        self, *, created_before: datetime, after: tuple[datetime, int] | None, limit: int, keep_label: str
    ) -> Sequence[ExpiredMedia]:
        """Uploaded, unpurged media created before `created_before`, oldest first, strictly after
        the (create_time, id) `after`; not those a pose shows, nor those with an alert whose
        event is labelled `keep_label`."""
        ...

    async def mark_purged(self, media_ids: Sequence[int], now: datetime) -> int:
        """Set purge_time on those not purged yet; how many it set."""


class IncidentChangeRepository(Protocol):
    """incident_changes, read by the WatchIncidents hub (domain/incident_watch.py)."""

    async def after(
        self, change_id: int, *, up_to: int | None = None, group_id: int | None = None, limit: int = 500
    ) -> Sequence[IncidentChangeRow]:
        """Changes with `change_id < id <= up_to`, oldest first."""
        ...

    async def incidents(self, incident_ids: Sequence[int]) -> Sequence[IncidentRecord]:
        """The incidents of these ids that still exist."""
        ...


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Commit horizon of a table (see db/commit_horizon.py): every id up to
    `allocated_id` is settled once none of `writers` is still running."""

    allocated_id: int
    writers: frozenset[str]
    taken_at: float = field(default_factory=monotonic)


class CommitHorizon(Protocol):
    async def checkpoint(self) -> Checkpoint: ...

    async def writers_left(self, checkpoint: Checkpoint) -> frozenset[str]: ...


class UnitOfWork(Protocol):
    """One transaction and the repositories sharing it. Leaving without `commit()` rolls back;
    database failures surface as domain errors (AlreadyExists, FailedPrecondition, Unavailable)."""

    # Read-only members (properties), so an adapter may return subtypes of these Protocols.
    @property
    def groups(self) -> GroupRepository: ...

    @property
    def accesses(self) -> AccessRepository: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    @property
    def devices(self) -> DeviceRepository: ...

    @property
    def sites(self) -> Repository[SiteRecord]: ...

    @property
    def installations(self) -> Repository[InstallationRecord]: ...

    @property
    def webhooks(self) -> Repository[WebhookRecord]: ...

    @property
    def recipients(self) -> Repository[RecipientRecord]: ...

    @property
    def events(self) -> EventRepository: ...

    @property
    def media(self) -> MediaRepository: ...

    @property
    def alerts(self) -> AlertRepository: ...

    @property
    def notifications(self) -> Repository[NotificationRecord]: ...

    @property
    def poses(self) -> PoseRepository: ...

    @property
    def occlusion_masks(self) -> OcclusionMaskRepository: ...

    @property
    def retention(self) -> RetentionRepository: ...

    @property
    def incidents(self) -> IncidentRepository: ...

    @property
    def incident_changes(self) -> IncidentChangeRepository: ...

    @property
    def alert_horizon(self) -> CommitHorizon: ...

    @property
    def incident_change_horizon(self) -> CommitHorizon: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...

    async def flush(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


# --- media storage ----------------------------------------------------------------------


class StorageError(Exception):
    """Base of all storage errors."""


class StorageUnavailable(StorageError):
    """The backend cannot be reached or refuses us (network, credentials, disk)."""


class StorageMissing(StorageError):
    """The configured place of the media (the bucket) does not exist: a set-up error, not an outage."""


class ObjectNotFound(StorageError):
    """No object under that key."""


class PresignNotSupported(StorageError):
    """The backend has no URLs to hand out (local folder)."""


class ObjectWriter(Protocol):
    """Streams one object into storage; nothing is visible before `commit()`; leaving the
    `async with` block without a commit aborts (nothing is left behind)."""

    key: str

    @property
    def committed(self) -> bool: ...

    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> None: ...

    async def abort(self) -> None: ...

    async def __aenter__(self) -> ObjectWriter: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class MediaStore(Protocol):
    """Where media content lives (local folder, S3): storage/base.py's MediaStorage."""

    def make_key(self, media_id: int, extension: str, now: datetime | None = None) -> str: ...

    async def open_writer(self, key: str, content_type: str) -> ObjectWriter: ...

    def read(self, key: str, chunk_size: int = ...) -> AsyncGenerator[bytes, None]: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def presigned_url(self, key: str, expires_in: timedelta) -> str: ...


# --- outbound notifications ----------------------------------------------------------------


class DeliveryError(Exception):
    """A notification could not be delivered.

    ``permanent=True`` means retrying cannot help (bad chat id, bad URL, 4xx); the queue
    then gives up at once instead of hammering the remote side.
    """

    def __init__(self, message: str, *, permanent: bool = False, status_code: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.status_code = status_code


class MessageSender(Protocol):
    """Sends a text to a chat (Telegram)."""

    async def send_message(self, chat_id: str, text: str) -> None: ...


class JsonPoster(Protocol):
    """POSTs a JSON payload to a URL (webhooks)."""

    async def post_json(self, url: str, payload: dict[str, Any]) -> None: ...


Job = Callable[[], Any]
"""A coroutine function run later by the background queue."""


class BackgroundJobs(Protocol):
    """Runs jobs after the call returned, retrying DeliveryErrors that are not permanent."""

    def submit(self, job: Job, *, name: str) -> bool: ...


class RemoteWakeups(Protocol):
    """Wake-ups between replicas (PostgreSQL: `PgWakeups`); None in single-process setups."""

    async def start(self, on_wake: Callable[[str | None], None]) -> None: ...

    async def stop(self) -> None: ...

    def announce(self, payload: str) -> None: ...
