"""Logins/s and Heartbeat latency while logins run: 8 parallel login loops (bcrypt at the
server's default cost) and cameras sending heartbeats. bcrypt runs in a thread pool of its
own (pyrogrpc/domain/security.py: BCRYPT_THREADS, BCRYPT_NICE), so heartbeats must stay fast.
Targets (issue 19): logins/s >= 1.2x the REST original's 5.0-5.1/s, i.e. >= 6.1/s, with
Heartbeat p99 < 50 ms.

    python bench/login_heartbeat_bench.py [--seconds 15] [--logins 8] [--cameras 4]
        [--heartbeat-interval 0.005]
        [--configs "threads=1,nice=10;default"] [--rounds 3]

With several configurations, one server per configuration runs on the same database and
they are measured in turn, round after round (A B A B ...): the machine's speed drifts, so
only figures taken back to back compare. A configuration is `default` (the server's own
settings) or comma-separated `threads=N`, `nice=N`, `processes=N` (BCRYPT_THREADS,
BCRYPT_NICE, `serve --workers N`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile

from common import (
    ADMIN_LOGIN,
    ADMIN_PASSWORD,
    USER_PASSWORD,
    Api,
    Latencies,
    connect_own,
    latency_table,
    postgres_database,
    pyrogrpc_server,
    report,
    run_for,
    setup_group,
    table,
)

from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import setup_service_pb2 as setup_pb

TARGET_P99_MS = 50.0
REST_LOGINS_PER_S = 5.1  # pyro-api (REST, uvicorn, 1 worker) on this machine class, issue 19
TARGET_LOGINS_PER_S = round(1.2 * REST_LOGINS_PER_S, 1)
# By default each camera sends its next Heartbeat 5 ms after the last answer (~150/s per
# camera): a much heavier load than real cameras (one every 30 s or so), which takes CPU from
# the logins on a 2-core machine. --heartbeat-interval sets that pause.
DEFAULT_HEARTBEAT_INTERVAL = 0.005

_SETTINGS = {"threads": "BCRYPT_THREADS", "nice": "BCRYPT_NICE"}


def parse_config(text: str) -> tuple[dict[str, str], int]:
    """'threads=2,nice=0' -> ({BCRYPT_THREADS: '2', BCRYPT_NICE: '0'}, processes)."""
    env: dict[str, str] = {}
    processes = 1
    if text.strip() == "default":
        return env, processes
    for part in text.split(","):
        key, _, value = part.partition("=")
        key = key.strip()
        if key == "processes":
            processes = int(value)
        elif key in _SETTINGS:
            env[_SETTINGS[key]] = str(int(value))
        else:
            raise SystemExit(f"unknown setting {key!r} in --configs (threads, nice, processes)")
    return env, processes


async def measure(
    port: int, pids: list[int], seconds: float, logins: int, cameras: int, user, heartbeat_interval: float
) -> dict:
    """One timed window against the server on `port`."""
    latencies = Latencies()
    count = {"logins": 0}
    async with Api.connect(port) as api:
        admin = await api.login(user["admin_login"], user["admin_password"])
        clients = [(await admin.new_device(user["owner_id"]))[0] for _ in range(cameras)]
        # One channel per login caller: with several server processes the kernel spreads
        # connections, not calls.
        async with contextlib.AsyncExitStack() as stack:
            callers = [await stack.enter_async_context(connect_own(port)) for _ in range(logins)]

            async def worker(index: int, run) -> None:
                if index < logins:
                    access = callers[index].access
                    while not run.stop.is_set():
                        async with latencies.measure("Login", run.measuring):
                            await access.Login(access_pb.LoginRequest(login=user["login"], password=USER_PASSWORD))
                        if run.measuring:
                            count["logins"] += 1
                else:
                    client = clients[index - logins]
                    while not run.stop.is_set():
                        async with latencies.measure("Heartbeat", run.measuring):
                            await client.setup.Heartbeat(setup_pb.HeartbeatRequest())
                        await asyncio.sleep(heartbeat_interval)

            window = await run_for(seconds, worker, logins + cameras, server_pids=pids)
    summary = latencies.summary()
    logins_done = count["logins"]
    return {
        "logins_per_s": round(logins_done / window.seconds, 2),
        "heartbeat_p99_ms": summary["Heartbeat"]["p99_ms"],
        "server_cpu_s": round(window.server_cpu_seconds or 0.0, 2),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "latency": summary,
        "_latencies": latencies,
    }


async def prepare(port: int) -> dict:
    async with Api.connect(port) as api:
        _, _, owner = await setup_group(api)
    return {"admin_login": ADMIN_LOGIN, "admin_password": ADMIN_PASSWORD, "login": owner.login, "owner_id": owner.id}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--logins", type=int, default=8)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=DEFAULT_HEARTBEAT_INTERVAL,
        help="seconds each camera waits between an answer and its next Heartbeat",
    )
    parser.add_argument("--configs", default="default", help="';'-separated configurations (see the docstring)")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if args.cameras < 1:
        parser.error("--cameras must be >= 1: the Heartbeat p99 during logins is half of what this measures")
    configs = [name.strip() for name in args.configs.split(";") if name.strip()]
    rounds: dict[str, list[dict]] = {name: [] for name in configs}
    with postgres_database() as url, contextlib.ExitStack() as stack:
        servers = {}
        for name in configs:
            env, processes = parse_config(name)
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="pyrogrpc-bench-"))
            server_env = {"DATABASE_URL": url, "PYROGRPC_DATA_DIR": data_dir, **env}
            servers[name] = stack.enter_context(pyrogrpc_server(server_env, workers=processes))
        user = asyncio.run(prepare(servers[configs[0]].port))
        for number in range(args.rounds):
            for name in configs:
                server = servers[name]
                result = asyncio.run(
                    measure(
                        server.port,
                        server.pids,
                        args.seconds,
                        args.logins,
                        args.cameras,
                        user,
                        args.heartbeat_interval,
                    )
                )
                rounds[name].append(result)
                print(
                    f"round {number + 1} {name}: {result['logins_per_s']} logins/s, Heartbeat p99 "
                    f"{result['heartbeat_p99_ms']} ms, load {result['load_average_1m']}",
                    flush=True,
                )
    rows = []
    for name in configs:
        results = rounds[name]
        rows.append(
            [
                name,
                " / ".join(f"{r['logins_per_s']:.1f}" for r in results),
                " / ".join(f"{r['heartbeat_p99_ms']:.1f}" for r in results),
                " / ".join(f"{r['server_cpu_s'] / max(1, r['latency']['Login']['count']) * 1000:.0f}" for r in results),
                " / ".join(f"{r['load_average_1m']}" for r in results),
            ]
        )
    first = rounds[configs[0]]
    worst_p99 = max(r["heartbeat_p99_ms"] for r in first)
    median_logins = statistics.median(r["logins_per_s"] for r in first)
    text = (
        table(
            f"login_heartbeat_bench: {args.logins} parallel logins + {args.cameras} cameras "
            f"(Heartbeats {args.heartbeat_interval * 1000:g} ms apart), "
            f"{args.seconds:.0f} s per round, PostgreSQL; targets: logins/s >= {TARGET_LOGINS_PER_S} "
            f"(REST {REST_LOGINS_PER_S}), Heartbeat p99 < {TARGET_P99_MS:.0f} ms",
            ["configuration", "logins/s per round", "Heartbeat p99 ms", "server CPU ms/login", "load 1m"],
            rows,
        )
        + "\n\n"
        + latency_table(f"latency, {configs[0]}, last round", first[-1]["_latencies"])
    )
    for results in rounds.values():
        for result in results:
            result.pop("_latencies")
    report(
        "login_heartbeat",
        {
            "logins": args.logins,
            "cameras": args.cameras,
            "heartbeat_interval_s": args.heartbeat_interval,
            "seconds": args.seconds,
            # The first configuration's figures (run_all.py's summary reads these).
            "logins_per_s": median_logins,
            "heartbeat_p99_ms": worst_p99,
            "target_heartbeat_p99_ms": TARGET_P99_MS,
            "target_logins_per_s": TARGET_LOGINS_PER_S,
            "meets_target": worst_p99 < TARGET_P99_MS and median_logins >= TARGET_LOGINS_PER_S,
            "rest_original_logins_per_s": REST_LOGINS_PER_S,
            "rounds": rounds,
        },
        text,
    )


if __name__ == "__main__":
    main()
