"""`pyrogrpc serve --workers N` as a real subprocess: calls spread over the workers, which
share the gRPC and HTTP ports; WatchAlerts on one worker sees alerts made through another;
SIGTERM stops every worker; a worker dying at start-up or later stops the set, non-zero.
PostgreSQL only: the embedded SQLite mode refuses more than one worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import uuid
from pathlib import Path

import grpc
import httpx
import psycopg
import pytest

from pyrogrpc.cli import main
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as pb
from tests.conftest import POSTGRES_ADMIN_URL
from tests.helpers import ADMIN_LOGIN, ADMIN_PASSWORD, Api, eventually, server_env
from tests.test_watch import Camera, alert_ids, started, watch

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 90.0  # two interpreters importing everything on a loaded 2-core machine


def free_ports(count: int) -> int:
    """The first of `count` consecutive free loopback ports."""
    while True:
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            base = first.getsockname()[1]
        try:
            with contextlib.ExitStack() as stack:
                for offset in range(count):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue


class Workers:
    """`python -m pyrogrpc serve --workers N` on `database_url`, metrics on base + i."""

    def __init__(self, database_url: str, data_dir: Path, count: int):
        self.count = count
        self.port = free_ports(1)
        self.http_port = free_ports(1)
        self.metrics_base = free_ports(count)
        self.env = {
            **os.environ,
            **server_env(
                database_url,
                str(data_dir),
                GRPC_PORT=str(self.port),
                HTTP_PORT=str(self.http_port),
                HTTP_HOST="127.0.0.1",
                METRICS_PORT=str(self.metrics_base),
                METRICS_HOST="127.0.0.1",
            ),
        }
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pyrogrpc",
            "--env-file",
            "/dev/null",
            "serve",
            "--workers",
            str(self.count),
            env=self.env,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

    async def wait_serving(self) -> None:
        """Every worker exposes its metrics (which it does once it serves)."""

        async def all_up() -> bool:
            assert self.process is not None and self.process.returncode is None, "supervisor exited"
            return all([await self.metrics(index) is not None for index in range(self.count)])

        await eventually(all_up, timeout=START_SECONDS, interval=0.2)

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        return worker_pids(self.process.pid)

    async def metrics(self, index: int) -> str | None:
        try:
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{self.metrics_base + index}/metrics", timeout=2)
            return response.text
        except httpx.HTTPError:
            return None

    async def metric(self, index: int, name: str, **labels: str) -> float:
        """Sum of a metric's samples on worker `index` whose labels include `labels`."""
        text = await self.metrics(index) or ""
        total = 0.0
        for line in text.splitlines():
            named = line.startswith((name + "{", name + " "))
            if named and all(f'{key}="{value}"' in line for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    async def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signum)
        _, stderr = await asyncio.wait_for(self.process.communicate(), 60)
        return self.process.returncode, stderr.decode()


@pytest.fixture
async def workers(database_url, tmp_path):
    started_sets: list[Workers] = []

    async def start(count: int = 2, url: str | None = None) -> Workers:
        workers = Workers(url or database_url, tmp_path / "data", count)
        await workers.start()
        started_sets.append(workers)
        return workers

    yield start
    for workers in started_sets:
        if workers.process is not None and workers.process.returncode is None:
            workers.process.kill()
            await workers.process.wait()


