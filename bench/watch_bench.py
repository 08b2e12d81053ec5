"""WatchAlerts fan-out: 1000 live watchers, N alerts created through CreateAlert.

    python bench/watch_bench.py                       # SQLite in a temp dir
    python bench/watch_bench.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

With --database-url the bench creates a fresh database on that PostgreSQL server,
migrates it, and drops it at the end. The server runs in this process (loopback only);
the watchers run in a child process with their own event loop, so decoding 1000 streams
does not compete with the server for the same core. Stops by itself (--deadline).

Latency: commit -> receive. "Commit" is a timestamp taken by an AlertService listener
placed first in the list, i.e. right after the alert's transaction committed (before the
watch hub is even told); "receive" is when the watcher process read the message. Both are
CLOCK_MONOTONIC, shared by the processes of one Linux machine. The time from the
CreateAlert response to receive is reported too (it can be negative: the stream may beat
the response).

Memory per watcher: the server process's RSS after the watchers connected minus before,
divided by their number (includes gRPC's per-stream buffers).

Where the time goes: each message costs the server ~100 us of CPU, nearly all of it in
gRPC's own write path (Cython + one sendmsg per message); the hub's fan-out is ~7 us per
watcher. An alert to 1000 watchers is thus ~0.1 s of one core, and the watcher process
needs about as much to decode it. The p99 tail comes from CPython's full garbage
collections (~0.2 s with 1000 streams' objects); --gc-tuned shows the effect of tuning
them (results stored under "<database>_gc_tuned").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import grpc
from common import ADMIN_LOGIN, ADMIN_PASSWORD, ROOT, postgres_database  # also puts ROOT on sys.path

from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import detection_service_pb2_grpc

RESULTS = ROOT / "bench" / "results" / "watch.json"
TARGET_P99_MS = 200.0


# --- watcher process -----------------------------------------------------------------


def watcher_process(port: int, token: str, watchers: int, channels: int, pipe) -> None:
    asyncio.run(_watch_all(port, token, watchers, channels, pipe))


async def _watch_all(port: int, token: str, watchers: int, channels: int, pipe) -> None:
    metadata = (("authorization", f"Bearer {token}"),)
    opened = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(channels)]
    stubs = [detection_service_pb2_grpc.DetectionServiceStub(channel) for channel in opened]
    received: list[list[tuple[int, float]]] = [[] for _ in range(watchers)]
    ready = 0
    all_ready = asyncio.Event()
    expected: set[int] = set()
    complete = asyncio.Event()
    done: set[int] = set()  # watchers that have every expected alert

    async def watch(index: int) -> None:
        nonlocal ready
        call = stubs[index % channels].WatchAlerts(pb.WatchAlertsRequest(), metadata=metadata)
        mine = received[index]
        counted = False
        async for message in call:
            now = time.monotonic()
            if message.HasField("heartbeat"):
                if not counted:
                    counted, ready = True, ready + 1
                    if ready == watchers:
                        all_ready.set()
                continue
            mine.append((message.alert.id, now))
            if expected and len(mine) >= len(expected) and index not in done:
                done.add(index)
                if len(done) == watchers:
                    complete.set()

    tasks = []
    for index in range(watchers):
        tasks.append(asyncio.create_task(watch(index)))
        if index % 50 == 49:
            await asyncio.sleep(0.01)  # a connection storm is not what we measure
    await all_ready.wait()
    pipe.send("ready")
    cpu_start = time.process_time()
    loop = asyncio.get_running_loop()
    ids, wait_seconds = await loop.run_in_executor(None, pipe.recv)
    expected.update(ids)
    done.update(index for index, mine in enumerate(received) if len(mine) >= len(expected))
    if len(done) == watchers:
        complete.set()
    try:
        await asyncio.wait_for(complete.wait(), wait_seconds)
    except TimeoutError:
        pass
    cpu_seconds = time.process_time() - cpu_start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in opened:
        await channel.close()
    pipe.send((received, cpu_seconds))


# --- server side ---------------------------------------------------------------------


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class CommitClock:
    """AlertService listener placed first: the monotonic time each alert's commit returned."""

    def __init__(self):
        self.times: dict[int, float] = {}

    async def alert_created(self, alert, *, new_event: bool) -> None:
        self.times[alert.id] = time.monotonic()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run(args, database_url: str, data_dir: Path) -> dict:
    from pyrogrpc.config import Settings
    from pyrogrpc.server import PyroServer
    from tests.helpers import Api, server_env

    # The tests' server environment, with the bench's superadmin (see common.py).
    env = server_env(database_url, str(data_dir), SUPERADMIN_LOGIN=ADMIN_LOGIN, SUPERADMIN_PASSWORD=ADMIN_PASSWORD)
    settings = Settings.from_env(env, env_file=None)
    load_before = os.getloadavg()  # other work on this shared machine skews the figures
    server = PyroServer(settings)
    clock = CommitClock()
    server.alerts.listeners.insert(0, clock)
    await server.start()
    if args.gc_tuned:
        # What a long-running server process may do at start (not done by PyroServer itself):
        # keep start-up objects out of full collections and collect the young generation less
        # often, so fewer full collections (~0.2 s pauses with 1000 streams) hit the streams.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    child = None
    try:
        async with Api.connect(server.port) as api:
            admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
            user, user_row = await admin.new_user()
            devices = [
                (await admin.new_device(user_row.id, lat=44.0, lon=4.0 + i / 100, azimuth=90.0))[1]
                for i in range(args.devices)
            ]
            await asyncio.sleep(0.5)
            rss_before = rss_kib()
            process = context.Process(
                target=watcher_process,
                args=(server.port, user.token, args.watchers, args.channels, child_end),
                daemon=True,
            )
            process.start()
            child = process
            loop = asyncio.get_running_loop()
            connect_start = time.monotonic()
            assert await asyncio.wait_for(loop.run_in_executor(None, parent_end.recv), 60) == "ready"
            connect_seconds = time.monotonic() - connect_start
            await asyncio.sleep(1.0)
            rss_after = rss_kib()
            assert server.watch_hub.watcher_count == args.watchers

            # Alerts at a steady rate, round-robin over devices, several in flight at once.
            returned: dict[int, float] = {}
            errors = 0

            async def create(index: int) -> None:
                nonlocal errors
                request = pb.CreateAlertRequest(device_id=devices[index % len(devices)].id)
                try:
                    alert = (await admin.detection.CreateAlert(request, timeout=30)).alert
                    returned[alert.id] = time.monotonic()
                except grpc.aio.AioRpcError:
                    errors += 1

            queries_before = server.watch_hub.queries
            cpu_start = time.process_time()
            start = time.monotonic()
            creators = []
            for index in range(args.alerts):
                await asyncio.sleep(max(0.0, start + index / args.rate - time.monotonic()))
                creators.append(asyncio.create_task(create(index)))
            await asyncio.gather(*creators)
            create_seconds = time.monotonic() - start
            remaining = max(5.0, args.deadline - (time.monotonic() - connect_start))
            parent_end.send((sorted(returned), remaining))
            received, watcher_cpu = await asyncio.wait_for(loop.run_in_executor(None, parent_end.recv), remaining + 30)
            server_cpu = time.process_time() - cpu_start
            run_seconds = time.monotonic() - start
            hub_queries = server.watch_hub.queries - queries_before
    finally:
        if child is not None:
            child.join(10)
            if child.is_alive():
                child.kill()
        await server.stop(grace=0)

    expected = sorted(returned)
    latencies, response_latencies = [], []
    exact = duplicates = missing = out_of_order = 0
    for mine in received:
        ids = [alert_id for alert_id, _ in mine]
        duplicates += len(ids) - len(set(ids))
        missing += len(set(expected) - set(ids))
        out_of_order += sum(1 for a, b in itertools.pairwise(ids) if b <= a)
        exact += ids == expected
        for alert_id, at in mine:
            if alert_id in clock.times:
                latencies.append((at - clock.times[alert_id]) * 1000)
            if alert_id in returned:
                response_latencies.append((at - returned[alert_id]) * 1000)
    delivered = sum(len(mine) for mine in received)
    return {
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "watchers": args.watchers,
        "channels": args.channels,
        "alerts_created": len(expected),
        "create_errors": errors,
        "alert_rate_per_s": args.rate,
        "create_seconds": round(create_seconds, 2),
        "connect_seconds": round(connect_seconds, 2),
        "delivered": delivered,
        "expected": len(expected) * args.watchers,
        "watchers_exactly_once_in_order": exact,
        "duplicates": duplicates,
        "missing": missing,
        "out_of_order": out_of_order,
        "hub_wakeup_queries": hub_queries,
        "run_seconds": round(run_seconds, 2),
        "server_cpu_seconds": round(server_cpu, 2),
        "watcher_process_cpu_seconds": round(watcher_cpu, 2),
        "commit_to_receive_ms": _summary(latencies),
        "response_to_receive_ms": _summary(response_latencies),
        "server_rss_before_kib": rss_before,
        "server_rss_after_kib": rss_after,
        "server_kib_per_watcher": round((rss_after - rss_before) / args.watchers, 1),
        "gc_tuned": args.gc_tuned,
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": bool(latencies) and percentile(latencies, 99) < TARGET_P99_MS,
        "load_average_1_5_15_before": [round(x, 2) for x in load_before],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def _summary(values: list[float]) -> dict:
    if not values:
        return {}
    return {
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(max(values), 1),
        "mean": round(statistics.fmean(values), 1),
        "samples": len(values),
    }


def print_table(result: dict) -> None:
    latency, response = result["commit_to_receive_ms"], result["response_to_receive_ms"]
    rows = [
        ("database", result["database"] + (" (GC tuned)" if result["gc_tuned"] else "")),
        ("watchers (channels)", f"{result['watchers']} ({result['channels']})"),
        (
            "alerts created (rate)",
            f"{result['alerts_created']} ({result['alert_rate_per_s']}/s, {result['create_errors']} errors)",
        ),
        ("commit->receive p50 / p95 / p99", f"{latency.get('p50')} / {latency.get('p95')} / {latency.get('p99')} ms"),
        ("commit->receive max", f"{latency.get('max')} ms"),
        ("response->receive p50 / p99", f"{response.get('p50')} / {response.get('p99')} ms"),
        ("delivered / expected", f"{result['delivered']} / {result['expected']}"),
        ("watchers exactly once, in order", f"{result['watchers_exactly_once_in_order']} / {result['watchers']}"),
        (
            "duplicates / missing / out of order",
            f"{result['duplicates']} / {result['missing']} / {result['out_of_order']}",
        ),
        ("hub wake-up queries (all watchers)", result["hub_wakeup_queries"]),
        (
            "CPU s: server / watcher process",
            f"{result['server_cpu_seconds']} / {result['watcher_process_cpu_seconds']} (in {result['run_seconds']} s)",
        ),
        ("server RSS before -> after", f"{result['server_rss_before_kib']} -> {result['server_rss_after_kib']} KiB"),
        ("server memory per watcher", f"{result['server_kib_per_watcher']} KiB"),
        ("p99 target", f"< {TARGET_P99_MS:.0f} ms: {'met' if result['meets_target'] else 'MISSED'}"),
        ("machine load average before (1/5/15 min)", " / ".join(map(str, result["load_average_1_5_15_before"]))),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server URL (a fresh database is created on it); default: SQLite in a temp dir",
    )
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=20, help="HTTP/2 connections the watchers share")
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="alerts created per second")
    parser.add_argument("--devices", type=int, default=8, help="devices the alerts round-robin over")
    parser.add_argument("--deadline", type=float, default=100.0, help="seconds before the bench gives up waiting")
    parser.add_argument(
        "--gc-tuned", action="store_true", help="gc.freeze() after start and gc.set_threshold(10000, 10, 10)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pyrogrpc-watch-bench-"))) / "data"
        data_dir.mkdir()
        if args.database_url:
            url = stack.enter_context(postgres_database(args.database_url))
        else:
            url = f"sqlite+aiosqlite:///{data_dir / 'pyrogrpc.sqlite3'}"
        result = asyncio.run(asyncio.wait_for(run(args, url, data_dir), args.deadline + 20))
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.output.read_text()) if args.output.is_file() else {}
    previous[result["database"] + ("_gc_tuned" if result["gc_tuned"] else "")] = result
    args.output.write_text(json.dumps(previous, indent=2) + "\n")
    print(f"\n  written to {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")


if __name__ == "__main__":
    main()
