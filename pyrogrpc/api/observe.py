"""Per-call metrics and the access log.

`CallObserver` is the transport-neutral part: `started(method, kind)` when a call begins
and `finished(CallRecord(...))` when its status is known. Another listener (an HTTP or
Connect endpoint) records its calls by calling those two methods with the gRPC method
path and status name, so its calls show up in the same metrics and access log.

`ObserveInterceptor` is the gRPC side: the outermost interceptor, it sees the final
status of every call (the error interceptor inside it has already mapped exceptions),
for streams too (recorded when the stream ends).

The access log has one line per call on the `pyrogrpc.access` logger: method, status,
duration, the caller's access id, scope and group, and the peer. It never carries a
request field or a metadata value, with one exception: the login name of a Login call
(not its password), so failed logins can be traced to the account under attack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_interceptor import AsyncServerInterceptor

from ..domain.principal import Principal
from ..metrics import ServerMetrics
from ..tracing import Tracing
from .auth import principal_or_none

access_logger = logging.getLogger("pyrogrpc.access")

LOGIN_METHOD = "/pyronear.v1.AccessService/Login"
UPLOAD_METHOD = "/pyronear.v1.DetectionService/UploadMedia"
# A login name is at most 100 characters (domain/validation.py); longer input is cut.
_MAX_LOGIN_LOGGED = 100


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call, whatever the transport."""

    method: str  # gRPC path: "/pyronear.v1.AccessService/Login"
    code: str  # status name: "OK", "UNAUTHENTICATED", ...
    duration: float  # seconds
    principal: Principal | None
    peer: str
    kind: str = "unary"  # unary, client_stream, server_stream, bidi_stream
    login: str | None = None  # the login name a Login call tried


def split_method(method: str) -> tuple[str, str]:
    service, _, name = method.lstrip("/").partition("/")
    return service, name


class CallObserver:
    """Records calls into the metrics (when enabled) and the access log.

    Callers pass only methods the server really serves (label values stay bounded)."""

    def __init__(self, metrics: ServerMetrics | None):
        self.metrics = metrics
        # Label children by key: prometheus-client's labels() validates and locks on every call.
        self._started: dict[tuple[str, str], Any] = {}
        self._handled: dict[tuple[str, str, str], Any] = {}
        self._seconds: dict[tuple[str, str], Any] = {}

    def started(self, method: str, kind: str = "unary") -> None:
        if self.metrics is None:
            return
        child = self._started.get((kind, method))
        if child is None:
            child = self._started[(kind, method)] = self.metrics.started.labels(kind, *split_method(method))
        child.inc()

    def finished_over_http(self, method: str, outcome: str, seconds: float) -> None:
        """A call of the HTTP port (Connect, gRPC-Web) ended: `outcome` is a Connect code
        ("ok", "invalid_argument"...), the same names as gRPC's in lower case."""
        self.finished(CallRecord(method, outcome.upper(), seconds, principal_or_none(), peer="http"))

    def finished(self, call: CallRecord) -> None:
        service, name = split_method(call.method)
        if self.metrics is not None:
            handled = self._handled.get((call.kind, call.method, call.code))
            if handled is None:
                handled = self.metrics.handled.labels(call.kind, service, name, call.code)
                self._handled[(call.kind, call.method, call.code)] = handled
            handled.inc()
            seconds = self._seconds.get((call.kind, call.method))
            if seconds is None:
                seconds = self._seconds[(call.kind, call.method)] = self.metrics.handling_seconds.labels(
                    call.kind, service, name
                )
            seconds.observe(call.duration)
        if not access_logger.isEnabledFor(logging.INFO):
            return
        principal = call.principal
        fields: dict[str, Any] = {
            "method": call.method,
            "code": call.code,
            "duration_ms": round(call.duration * 1000, 3),
            "principal_id": principal.access_id if principal else None,
            "scope": principal.scope.value if principal else None,
            "group_id": principal.group_id if principal else None,
            "peer": call.peer,
        }
        text = (
            f"{name} {call.code} {fields['duration_ms']}ms principal={fields['principal_id'] or '-'} "
            f"scope={fields['scope'] or '-'} group={fields['group_id'] or '-'} peer={call.peer}"
        )
        if call.login is not None:
            fields["login"] = call.login[:_MAX_LOGIN_LOGGED]
            text += f" login={fields['login']!r}"  # repr: a hostile name cannot forge log lines
        access_logger.info(text, extra=fields)


