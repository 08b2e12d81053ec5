"""The one place where exceptions become gRPC statuses.

Domain errors carry the client-facing message; InvalidArgument adds google.rpc.BadRequest
field violations and every error adds a google.rpc.ErrorInfo reason, both in the standard
`grpc-status-details-bin` trailer (read them with `grpc_status.rpc_status.from_call`).
Anything unexpected is logged with its traceback and answered INTERNAL without details.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_interceptor import AsyncServerInterceptor

from ..domain import errors
from ..domain.ports import StorageUnavailable
from .calls import CallsInFlight

logger = logging.getLogger("pyrogrpc.api")

ERROR_DOMAIN = "pyronear.v1"

_STATUS_BY_ERROR: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (StorageUnavailable, grpc.StatusCode.UNAVAILABLE),
    (NotImplementedError, grpc.StatusCode.UNIMPLEMENTED),  # generated base servicer of an RPC not built yet
)


def status_for(error: Exception) -> tuple[grpc.StatusCode, str, status_pb2.Status]:
    """Code, message and rich status for an exception raised by a servicer."""
    code, message = grpc.StatusCode.INTERNAL, "internal error"
    for error_type, status_code in _STATUS_BY_ERROR:
        if isinstance(error, error_type):
            code, message = status_code, str(error) or status_code.name.lower()
            break
    if isinstance(error, StorageUnavailable):
        message = "media storage unavailable, retry later"
    elif isinstance(error, NotImplementedError):
        message = "method not implemented"
    status = status_pb2.Status(code=code.value[0], message=message)
    if code is not grpc.StatusCode.INTERNAL:
        status.details.append(_pack(error_details_pb2.ErrorInfo(reason=_reason(error), domain=ERROR_DOMAIN)))
    if isinstance(error, errors.InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in error.violations
            ]
        )
        status.details.append(_pack(bad_request))
    return code, message, status


async def abort_with(context: grpc.aio.ServicerContext, error: Exception) -> None:
    code, message, status = status_for(error)
    if code is grpc.StatusCode.INTERNAL:
        logger.exception("unexpected error", exc_info=error)
    await context.abort(code, message, trailing_metadata=(("grpc-status-details-bin", status.SerializeToString()),))


def _pack(message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _reason(error: Exception) -> str:
    """UPPER_SNAKE_CASE of the error class, e.g. NotFound -> NOT_FOUND."""
    name = type(error).__name__
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name)).upper()


class _MalformedRequest:
    """Stands in for a request whose bytes are not a valid protobuf message."""

    def __init__(self, reason: str):
        self.reason = reason

    def error(self) -> errors.InvalidArgument:
        return errors.InvalidArgument(f"request is not a valid protobuf message: {self.reason}")


def _tolerant(deserialize):
    # grpc would answer UNKNOWN for undecodable bytes before any interceptor runs; a marker
    # lets intercept() answer INVALID_ARGUMENT instead (INTERNAL/UNKNOWN never come from input).
    def deserialize_or_mark(data: bytes):
        try:
            return deserialize(data)
        except Exception as error:  # noqa: BLE001 - DecodeError and friends
            return _MalformedRequest(type(error).__name__)

    return deserialize_or_mark


async def _checked(requests):
    async for request in requests:
        if isinstance(request, _MalformedRequest):
            raise request.error()
        yield request


class ErrorInterceptor(AsyncServerInterceptor):
    """Outermost interceptor: turns any exception of a handler (or of the auth check) into a
    status, including requests whose bytes do not decode. Being the wrapper of every call, it
    also counts the handlers running in `calls` (one wrapper per call instead of two)."""

    def __init__(self, calls: CallsInFlight):
        self.calls = calls

    async def intercept_service(self, continuation, handler_call_details):
        handler = await super().intercept_service(continuation, handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return handler._replace(request_deserializer=_tolerant(handler.request_deserializer))

    async def intercept(self, method, request_or_iterator, context, method_name):
        with self.calls:
            try:
                if isinstance(request_or_iterator, _MalformedRequest):
                    raise request_or_iterator.error()
                if hasattr(request_or_iterator, "__aiter__"):
                    request_or_iterator = _checked(request_or_iterator)
                response = method(request_or_iterator, context)
                if hasattr(response, "__aiter__"):
                    return self._stream(response, context)
                return await response
            except (grpc.aio.AbortError, asyncio.CancelledError):
                raise
            except Exception as error:  # noqa: BLE001 - this is the mapping boundary
                await abort_with(context, error)

    async def _stream(self, responses, context):
        with self.calls:
            try:
                async for response in responses:
                    yield response
            except (grpc.aio.AbortError, asyncio.CancelledError):
                raise
            except Exception as error:  # noqa: BLE001
                await abort_with(context, error)
