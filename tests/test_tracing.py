"""OpenTelemetry tracing (the `tracing` extra): a span per RPC continuing the caller's trace,
SQL statement spans as its children, status codes, and no secret in any span."""

from __future__ import annotations

import asyncio
import importlib

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pyrogrpc.config import ConfigError, Settings
from pyrogrpc.server import PyroServer
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import Api, eventually, expect_status

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
async def traced(base_env):
    exporter = InMemorySpanExporter()
    server = PyroServer(Settings.from_env(base_env, env_file=None), span_exporter=exporter)
    await server.start()
    yield server, exporter
    await server.stop(grace=0)


async def test_rpc_spans_continue_the_callers_trace_with_sql_children(traced):
    server, exporter = traced
    async with Api.connect(server.port) as api:
        await expect_status(
            api.access.Login(access_pb.LoginRequest(login=ADMIN_LOGIN, password="not-the-password")),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        traceparent = (("traceparent", f"00-{TRACE_ID}-{CALLER_SPAN}-01"),)
        await admin.access.GetMyUser(
            access_pb.GetMyUserRequest(), metadata=(*traceparent, ("authorization", f"Bearer {admin.token}"))
        )

    deadline = asyncio.get_running_loop().time() + 20
    while True:  # a span ends when the handler returns, maybe just after the client's answer
        spans = exporter.get_finished_spans()
        if any(span.name == "pyronear.v1.AccessService/GetMyUser" for span in spans):
            break
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    rpc = next(span for span in spans if span.name == "pyronear.v1.AccessService/GetMyUser")
    assert rpc.kind == SpanKind.SERVER and format(rpc.context.trace_id, "032x") == TRACE_ID
    assert format(rpc.parent.span_id, "016x") == CALLER_SPAN
    assert rpc.attributes["rpc.grpc.status_code"] == 0 and rpc.attributes["enduser.scope"] == "admin"
    statements = [span for span in spans if span.parent is not None and span.parent.span_id == rpc.context.span_id]
    assert statements and all(span.kind == SpanKind.CLIENT for span in statements)

    failed = next(
        span
        for span in spans
        if span.name == "pyronear.v1.AccessService/Login" and span.attributes["rpc.grpc.status_code"] == 16
    )
    assert failed.status.status_code == StatusCode.UNSET  # a client's mistake is not a server error
    everything = repr([(span.name, dict(span.attributes), [dict(e.attributes) for e in span.events]) for span in spans])
    for secret in ("not-the-password", ADMIN_PASSWORD, admin.token):
        assert secret not in everything


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_statements_run_on_the_driver_have_spans_too(traced):
    """Heartbeat's UPDATE runs on psycopg directly (db/driver_statements.py), outside SQLAlchemy."""
    server, exporter = traced
    async with Api.connect(server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        owner = await admin.create_user((await admin.create_group()).id)
        camera, _ = await admin.new_device(owner.id)
        await camera.setup.Heartbeat(setup_pb.HeartbeatRequest())

    async def heartbeat_span():
        spans = exporter.get_finished_spans()
        rpc = next((span for span in spans if span.name == "pyronear.v1.SetupService/Heartbeat"), None)
        return rpc and (rpc, [span for span in spans if span.parent and span.parent.span_id == rpc.context.span_id])

    rpc, children = await eventually(heartbeat_span)
    [statement] = [span for span in children if "devices" in span.attributes.get("db.statement", "")]
    assert statement.kind == SpanKind.CLIENT and statement.name == "UPDATE", [span.name for span in children]
    assert statement.attributes["db.statement"].startswith("UPDATE devices SET last_ping_time=%(p_now)s")
    assert camera.token not in repr(dict(statement.attributes))


async def test_endpoint_without_the_extra_stops_the_start(base_env):
    try:
        importlib.import_module("opentelemetry.exporter.otlp.proto.grpc.trace_exporter")
    except ImportError:
        pass
    else:
        pytest.skip("the OTLP exporter is installed here")
    settings = Settings.from_env({**base_env, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, env_file=None)
    with pytest.raises(ConfigError, match=r"pyrogrpc\[tracing\]"):
        PyroServer(settings)


async def test_no_tracing_without_an_endpoint(server):
    assert server.tracing is None
