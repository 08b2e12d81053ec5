"""Heartbeat latency while logins run: 8 concurrent login loops (bcrypt at the server's
default cost) and cameras sending heartbeats. bcrypt runs in its own small thread pool
(pyrogrpc/domain/security.py), so heartbeats must stay fast. Target: Heartbeat p99 < 50 ms.
Also reports login throughput (the REST original: 5.6 logins/s).

    python bench/login_heartbeat_bench.py [--seconds 15] [--logins 8] [--cameras 4]
"""

from __future__ import annotations

import argparse
import asyncio

from common import (
    REST_ORIGINAL,
    USER_PASSWORD,
    Api,
    Latencies,
    bench_stack,
    latency_table,
    report,
    run_for,
    setup_group,
    table,
)

from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import setup_service_pb2 as setup_pb

TARGET_P99_MS = 50.0
# Heartbeats are sent back to back (no think time): a much heavier load than real cameras.


async def bench(port: int, pid: int, seconds: float, logins: int, cameras: int) -> dict:
    latencies = Latencies()
    async with Api.connect(port) as api:
        admin, _, owner = await setup_group(api)
        clients = [(await admin.new_device(owner.id))[0] for _ in range(cameras)]
        count = {"logins": 0}

        async def worker(index: int, run) -> None:
            if index < logins:
                while not run.stop.is_set():
                    async with latencies.measure("Login", run.measuring):
                        await api.access.Login(access_pb.LoginRequest(login=owner.login, password=USER_PASSWORD))
                    if run.measuring:
                        count["logins"] += 1
            else:
                client = clients[index - logins]
                while not run.stop.is_set():
                    async with latencies.measure("Heartbeat", run.measuring):
                        await client.setup.Heartbeat(setup_pb.HeartbeatRequest())
                    await asyncio.sleep(0.005)

        window = await run_for(seconds, worker, logins + cameras, server_pid=pid)
    return {"logins_per_s": count["logins"] / window.seconds, "seconds": window.seconds, "latencies": latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--logins", type=int, default=8)
    parser.add_argument("--cameras", type=int, default=4)
    args = parser.parse_args()
    with bench_stack(s3=False) as server:  # BCRYPT_ROUNDS: the server's default cost
        result = asyncio.run(bench(server.port, server.pid, args.seconds, args.logins, args.cameras))
    latencies: Latencies = result.pop("latencies")
    summary = latencies.summary()
    p99 = summary["Heartbeat"]["p99_ms"]
    text = (
        table(
            f"login_heartbeat_bench: {args.logins} parallel logins + {args.cameras} cameras, {args.seconds:.0f} s, PostgreSQL",
            ["metric", "target", "REST original", "pyrogrpc"],
            [
                ["Heartbeat p99 ms (during logins)", f"< {TARGET_P99_MS:.0f}", "-", p99],
                ["logins/s", "-", REST_ORIGINAL["logins_per_s"], f"{result['logins_per_s']:.1f}"],
            ],
        )
        + "\n\n"
        + latency_table("latency", latencies)
    )
    report(
        "login_heartbeat",
        {
            **result,
            "logins": args.logins,
            "cameras": args.cameras,
            "heartbeat_p99_ms": p99,
            "target_heartbeat_p99_ms": TARGET_P99_MS,
            "meets_target": p99 < TARGET_P99_MS,
            "rest_original_logins_per_s": REST_ORIGINAL["logins_per_s"],
            "latency": summary,
        },
        text,
    )


if __name__ == "__main__":
    main()
