"""Connect / gRPC-Web routes for every RPC of the services, generated from their descriptors.

Each route calls the servicer method the gRPC port calls, after the same check
(`CallAuthorizer`: token -> principal, scope table) and with the principal in the same context
variable, so `current_principal()` works unchanged; exceptions become Connect errors through
the same status mapping. A new RPC in a proto gets its route with no change here.

What each protocol carries (connectrpc decides it from the request's content type):
- Connect unary (`application/json`, `application/proto`): every unary RPC, over HTTP/1.1.
- Connect streaming (`application/connect+json|proto`, enveloped messages): server streams
  (WatchAlerts, DownloadMedia) and client streams (UploadMedia). Over HTTP/1.1 a client
  stream works when the client sends the whole request body before reading the response
  (curl, httpx); browsers' fetch cannot stream a request body over HTTP/1.1, so a browser
  uploads through gRPC or a non-browser client. Bidi streams would need HTTP/2.
- gRPC-Web (`application/grpc-web+proto|json`): unary and server streams; the gRPC-Web
  protocol has no client streaming.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from connectrpc.errors import ConnectError
from connectrpc.method import IdempotencyLevel, MethodInfo, StreamType
from connectrpc.request import RequestContext
from connectrpc.server import Endpoint
from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from ..api.auth import CallAuthorizer, set_principal
from ..api.calls import CallsInFlight
from .errors import connect_error

# Hook for call metrics / access logs (issue 17): called once per finished call with the full
# method name ("/pyronear.v1.DetectionService/GetEvent"), the outcome ("ok" or a Connect code
# such as "not_found") and the call's duration in seconds.
CallRecorder = Callable[[str, str, float], None]

_IDEMPOTENCY = {
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS: IdempotencyLevel.NO_SIDE_EFFECTS,
    descriptor_pb2.MethodOptions.IDEMPOTENT: IdempotencyLevel.IDEMPOTENT,
}


def _stream_type(method: MethodDescriptor) -> StreamType:
    if method.client_streaming:
        return StreamType.BIDI_STREAM if method.server_streaming else StreamType.CLIENT_STREAM
    return StreamType.SERVER_STREAM if method.server_streaming else StreamType.UNARY


def method_info(method: MethodDescriptor) -> MethodInfo:
    return MethodInfo(
        name=method.name,
        service_name=method.containing_service.full_name,
        input=message_factory.GetMessageClass(method.input_type),
        output=message_factory.GetMessageClass(method.output_type),
        idempotency_level=_IDEMPOTENCY.get(method.GetOptions().idempotency_level, IdempotencyLevel.UNKNOWN),
        stream_type=_stream_type(method),
    )


class HttpServicerContext:
    """What a servicer may use of its grpc.aio context, for a call that came over HTTP.

    Servicers read the caller from `current_principal()`, not from the context; this covers
    the metadata and the calls the generated base class makes for an RPC not implemented yet.
    """

    def __init__(self, request: RequestContext):
        self._request = request

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return tuple((key.lower(), value) for key, value in self._request.request_headers.allitems())

    def peer(self) -> str:
        return f"http:{self._request.client_address or 'unknown'}"

    def set_code(self, code: object) -> None:
        """The generated base calls it before raising NotImplementedError (mapped to UNIMPLEMENTED)."""

    def set_details(self, details: str) -> None:
        """See set_code."""


class ConnectRoutes:
    """{"/package.Service/Method": Endpoint} for the given (service descriptor, servicer) pairs."""

    def __init__(
        self,
        services: Iterable[tuple[ServiceDescriptor, object]],
        authorizer: CallAuthorizer,
        calls: CallsInFlight,
        record_call: CallRecorder | None = None,
    ):
        self._authorizer = authorizer
        self._calls = calls
        self._record_call = record_call
        self.endpoints: dict[str, Endpoint] = {}
        for service, servicer in services:
            for method in service.methods:
                path = f"/{service.full_name}/{method.name}"
                self.endpoints[path] = self._endpoint(path, method_info(method), getattr(servicer, method.name))

    def _endpoint(self, path: str, info: MethodInfo, handler: Callable[..., Any]) -> Endpoint:
        if info.stream_type is StreamType.UNARY:
            return Endpoint.unary(info, self._unary(path, handler))
        if info.stream_type is StreamType.SERVER_STREAM:
            return Endpoint.server_stream(info, self._server_stream(path, handler))
        if info.stream_type is StreamType.CLIENT_STREAM:
            return Endpoint.client_stream(info, self._unary(path, handler))
        return Endpoint.bidi_stream(info, self._server_stream(path, handler))

    async def _authorize(self, path: str, request: RequestContext) -> HttpServicerContext:
        context = HttpServicerContext(request)
        set_principal(None)
        set_principal(await self._authorizer.principal_for(path, context.invocation_metadata()))
        return context

    def _record(self, path: str, outcome: str, started: float) -> None:
        if self._record_call is not None:
            self._record_call(path, outcome, time.perf_counter() - started)

    def _unary(self, path: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        async def call(request: Any, request_context: RequestContext) -> Any:
            started, outcome = time.perf_counter(), "ok"
            with self._calls:
                try:
                    return await handler(request, await self._authorize(path, request_context))
                except ConnectError as error:  # raised by connectrpc itself (a malformed message)
                    outcome = error.code.value
                    raise
                except Exception as error:  # noqa: BLE001 - this is the mapping boundary
                    mapped = connect_error(error)
                    outcome = mapped.code.value
                    raise mapped from None
                finally:
                    self._record(path, outcome, started)

        return call

    def _server_stream(self, path: str, handler: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
        async def call(request: Any, request_context: RequestContext) -> AsyncIterator[Any]:
            started, outcome = time.perf_counter(), "ok"
            with self._calls:
                try:
                    responses = handler(request, await self._authorize(path, request_context))
                    async with contextlib.aclosing(responses):  # a gone client unregisters its watcher now
                        async for response in responses:
                            yield response
                except ConnectError as error:
                    outcome = error.code.value
                    raise
                except Exception as error:  # noqa: BLE001
                    mapped = connect_error(error)
                    outcome = mapped.code.value
                    raise mapped from None
                finally:
                    self._record(path, outcome, started)

        return call
