"""Shared plumbing of the benchmarks: a fresh PostgreSQL database, a moto S3 server and a
pyrogrpc server, each in its own process; latency recording, tables and JSON results.

Everything runs on loopback. The server is `python -m pyrogrpc serve` (the production
entry point) on a database migrated with `pyrogrpc migrate`; the load comes from the
bench process through grpc.aio.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))  # the tests' client helpers (Api, tiny_jpeg, upload_requests)

from tests.helpers import USER_PASSWORD, Api, tiny_jpeg, upload_requests  # noqa: E402

__all__ = [
    "ADMIN_LOGIN",
    "ADMIN_PASSWORD",
    "REST_ORIGINAL",
    "USER_PASSWORD",
    "Api",
    "Latencies",
    "Run",
    "Window",
    "bench_stack",
    "connect_own",
    "cpu_seconds",
    "distinct_jpegs",
    "latency_table",
    "machine_busy_seconds",
    "postgres_database",
    "pyrogrpc_server",
    "report",
    "run_for",
    "server_rss_kib",
    "setup_group",
    "table",
    "tiny_jpeg",
    "upload_requests",
]

POSTGRES_ADMIN_URL = os.environ.get("PYROGRPC_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_LOGIN = "superadmin"
ADMIN_PASSWORD = "bench-superadmin-password"
# Drawn per run: a secret written in the repository is refused by the server (config.py).
JWT_SECRET = secrets.token_hex(32)

# Figures of the REST original (pyro-api) measured on this machine class.
REST_ORIGINAL = {"workflows_per_s": 43.8, "logins_per_s": 5.6, "list_1000_alerts_req_per_s": 35.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> int:
    """The first of `count` consecutive free ports (`serve --workers`: worker i's metrics on base + i)."""
    while True:
        base = free_port()
        try:
            with contextlib.ExitStack() as stack:
                for offset in range(1, count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue


def _wait_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


@contextlib.contextmanager
def postgres_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A fresh database on the server of `admin_url`, migrated with `pyrogrpc migrate`; dropped afterwards."""
    name = f"pyrogrpc_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    try:
        subprocess.run(
            [sys.executable, "-m", "pyrogrpc", "--env-file", "/dev/null", "migrate"],
            env={**os.environ, "DATABASE_URL": url, "JWT_SECRET": JWT_SECRET},
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def moto_s3(bucket: str) -> Iterator[tuple[dict[str, str], int]]:
    """A moto S3 server subprocess with `bucket` created; yields the server's S3_* settings and moto's pid."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, 30, process)
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket=bucket)
        yield (
            {
                "S3_ENDPOINT_URL": endpoint,
                "S3_ACCESS_KEY": "bench",
                "S3_SECRET_KEY": "bench",
                "S3_REGION": "us-east-1",
                "BUCKET_NAME": bucket,
            },
            process.pid,
        )
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class ServerProcess:
    process: subprocess.Popen
    port: int
    moto_pid: int | None = None  # the S3 server's process, when the stack has one
    worker_pids: list[int] = field(default_factory=list)  # `serve --workers N`: the workers

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def pids(self) -> list[int]:
        """Every process of this server (the supervisor and its workers, with --workers)."""
        return [self.process.pid, *self.worker_pids]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def pyrogrpc_server(env: dict[str, str], port: int | None = None, workers: int = 1) -> Iterator[ServerProcess]:
    """`python -m pyrogrpc serve [--workers N]` with `env`; waits until every worker serves;
    SIGTERM at the end."""
    port = port or free_port()
    metrics_port = free_ports(workers)
    full_env = {
        **os.environ,
        "JWT_SECRET": JWT_SECRET,
        "SUPERADMIN_LOGIN": ADMIN_LOGIN,
        "SUPERADMIN_PASSWORD": ADMIN_PASSWORD,
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": str(port),
        "METRICS_PORT": str(metrics_port),  # metrics on, as in production, on ports of their own
        "HTTP_PORT": "0",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pyrogrpc", "--env-file", "/dev/null", "--log-level", "WARNING", "serve"]
        + (["--workers", str(workers)] if workers > 1 else []),
        env=full_env,
        cwd=ROOT,
    )
    try:
        _wait_port(port, 60, process)
        asyncio.run(_wait_serving(port))
        for offset in range(workers):  # a worker exposes its metrics once it serves
            _wait_port(metrics_port + offset, 120, process)
        yield ServerProcess(process, port, worker_pids=worker_pids(process.pid) if workers > 1 else [])
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def worker_pids(supervisor: int) -> list[int]:
    """The workers of `serve --workers` (multiprocessing's resource tracker is a child too)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


async def _wait_serving(port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(100):
            with contextlib.suppress(grpc.aio.AioRpcError):
                response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            await asyncio.sleep(0.1)
    raise TimeoutError("the server never reported SERVING")


@contextlib.contextmanager
def bench_stack(
    *, s3: bool = True, replicas: int = 1, database: str = "postgresql", **env: str
) -> Iterator[ServerProcess]:
    """PostgreSQL database (or, with database="sqlite", the embedded SQLite file that the
    server migrates itself) + (moto S3 or a local media folder) + pyrogrpc server.

    With `replicas` > 1, that many server processes share the port (SO_REUSEPORT, on by
    default in gRPC on Linux): the kernel spreads connections, so clients need a connection
    each (`connect_own`). The first process is yielded (its pid is the one measured).
    """
    if database not in ("postgresql", "sqlite"):
        raise ValueError(f"database must be postgresql or sqlite, got {database!r}")
    with contextlib.ExitStack() as stack:
        server_env = dict(env)
        if database == "postgresql":
            server_env["DATABASE_URL"] = stack.enter_context(postgres_database())
        if database == "sqlite" or not s3:
            # Embedded layout: the SQLite file and the media folder both live in the data dir.
            server_env["PYROGRPC_DATA_DIR"] = stack.enter_context(tempfile.TemporaryDirectory(prefix="pyrogrpc-bench-"))
        moto_pid = None
        if s3:
            s3_env, moto_pid = stack.enter_context(moto_s3(f"bench-{uuid.uuid4().hex[:8]}"))
            server_env.update(s3_env)
        first = stack.enter_context(pyrogrpc_server(server_env))
        for _ in range(replicas - 1):
            stack.enter_context(pyrogrpc_server(server_env, port=first.port))
        first.moto_pid = moto_pid
        yield first


@contextlib.asynccontextmanager
async def connect_own(port: int):
    """An Api on a connection of its own. gRPC channels to one target otherwise share one
    connection (the global subchannel pool), which SO_REUSEPORT hands to a single process."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        yield Api(channel, port=port)


def distinct_jpegs(size: int) -> Iterator[bytes]:
    """JPEG frames of `size` bytes, each different (a counter before one random block), as real
    cameras send: identical bytes would share a storage key. os.urandom of every 100 KB frame
    cost the load generator ~0.18 ms of CPU per workflow, on the cores the server needs."""
    head = tiny_jpeg(0)[:-2]  # a header that parses (the server reads the picture's size)
    body = os.urandom(max(size - len(head) - 18, 0))  # 16-byte counter, 2-byte end
    for number in itertools.count():
        yield head + number.to_bytes(16, "big") + body + b"\xff\xd9"


def server_rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Latencies:
    """Latency samples (seconds) per operation name."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @contextlib.asynccontextmanager
    async def measure(self, name: str, record: bool = True):
        """Time the block; `record=False` (e.g. during warm-up) times nothing."""
        started = time.perf_counter()
        yield
        if record:
            self.samples[name].append(time.perf_counter() - started)

    def add(self, name: str, seconds: float) -> None:
        self.samples[name].append(seconds)

    def summary(self) -> dict[str, dict[str, float]]:
        return {name: percentiles(values) for name, values in self.samples.items()}


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"count": 0}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "count": len(ordered),
        "p50_ms": round(pick(0.50), 2),
        "p95_ms": round(pick(0.95), 2),
        "p99_ms": round(pick(0.99), 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


@dataclass
class Run:
    """Shared by the workers of one timed run: stop when `stop` is set, record only while `measuring`."""

    stop: asyncio.Event = field(default_factory=asyncio.Event)
    measuring: bool = False


@dataclass
class Window:
    """What a timed run measured: wall seconds, and CPU seconds of the server, the bench
    process, the S3 server (moto) and the whole machine (every process, kernel included)."""

    seconds: float
    server_cpu_seconds: float | None = None
    client_cpu_seconds: float = 0.0  # the bench process itself (load generation)
    moto_cpu_seconds: float | None = None
    machine_cpu_seconds: float = 0.0  # busy time of all cores: the 2-core budget everything shares


async def run_for(
    seconds: float,
    worker,
    concurrency: int,
    *,
    warmup: float = 2.0,
    server_pid: int | None = None,
    moto_pid: int | None = None,
    server_pids: list[int] | None = None,
) -> Window:
    """Run `worker(index, run)` `concurrency` times; measure `seconds` after `warmup`.

    Workers record samples only while `run.measuring`. With `server_pid`, the server's
    CPU time over the window is measured too, and the window is profiled with py-spy
    when PYROGRPC_BENCH_PROFILE names an output file (raw collapsed stacks; with
    PYROGRPC_BENCH_PROFILE_GIL=1, only the thread holding the GIL is sampled). `server_pids`:
    measure the CPU of all these processes instead (`serve --workers`).
    """
    measured = server_pids or ([server_pid] if server_pid else [])
    run = Run()
    tasks = [asyncio.create_task(worker(i, run)) for i in range(concurrency)]
    await asyncio.sleep(warmup)
    profiler = _start_profiler(server_pid, seconds) if server_pid else None
    cpu_before = sum(cpu_seconds(pid) for pid in measured)
    moto_before = cpu_seconds(moto_pid) if moto_pid else None
    machine_before = machine_busy_seconds()
    client_before = time.process_time()
    run.measuring = True
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    run.measuring = False
    elapsed = time.perf_counter() - started
    cpu = sum(cpu_seconds(pid) for pid in measured) - cpu_before if measured else None
    client_cpu = time.process_time() - client_before
    moto_cpu = cpu_seconds(moto_pid) - moto_before if moto_pid else None
    machine_cpu = machine_busy_seconds() - machine_before
    run.stop.set()
    await asyncio.gather(*tasks)
    if profiler:
        profiler.wait(30)
    return Window(elapsed, cpu, client_cpu, moto_cpu, machine_cpu)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat: every field but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def _start_profiler(pid: int, seconds: float) -> subprocess.Popen | None:
    output = os.environ.get("PYROGRPC_BENCH_PROFILE")
    if not output:
        return None
    return subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--threads",
            "--nonblocking",
            "-o",
            output,
            # Only the thread holding the GIL: the server's Python time, without the threads
            # that wait for it (which py-spy otherwise counts as busy).
            *(["--gil"] if os.environ.get("PYROGRPC_BENCH_PROFILE_GIL") else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def table(title: str, header: list[str], rows: list[list[object]]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        title,
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells[1:]]
    return "\n".join(lines)


def latency_table(title: str, latencies: Latencies) -> str:
    rows = [
        [name, s["count"], s.get("p50_ms", "-"), s.get("p95_ms", "-"), s.get("p99_ms", "-"), s.get("max_ms", "-")]
        for name, s in latencies.summary().items()
    ]
    return table(title, ["operation", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"], rows)


def report(name: str, result: dict, text: str) -> Path:
    """Print the bench's tables and write bench/results/<name>.json."""
    print(text, flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "bench": name,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1_5_15": os.getloadavg(),  # other work on the machine skews the figures
        },
        **result,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"-> {path.relative_to(ROOT)}", flush=True)
    return path


async def setup_group(api: Api) -> tuple[Api, int, object]:
    """Log in as the superadmin and create a group with a user; returns (admin, group_id, user)."""
    admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
    group_id = (await admin.create_group()).id
    user = await admin.create_user(group_id)
    return admin, group_id, user
