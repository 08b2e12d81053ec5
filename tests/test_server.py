"""Server assembly: health, reflection, the scope table, start-up checks, graceful degradation."""

from __future__ import annotations

import asyncio
import os
import stat

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from pyrogrpc.api.scopes import RPC_SCOPES
from pyrogrpc.config import Settings
from pyrogrpc.db.migrate import SchemaOutdated
from pyrogrpc.server import SERVICE_NAMES, PyroServer
from pyronear.v1 import access_service_pb2, detection_service_pb2, setup_service_pb2
from pyronear.v1 import access_service_pb2 as access_pb
from tests.conftest import POSTGRES_ADMIN_URL
from tests.helpers import Api, TcpProxy, eventually, expect_status

SERVICES = [
    access_service_pb2.DESCRIPTOR.services_by_name["AccessService"],
    setup_service_pb2.DESCRIPTOR.services_by_name["SetupService"],
    detection_service_pb2.DESCRIPTOR.services_by_name["DetectionService"],
]


def test_every_rpc_has_exactly_one_scope_row():
    proto_rpcs = {f"/{service.full_name}/{method.name}" for service in SERVICES for method in service.methods}
    assert proto_rpcs - RPC_SCOPES.keys() == set(), "RPCs without a row in api/scopes.py"
    assert RPC_SCOPES.keys() - proto_rpcs == set(), "rows in api/scopes.py for RPCs that do not exist"


async def _health(port: int, service: str) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
        return response.status


async def test_health_reports_each_service_serving(server):
    for name in ("", *SERVICE_NAMES):
        assert await _health(server.port, name) == health_pb2.HealthCheckResponse.SERVING
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="nope.Service"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_services_without_credentials(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = set()
        async for response in responses:
            names.update(service.name for service in response.list_services_response.service)
    assert set(SERVICE_NAMES) | {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


async def test_server_refuses_unmigrated_postgres(base_env):
    name = "pyrogrpc_empty_" + os.urandom(4).hex()
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
        server = PyroServer(Settings.from_env({**base_env, "DATABASE_URL": url}, env_file=None))
        with pytest.raises(SchemaOutdated, match="pyrogrpc migrate"):
            await server.start()
        await server.stop()
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_embedded_first_start_generates_secret_and_superadmin_password(tmp_path):
    env = {
        "PYROGRPC_DATA_DIR": str(tmp_path / "data"),
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": "0",
        "HTTP_PORT": "0",
        "BCRYPT_ROUNDS": "4",
    }
    server = PyroServer(Settings.from_env(env, env_file=None))
    await server.start()
    try:
        secret_file = tmp_path / "data" / "jwt_secret"
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert len(secret_file.read_text().strip()) >= 32
        password = server.generated_superadmin_password
        assert password and len(password) >= 16
        async with Api.connect(server.port) as api:
            admin = await api.login("superadmin", password)
            assert (await admin.access.GetMyUser(access_pb.GetMyUserRequest())).user.login == "superadmin"
    finally:
        await server.stop(grace=0)
    # Second start: same key (tokens survive restarts), no new password.
    again = PyroServer(Settings.from_env(env, env_file=None))
    await again.start()
    try:
        assert again.generated_superadmin_password is None
        assert again.settings.jwt_secret == server.settings.jwt_secret
    finally:
        await again.stop(grace=0)


# --- the database going away -----------------------------------------------------------


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_database_down_gives_unavailable_and_not_serving_then_recovers(server_factory, database_url):
    proxy = TcpProxy(5432)
    await proxy.start()
    proxied = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    server = await server_factory(health_interval_seconds=0.2, DATABASE_URL=proxied)
    async with Api.connect(server.port) as api:
        admin = await api.login("superadmin", "superadmin-password")
        await proxy.cut()
        started = asyncio.get_running_loop().time()
        error = await expect_status(admin.access.ListGroups(access_pb.ListGroupsRequest()), grpc.StatusCode.UNAVAILABLE)
        assert asyncio.get_running_loop().time() - started < 10, "a dead database must fail fast, not hang"
        assert "database" in error.details()

        async def health_is(status) -> bool:
            return await _health(server.port, "") == status

        await eventually(lambda: health_is(health_pb2.HealthCheckResponse.NOT_SERVING))
        assert await _health(server.port, SERVICE_NAMES[0]) == health_pb2.HealthCheckResponse.NOT_SERVING
        # The database comes back on the same address: the server recovers by itself.
        await proxy.start()
        await eventually(lambda: health_is(health_pb2.HealthCheckResponse.SERVING))
        assert (await admin.access.ListGroups(access_pb.ListGroupsRequest())).groups
    await proxy.cut()


async def test_stop_leaves_no_task_behind_even_during_a_health_probe(base_env):
    """A probe cancelled mid-flight made SQLAlchemy close its SQLite connection in a background
    task; a loop closing right after (asyncio.run, this test's loop) then waited for it forever."""
    settings = Settings.from_env(base_env, env_file=None)
    for attempt in range(20):
        server = PyroServer(settings, health_interval_seconds=0.0005)  # a probe is nearly always in flight
        await server.start()
        await asyncio.sleep(0.002 * attempt)
        await server.stop(grace=0)
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        assert left == [], left
