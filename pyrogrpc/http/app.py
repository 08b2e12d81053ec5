"""The ASGI application of the HTTP port: the Connect routes, the console page, and CORS.

Paths: `/pyronear.v1.<Service>/<Method>` (Connect and gRPC-Web, see rpc.py), `/` (the
console, index.html), `/console/...` (its script and style sheet). Everything else is 404.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from connectrpc.compat import google_protobuf_codecs
from connectrpc.server import ConnectASGIApplication
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from .rpc import ConnectRoutes

CONSOLE_PACKAGE = ("pyrogrpc.http", "console")

# Headers a browser may send and read on a cross-origin call (Connect and gRPC-Web need them).
_ALLOWED_HEADERS = [
    "authorization",
    "content-type",
    "connect-protocol-version",
    "connect-timeout-ms",
    "connect-content-encoding",
    "connect-accept-encoding",
    "grpc-timeout",
    "x-grpc-web",
    "x-user-agent",
]
_EXPOSED_HEADERS = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "content-encoding",
    "connect-content-encoding",
]


class _ConnectApp(ConnectASGIApplication[Mapping[str, Any]]):
    """connectrpc's ASGI server over our own route table (instead of one generated class per service)."""

    # Any: connectrpc types its table with private per-kind endpoint classes; ours come from
    # its public Endpoint.unary/server_stream/... constructors.
    def __init__(self, endpoints: Mapping[str, Any], read_max_bytes: int):
        super().__init__(
            service=endpoints,
            endpoints=lambda table: table,
            read_max_bytes=read_max_bytes,
            # Our stubs are google.protobuf messages (connectrpc's default runtime is protobuf-py).
            codecs=google_protobuf_codecs(),
        )

    @property
    def path(self) -> str:
        return "/"


class _NativeGrpcElsewhere:
    """Native gRPC needs HTTP/2 trailers, which uvicorn does not send: answer such a call with
    a clear UNIMPLEMENTED (in headers, as a trailers-only response) instead of connectrpc's
    UNKNOWN about a missing ASGI extension."""

    def __init__(self, app: ASGIApp):
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            content_type = dict(scope["headers"]).get(b"content-type", b"")
            if content_type.startswith(b"application/grpc") and not content_type.startswith(b"application/grpc-web"):
                message = quote(
                    "native gRPC is served on the gRPC port (GRPC_PORT); this port speaks Connect and gRPC-Web"
                )
                headers = [
                    (b"content-type", content_type),
                    (b"grpc-status", b"12"),
                    (b"grpc-message", message.encode()),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        await self._app(scope, receive, send)


async def _console(request: Request) -> FileResponse:
    static: StaticFiles = request.app.state.console_files
    return FileResponse(static.lookup_path("index.html")[0], media_type="text/html")


def build_http_app(routes: ConnectRoutes, *, cors_origins: Sequence[str], read_max_bytes: int) -> ASGIApp:
    """`cors_origins`: exact origins ("https://dash.example.org") allowed to call from a browser
    page of another origin; the console itself is same-origin and needs none."""
    connect = _ConnectApp(routes.endpoints, read_max_bytes)
    console_files = StaticFiles(packages=[CONSOLE_PACKAGE])
    app = Starlette(
        routes=[
            Route("/", _console, methods=["GET", "HEAD"]),
            Mount("/console", app=console_files),
            *(
                Mount(f"/{service}", app=_NativeGrpcElsewhere(connect))
                for service in sorted({path.split("/")[1] for path in routes.endpoints})
            ),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=_ALLOWED_HEADERS,
                expose_headers=_EXPOSED_HEADERS,
                # Tokens travel in the Authorization header, never in cookies.
                allow_credentials=False,
                max_age=3600,
            )
        ],
    )
    app.state.console_files = console_files
    return app
