"""Optional OpenTelemetry tracing: a span per RPC and per database statement.

On when OTEL_EXPORTER_OTLP_ENDPOINT is set (the OTLP exporter reads it and the other
standard OTEL_* variables itself); its packages are the `tracing` extra, imported only
then, and a variable set without them stops the server at start (like SENTRY_DSN). Each
server has its own TracerProvider (never the global one), so tests can give one an
in-memory exporter.

RPC spans are named after the gRPC method (`pyronear.v1.DetectionService/CreateMyAlert`),
continue a caller's trace (W3C `traceparent` metadata) and carry `rpc.*` attributes and
the status code; the caller's access id and scope are added, never a secret. Statement
spans come from opentelemetry-instrumentation-sqlalchemy, children of the RPC span (for
streaming responses the RPC span covers the whole stream but is not made the parent of
the statements run between messages: a context attached in an async generator cannot be
detached safely across its yields).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

from .config import ConfigError

_INSTALL_HINT = "install it with: pip install 'pyrogrpc[tracing]'"
_SERVER_ERRORS = frozenset({"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"})


def _require(module: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_ENDPOINT is set but the {package!r} package is not installed; {_INSTALL_HINT}"
        ) from None


class Tracing:
    """Spans of one server: `start_rpc_span`, `current(span)` around the handler, `end_rpc_span`."""

    def __init__(self, exporter: Any, engines: Sequence[Any] = ()):
        trace_sdk = _require("opentelemetry.sdk.trace", "opentelemetry-sdk")
        export = _require("opentelemetry.sdk.trace.export", "opentelemetry-sdk")
        resources = _require("opentelemetry.sdk.resources", "opentelemetry-sdk")
        self._trace = _require("opentelemetry.trace", "opentelemetry-api")
        self._propagate = _require("opentelemetry.propagate", "opentelemetry-api")
        self.provider = trace_sdk.TracerProvider(resource=resources.Resource.create({"service.name": "pyrogrpc"}))
        # A simple processor for in-memory exporters (tests read spans at once); batches otherwise.
        simple = type(exporter).__name__ == "InMemorySpanExporter"
        processor = export.SimpleSpanProcessor(exporter) if simple else export.BatchSpanProcessor(exporter)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("pyrogrpc")
        # The instrumentation's EngineTracer on each of this server's engines, not its
        # SQLAlchemyInstrumentor: that one patches create_engine process-wide, once, for the
        # global provider, and servers here have their own providers.
        engine_tracing = _require(
            "opentelemetry.instrumentation.sqlalchemy.engine", "opentelemetry-instrumentation-sqlalchemy"
        )
        metrics = _require("opentelemetry.metrics", "opentelemetry-api")
        connections = (
            metrics.NoOpMeterProvider().get_meter("pyrogrpc").create_up_down_counter("db.client.connections.usage")
        )
        sql_tracer = self._sql_tracer = self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
        self._engine_tracers = [
            engine_tracing.EngineTracer(sql_tracer, engine.sync_engine, connections) for engine in engines
        ]

    def start_rpc_span(self, method: str, metadata: Any) -> Any:
        """A started server span for `method`, child of the caller's trace if it sent one."""
        carrier = {key: value for key, value in metadata or () if isinstance(value, str)}
        service, _, name = method.lstrip("/").partition("/")
        return self.tracer.start_span(
            method.lstrip("/"),
            context=self._propagate.extract(carrier),
            kind=self._trace.SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )

    def current(self, span: Any) -> AbstractContextManager[Any]:
        """Make `span` the parent of the spans started inside (SQL statements); never ends it."""
        return self._trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)

    def statement_span(self, sql: str) -> AbstractContextManager[Any]:
        """A client span around a statement run on the driver, outside SQLAlchemy (its SQL
        holds placeholders, never values), named and tagged as the SQLAlchemy ones."""
        return self._sql_tracer.start_as_current_span(
            sql.split(None, 1)[0],
            kind=self._trace.SpanKind.CLIENT,
            attributes={"db.system": "postgresql", "db.statement": sql},
        )

    def end_rpc_span(self, span: Any, code: str, code_number: int, principal: Any) -> None:
        span.set_attribute("rpc.grpc.status_code", code_number)
        if principal is not None:
            span.set_attribute("enduser.id", str(principal.access_id))
            span.set_attribute("enduser.scope", principal.scope.value)
        if code in _SERVER_ERRORS:  # OpenTelemetry's rule for gRPC servers: the server's fault only
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, code))
        span.end()

    def shutdown(self) -> None:
        self.provider.shutdown()


def init_tracing(endpoint: str | None, engines: Sequence[Any], exporter: Any = None) -> Tracing | None:
    """Tracing when an OTLP endpoint (or a test's exporter) is given, else None."""
    if exporter is None:
        if not endpoint:
            return None
        otlp = _require(
            "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", "opentelemetry-exporter-otlp-proto-grpc"
        )
        exporter = otlp.OTLPSpanExporter()
    return Tracing(exporter, engines)
