"""Operating a server: Prometheus metrics scraped over HTTP after real calls, the access log
(text and JSON, never a secret), and LOG_FORMAT=json for every line of `pyrogrpc serve`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
import time

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pyrogrpc.logs import json_formatter
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as detection_pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import JWT_SECRET, USER_PASSWORD, Api, expect_status, tiny_jpeg, upload_media
from tests.test_incidents import EAST, FIRE, WEST, first_tower, look_at, tower_in

Code = grpc.StatusCode
DEADLINE = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    response.raise_for_status()
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def sample(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def eventually(predicate, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while True:
        result = await predicate()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


@pytest.fixture
async def metrics_server(server_factory):
    port = free_port()
    server = await server_factory(METRICS_PORT=str(port), METRICS_HOST="127.0.0.1")
    assert server.metrics is not None and server.metrics.port == port
    return server


async def test_metrics_count_real_calls_by_method_and_code(metrics_server, server_factory):
    port = metrics_server.metrics.port
    async with Api.connect(metrics_server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        await expect_status(
            api.access.Login(access_pb.LoginRequest(login=ADMIN_LOGIN, password="wrong-password")), Code.UNAUTHENTICATED
        )
        await admin.access.GetMyUser(access_pb.GetMyUserRequest())
        user_api, user = await admin.new_user()
        device_api, _ = await admin.new_device(user.id, lat=44.0, lon=4.0, azimuth=10.0)
        image = tiny_jpeg(150_000)
        await upload_media(device_api, image)

        upload = {
            "grpc_type": "client_stream",
            "grpc_service": "pyronear.v1.DetectionService",
            "grpc_method": "UploadMedia",
        }

        async def settled():  # a call is counted when its handler returns, maybe just after the client's answer
            samples = await scrape(port)
            return samples if sample(samples, "grpc_server_handled_total", **upload, grpc_code="OK") == 1 else None

        samples = await eventually(settled)
        login = {"grpc_type": "unary", "grpc_service": "pyronear.v1.AccessService", "grpc_method": "Login"}
        assert sample(samples, "grpc_server_handled_total", **login, grpc_code="UNAUTHENTICATED") == 1
        assert sample(samples, "grpc_server_handled_total", **login, grpc_code="OK") >= 3  # admin, user, device
        assert sample(samples, "grpc_server_started_total", **login) == sample(
            samples, "grpc_server_handling_seconds_count", **login
        )
        get_my_user = {"grpc_type": "unary", "grpc_service": "pyronear.v1.AccessService", "grpc_method": "GetMyUser"}
        assert sample(samples, "grpc_server_handled_total", **get_my_user, grpc_code="OK") == 1
        upload = {
            "grpc_type": "client_stream",
            "grpc_service": "pyronear.v1.DetectionService",
            "grpc_method": "UploadMedia",
        }
        assert sample(samples, "grpc_server_handled_total", **upload, grpc_code="OK") == 1
        assert sample(samples, "pyrogrpc_upload_received_bytes_total") == len(image)
        assert sample(samples, "pyrogrpc_uploads_in_flight") == 0
        assert sample(samples, "pyrogrpc_notification_queue_depth") == 0
        assert sample(samples, "pyrogrpc_notification_jobs_total", outcome="failed") == 0
        assert sample(samples, "pyrogrpc_db_pool_connections_in_use", pool="main") is not None
        assert sample(samples, "pyrogrpc_watchers_connected") == 0

        # A watcher shows up while its stream is open; its stream is a server_stream call.
        call = user_api.detection.WatchAlerts(detection_pb.WatchAlertsRequest())
        await call.read()  # the first message: the stream is registered
        assert await eventually(lambda: _watchers_is(port, 1))
        call.cancel()
        assert await eventually(lambda: _watchers_is(port, 0))
        watch = {
            "grpc_type": "server_stream",
            "grpc_service": "pyronear.v1.DetectionService",
            "grpc_method": "WatchAlerts",
        }

        async def watch_recorded():
            return sample(await scrape(port), "grpc_server_handled_total", **watch, grpc_code="CANCELLED") == 1

        assert await eventually(watch_recorded)

    # Servers in one process keep their own registries.
    other = await server_factory(METRICS_PORT=str(free_port()), METRICS_HOST="127.0.0.1")
    assert sample(await scrape(other.metrics.port), "grpc_server_handled_total", **login, grpc_code="OK") is None


async def test_metrics_count_incident_fusions_by_outcome(metrics_server):
    port = metrics_server.metrics.port
    fusions = "pyrogrpc_incident_fusions_total"
    before = await scrape(port)
    assert all(sample(before, fusions, outcome=o) == 0 for o in ("opened", "joined", "bumped"))  # there from the start
    assert sample(before, "pyrogrpc_incident_fusion_seconds_count") == 0

    async with Api.connect(metrics_server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        west = await first_tower(admin, WEST)
        east = await tower_in(admin, west, EAST)
        await look_at(west.device, WEST, FIRE)  # opens the incident
        await look_at(east, EAST, FIRE)  # joins it

        async def fused(jobs: int):  # fusion runs after the alert's answer, off its path
            samples = await scrape(port)
            return samples if sample(samples, "pyrogrpc_incident_fusion_seconds_count") == jobs else None

        samples = await eventually(lambda: fused(2))
        assert samples is not None, "two fusion jobs were not counted"
        assert sample(samples, fusions, outcome="opened") == 1
        assert sample(samples, fusions, outcome="joined") == 1
        assert sample(samples, fusions, outcome="failed") == 0
        assert 0 < sample(samples, "pyrogrpc_incident_fusion_seconds_sum") < DEADLINE
        assert sample(samples, "pyrogrpc_incident_fusion_seconds_bucket", le="+Inf") == 2

        await look_at(west.device, WEST, FIRE)  # the same box again: only its incident's last_seen_time moves
        samples = await eventually(lambda: fused(3))
        assert samples is not None, "the third fusion job was not counted"
        assert sample(samples, fusions, outcome="bumped") == 1
        assert sample(samples, fusions, outcome="opened") == 1


async def _watchers_is(port: int, count: int) -> bool:
    return sample(await scrape(port), "pyrogrpc_watchers_connected") == count


async def test_metrics_port_in_use_stops_the_start_with_a_clear_message(server_factory):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(RuntimeError, match="METRICS_PORT"):
            await server_factory(METRICS_PORT=str(taken.getsockname()[1]), METRICS_HOST="127.0.0.1")


async def test_metrics_off_with_port_zero(server):
    assert server.metrics is None


async def test_access_log_one_line_per_call_without_secrets(server, api, caplog):
    caplog.set_level(logging.INFO)
    await expect_status(
        api.access.Login(access_pb.LoginRequest(login="mallory", password="guessed-password-1")), Code.UNAUTHENTICATED
    )
    response = await api.access.Login(access_pb.LoginRequest(login=ADMIN_LOGIN, password=ADMIN_PASSWORD))
    admin = api.with_token(response.access_token)
    await admin.access.GetMyUser(access_pb.GetMyUserRequest())
    user_api, user = await admin.new_user()
    await expect_status(user_api.access.CreateGroup(access_pb.CreateGroupRequest(name="x")), Code.PERMISSION_DENIED)

    # The server logs a call when its handler returns, which may be just after the client
    # got the status (grpc.aio sends an abort's status at once): wait for the lines.
    def access_lines():
        return [record for record in caplog.records if record.name == "pyrogrpc.access"]

    async def all_logged():
        return len(access_lines()) >= 7

    assert await eventually(all_logged)
    access = access_lines()
    by_method = [(record.method.rsplit("/", 1)[-1], record.code) for record in access]
    assert {
        ("Login", "UNAUTHENTICATED"),
        ("Login", "OK"),
        ("GetMyUser", "OK"),
        ("CreateGroup", "PERMISSION_DENIED"),
    } <= set(by_method)
    failed = next(record for record in access if record.code == "UNAUTHENTICATED")
    me = next(record for record in access if record.method.endswith("/GetMyUser"))
    assert failed.login == "mallory" and failed.principal_id is None and failed.peer.startswith("ipv4:127.0.0.1:")
    assert "Login UNAUTHENTICATED" in failed.getMessage() and "login='mallory'" in failed.getMessage()
    assert (me.principal_id, me.scope, me.group_id) == (1, "admin", 1) and me.duration_ms >= 0
    refused = next(record for record in access if record.code == "PERMISSION_DENIED")
    assert refused.principal_id == user.id and refused.scope == "user"

    # JSON lines parse and carry the fields; no log line at any level carries a secret.
    line = json.loads(json_formatter().format(failed))
    assert line["logger"] == "pyrogrpc.access" and line["level"] == "INFO"
    assert line["method"] == "/pyronear.v1.AccessService/Login" and line["code"] == "UNAUTHENTICATED"
    assert line["login"] == "mallory" and line["principal_id"] is None
    everything = "\n".join(json_formatter().format(record) for record in caplog.records)
    for secret in (
        "guessed-password-1",
        ADMIN_PASSWORD,
        USER_PASSWORD,
        response.access_token,
        user_api.token,
        JWT_SECRET,
    ):
        assert secret not in everything


async def test_serve_with_log_format_json_writes_only_json_lines(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PYROGRPC_DATA_DIR": str(tmp_path / "data"),
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": str(port),
        "METRICS_PORT": "0",
        "BCRYPT_ROUNDS": "4",
        "SUPERADMIN_PASSWORD": ADMIN_PASSWORD,
        "LOG_FORMAT": "json",
    }
    for name in ("DATABASE_URL", "S3_ENDPOINT_URL", "BUCKET_NAME", "JWT_SECRET"):
        env.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pyrogrpc",
        "--env-file",
        "/nonexistent",
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with Api.connect(port) as api:
            await asyncio.wait_for(api.channel.channel_ready(), DEADLINE)
            await expect_status(
                api.access.Login(access_pb.LoginRequest(login="eve", password="secret-attempt-9")), Code.UNAUTHENTICATED
            )
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), DEADLINE)
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.strip()]
    assert any(line["logger"] == "pyrogrpc.server" and "serving on port" in line["message"] for line in lines)
    assert any(
        line["logger"] == "pyrogrpc.access" and line["login"] == "eve" and line["code"] == "UNAUTHENTICATED"
        for line in lines
    )
    assert "secret-attempt-9" not in stderr.decode()