def _kind(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming and handler.response_streaming:
        return "bidi_stream"
    if handler.request_streaming:
        return "client_stream"
    if handler.response_streaming:
        return "server_stream"
    return "unary"


def _code_name(context: grpc.aio.ServicerContext, default: grpc.StatusCode) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):  # grpc.aio reports the raw number
        for status in grpc.StatusCode:
            if status.value[0] == code:
                return status.name
    return default.name


class ObserveInterceptor(AsyncServerInterceptor):
    """Outermost interceptor: metrics and one access-log line per call."""

    def __init__(self, observer: CallObserver, tracing: Tracing | None = None):
        self._observer = observer
        self._tracing = tracing
        self._kinds: dict[str, str] = {}

    async def intercept_service(self, continuation, handler_call_details):
        handler = await super().intercept_service(continuation, handler_call_details)
        if handler is not None:
            self._kinds[handler_call_details.method] = _kind(handler)
        return handler

    async def intercept(self, method, request_or_iterator, context, method_name):
        kind = self._kinds.get(method_name, "unary")
        self._observer.started(method_name, kind)
        start = time.perf_counter()
        # Read now: a stream's generator may be finalized after grpc freed the call, and
        # calling into its context then crashes the process (seen: SIGSEGV in peer()).
        peer = context.peer()
        span = self._tracing.start_rpc_span(method_name, context.invocation_metadata()) if self._tracing else None
        login = getattr(request_or_iterator, "login", None) if method_name == LOGIN_METHOD else None
        uploads = self._observer.metrics if method_name == UPLOAD_METHOD else None
        if uploads is not None:
            request_or_iterator = _counted_upload(request_or_iterator, uploads)
            uploads.uploads_in_flight.inc()
        code = grpc.StatusCode.OK.name
        streaming = kind in ("server_stream", "bidi_stream")
        try:
            with self._tracing.current(span) if self._tracing else contextlib.nullcontext():
                response = method(request_or_iterator, context)
                if hasattr(response, "__aiter__"):
                    return self._stream(response, context, _Call(method_name, kind, start, peer, span))
                return await response
        except grpc.aio.AbortError:
            code = _code_name(context, grpc.StatusCode.UNKNOWN)
            raise
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED.name
            raise
        except Exception:
            code = grpc.StatusCode.UNKNOWN.name
            raise
        finally:
            if uploads is not None:
                uploads.uploads_in_flight.dec()
            if not streaming:
                self._finish(_Call(method_name, kind, start, peer, span), code, login)

    async def _stream(self, responses, context, call: _Call) -> AsyncIterator[Any]:
        code = grpc.StatusCode.OK.name
        try:
            async for response in responses:
                yield response
        except grpc.aio.AbortError:
            code = _code_name(context, grpc.StatusCode.UNKNOWN)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            code = grpc.StatusCode.CANCELLED.name
            raise
        except Exception:
            code = grpc.StatusCode.UNKNOWN.name
            raise
        finally:
            self._finish(call, code, None)

    def _finish(self, call: _Call, code: str, login: object) -> None:
        principal = principal_or_none()
        self._observer.finished(
            CallRecord(
                method=call.method,
                code=code,
                duration=time.perf_counter() - call.start,
                principal=principal,
                peer=call.peer,
                kind=call.kind,
                login=login if isinstance(login, str) else None,
            )
        )
        if self._tracing is not None and call.span is not None:
            self._tracing.end_rpc_span(call.span, code, grpc.StatusCode[code].value[0], principal)


@dataclass(frozen=True, slots=True)
class _Call:
    """What the end of a call needs to know about its start."""

    method: str
    kind: str
    start: float
    peer: str
    span: Any


async def _counted_upload(requests: AsyncIterator[Any], metrics: ServerMetrics) -> AsyncIterator[Any]:
    async for request in requests:
        size = len(getattr(request, "chunk", b""))
        if size:
            metrics.upload_bytes.inc(size)
        yield request
