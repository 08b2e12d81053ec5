"""Domain errors: what went wrong in business terms. `pyrogrpc.api.errors` maps them to status codes."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error a use case raises on purpose; the message is safe to show the client."""


class Unauthenticated(DomainError):
    pass


class PermissionDenied(DomainError):
    pass


class NotFound(DomainError):
    """Also raised for rows of another group, so callers cannot probe for their existence."""

    def __init__(self, resource: str, resource_id: object | None = None):
        self.resource = resource
        self.resource_id = resource_id
        suffix = f" {resource_id}" if resource_id is not None else ""
        super().__init__(f"{resource}{suffix} not found")


class MediaPurged(NotFound):
    """ErrorInfo reason MEDIA_PURGED: the retention policy deleted the media's stored content
    (domain/retention.py); its row remains, with its purge_time."""

    def __init__(self, media_id: int, retention_days: int):
        super().__init__("stored content of media", media_id)
        policy = f"after {retention_days} days of retention" if retention_days else "by the retention policy"
        self.args = (f"stored content of media {media_id} was purged {policy}",)


class AlreadyExists(DomainError):
    pass


class RequestIdReused(AlreadyExists):
    """A request_id already served a different request (ErrorInfo reason REQUEST_ID_REUSED).

    Answering with the first result would tell the client its new request was done."""


class FailedPrecondition(DomainError):
    pass


class UserOwnsDevices(FailedPrecondition):
    """A user who owns devices cannot change group: its devices would stay in the old one.
    (ErrorInfo reason USER_OWNS_DEVICES.)"""


class Unavailable(DomainError):
    pass


class ResourceExhausted(DomainError):
    pass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidArgument(DomainError):
    """Bad input; `violations` name each offending field (google.rpc.BadRequest)."""

    def __init__(self, violations: list[FieldViolation] | FieldViolation | str, field: str | None = None):
        if isinstance(violations, str):
            violations = [FieldViolation(field or "", violations)]
        elif isinstance(violations, FieldViolation):
            violations = [violations]
        self.violations = list(violations)
        super().__init__(
            "; ".join(f"{v.field}: {v.description}" if v.field else v.description for v in self.violations)
        )


class DeadlineExceeded(DomainError):
    """A wait the server bounds itself ran out (not the client's own deadline)."""


class TooManyUploads(ResourceExhausted):
    """ErrorInfo reason TOO_MANY_UPLOADS: the caller's (or the server's) concurrent upload cap is reached."""


class UploadStalled(DeadlineExceeded):
    """ErrorInfo reason UPLOAD_STALLED: the client sent nothing for the server's idle timeout."""
