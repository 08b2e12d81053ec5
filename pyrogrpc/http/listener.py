"""Runs the HTTP application with uvicorn inside the gRPC server's event loop.

Same loop, same process: the servicers, caches and the WatchAlerts hub are shared objects,
not copies. We drive uvicorn's `Server` through its startup/main_loop/shutdown steps instead of
`serve()`, because `serve()` installs its own SIGINT/SIGTERM handlers, and the process's
signals belong to `pyrogrpc.server.serve`.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn
from starlette.types import ASGIApp

logger = logging.getLogger("pyrogrpc.http")


class HttpListener:
    def __init__(self, app: ASGIApp, host: str, port: int, *, reuse_port: bool = False):
        self._app = app
        self._host = host
        self._port = port
        self._reuse_port = reuse_port
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._main_loop: asyncio.Task[None] | None = None
        self.port: int | None = None

    async def start(self) -> int:
        """Listen and serve; returns the port (the real one when asked for port 0)."""
        self._socket = _listening_socket(self._host, self._port, self._reuse_port)
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            log_config=None,  # keep the process's logging set-up
            access_log=False,
            server_header=False,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[self._socket])
        self._server = server
        # main_loop keeps the Date header fresh and returns once should_exit is set.
        self._main_loop = asyncio.create_task(server.main_loop(), name="pyrogrpc-http")
        self.port = self._socket.getsockname()[1]
        logger.info("HTTP (Connect, gRPC-Web, console) on port %s", self.port)
        return self.port

    async def stop(self, grace: float) -> None:
        """Stop accepting; open calls get `grace` seconds to finish, then uvicorn cancels them."""
        if self._server is None or self._main_loop is None:
            return
        self._server.config.timeout_graceful_shutdown = int(grace)
        self._server.should_exit = True
        await self._main_loop
        await self._server.shutdown(sockets=[self._socket] if self._socket else None)
        self._server = None


def _listening_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A bound socket, so that a busy port is an error here (uvicorn would sys.exit).
    `reuse_port`: the port is shared by the processes of `serve --workers` (SO_REUSEPORT)."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP, and without it every response written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6 and bare == "::":
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # [::] also takes IPv4, like the gRPC port
    try:
        sock.bind((bare, port))
    except OSError as error:
        sock.close()
        raise RuntimeError(f"cannot listen for HTTP on {host}:{port}: {error.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock
