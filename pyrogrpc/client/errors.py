"""Typed client exceptions carrying the server's `google.rpc` details.

Every failed call of `AsyncPyroClient` raises a `PyroError` subclass chosen by status code
(`NotFound`, `InvalidArgument`, ...). Each is still a `grpc.aio.AioRpcError` (same `code()`,
`details()`, trailing metadata), so code written against raw gRPC errors keeps working,
and adds what the server put in the `grpc-status-details-bin` trailer:

    try:
        await client.create_user("x", "short", group_id=1)
    except InvalidArgument as error:
        error.reason                # "INVALID_ARGUMENT" (google.rpc.ErrorInfo.reason)
        error.field_violations      # [FieldViolation(field="password", description="...")]
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class PyroError(grpc.aio.AioRpcError):
    """A call the server refused or could not serve."""

    def __init__(self, error: grpc.aio.AioRpcError):
        super().__init__(
            error.code(),
            error.initial_metadata(),
            error.trailing_metadata(),
            error.details(),
            error.debug_error_string(),
        )
        self.reason: str | None = None
        self.domain: str | None = None
        self.field_violations: list[FieldViolation] = []
        status = rpc_status.from_call(error)  # AioRpcError has the call's accessors
        for detail in status.details if status is not None else ():
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                self.reason, self.domain = info.reason, info.domain
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                self.field_violations = [FieldViolation(v.field, v.description) for v in bad_request.field_violations]

    @property
    def message(self) -> str:
        return self.details() or ""

    def __str__(self) -> str:
        return f"{self.code().name}: {self.message}"


class Unauthenticated(PyroError):
    """Missing, expired or revoked token, or bad credentials."""


class PermissionDenied(PyroError):
    """The caller's scope may not call this RPC."""


class NotFound(PyroError):
    """No such row, or a row of another group."""


class AlreadyExists(PyroError):
    pass


class InvalidArgument(PyroError):
    """Bad input; `field_violations` names each bad field."""


class FailedPrecondition(PyroError):
    pass


class ResourceExhausted(PyroError):
    pass


class Unavailable(PyroError):
    """Server, database or storage unreachable: retry later."""


class DeadlineExceeded(PyroError):
    pass


_BY_CODE: dict[grpc.StatusCode, type[PyroError]] = {
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def typed_error(error: grpc.aio.AioRpcError) -> PyroError:
    """The typed exception of a failed call (itself when already typed)."""
    if isinstance(error, PyroError):
        return error
    return _BY_CODE.get(error.code(), PyroError)(error)
