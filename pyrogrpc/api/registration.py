"""How services are attached to the grpc.aio server: as generic handlers only.

The generated `add_*Servicer_to_server` functions register every service twice: as a
generic handler and as "registered methods". For each registered method grpc.aio keeps
one pending task, and for every incoming call it runs `asyncio.wait` over all of them
(found with cProfile). With ~85 methods a bare unary call cost the server 171-184 us of
CPU instead of 130-134 us (and 25% less throughput) in a micro-benchmark. With generic
handlers only it waits on a single task; the methods, their handlers and what clients
see do not change.
"""

from __future__ import annotations

import grpc


class GenericHandlersOnly:
    """Stands in for the server in the generated `add_*_to_server(servicer, server)` calls."""

    def __init__(self, server: grpc.aio.Server):
        self._server = server

    def add_generic_rpc_handlers(self, handlers) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers) -> None:
        """Skipped on purpose (see the module docstring): the generic handler serves them."""