def worker_pids(supervisor: int) -> list[int]:
    """The workers (multiprocessing's resource tracker is a child of the supervisor too)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_calls_spread_over_two_workers_and_watch_alerts_crosses_them(workers):
    server = await workers(2)
    await server.wait_serving()
    pids = server.worker_pids()
    assert len(pids) == 2
    async with Api.connect(server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        camera = await Camera.new(admin)

    # Each channel is one connection, which the kernel hands to one worker: open channels
    # until both workers answered calls.
    async def both_answered() -> bool:
        async with Api.connect(server.port) as api:
            await api.access.Login(access_pb.LoginRequest(login=ADMIN_LOGIN, password=ADMIN_PASSWORD))
        counts = [await server.metric(i, "grpc_server_handled_total", grpc_method="Login") for i in range(2)]
        return all(count > 0 for count in counts)

    await eventually(both_answered, timeout=30, interval=0)

    # Watchers on both workers (a watcher per new channel until each worker holds one).
    async with contextlib.AsyncExitStack() as stack:
        streams = []

        async def watched_on_both() -> bool:
            # A subchannel pool of its own: channels to one target otherwise share a connection.
            channel = await stack.enter_async_context(
                grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=[("grpc.use_local_subchannel_pool", 1)])
            )
            stream = watch(Api(channel, camera.user.token))
            stack.callback(stream.cancel)
            await started(stream)
            streams.append(stream)
            counts = [await server.metric(i, "pyrogrpc_watchers_connected") for i in range(2)]
            return all(count >= 1 for count in counts)

        await eventually(watched_on_both, timeout=30, interval=0)
        # An alert created through one worker reaches the watchers of both (PostgreSQL NOTIFY;
        # sooner than the 5 s safety poll).
        async with Api.connect(server.port) as api:
            admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
            alert = (await admin.detection.CreateAlert(pb.CreateAlertRequest(device_id=camera.device.id))).alert
        for stream in streams:
            assert await alert_ids(stream, 1, timeout=3.0) == [alert.id]

    # The HTTP port is shared too: both workers bound it, and it answers.
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"http://127.0.0.1:{server.http_port}/pyronear.v1.AccessService/Login",
            json={"login": ADMIN_LOGIN, "password": ADMIN_PASSWORD},
        )
    assert response.status_code == 200 and "accessToken" in response.json()

    code, stderr = await server.stop(signal.SIGTERM)
    assert code == 0, stderr
    assert all(gone(pid) for pid in pids)
    assert "Traceback" not in stderr


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_worker_that_dies_stops_the_others_with_a_failure_code(workers):
    server = await workers(2)
    await server.wait_serving()
    pids = server.worker_pids()
    os.kill(pids[1], signal.SIGKILL)
    assert server.process is not None
    code = await asyncio.wait_for(server.process.wait(), 60)
    assert code != 0
    assert all(gone(pid) for pid in pids)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_worker_failing_at_start_up_stops_the_set_with_its_code(workers):
    """An unmigrated database: the worker refuses to start (exit 2), so does the supervisor."""
    name = f"pyrogrpc_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
        server = await workers(2, url=url)
        assert server.process is not None
        code = await asyncio.wait_for(server.process.wait(), START_SECONDS)
        assert code == 2
        stderr = (await server.process.stderr.read()).decode() if server.process.stderr else ""
        assert "migrate" in stderr
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_embedded_sqlite_refuses_more_than_one_worker(database_url, tmp_path, monkeypatch, capsys):
    for key, value in server_env(database_url, str(tmp_path / "data")).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GRPC_PORT", "50999")
    assert main(["--env-file", "/dev/null", "serve", "--workers", "2"]) == 2
    assert "needs PostgreSQL" in capsys.readouterr().err


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    ("workers_flag", "extra", "message"),
    [
        ("0", {}, "at least 1"),
        ("-3", {}, "at least 1"),
        ("2", {"GRPC_PORT": "0"}, "fixed GRPC_PORT"),
        ("3", {"GRPC_PORT": "50999", "METRICS_PORT": "65534"}, "65535"),
    ],
)
def test_impossible_worker_settings_are_refused(
    database_url, tmp_path, monkeypatch, capsys, workers_flag, extra, message
):
    for key, value in {**server_env(database_url, str(tmp_path / "data")), **extra}.items():
        monkeypatch.setenv(key, value)
    assert main(["--env-file", "/dev/null", "serve", "--workers", workers_flag]) == 2
    assert message in capsys.readouterr().err
