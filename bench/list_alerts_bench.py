"""ListAlerts throughput: pages of 100 out of 1000 alerts of a group, read by a user of
the group with 8 concurrent clients. Target: >= 500 req/s. Also measures one page of all
1000 alerts, the REST original's figure (35 req/s).

    python bench/list_alerts_bench.py [--seconds 10] [--clients 8] [--alerts 1000]
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

from pyronear.v1 import detection_service_pb2 as detection_pb

TARGET = 500.0


async def seed(admin: Api, owner_id: int, alerts: int, cameras: int = 8) -> None:
    clients = [(await admin.new_device(owner_id, lat=44.0, lon=4.0 + i / 100, azimuth=90.0))[0] for i in range(cameras)]

    async def send(client: Api, count: int) -> None:
        for _ in range(count):
            await client.detection.CreateMyAlert(
                detection_pb.CreateMyAlertRequest(localization="[[0.1,0.1,0.2,0.2,0.9]]")
            )

    share = alerts // cameras
    await asyncio.gather(*(send(c, share + (1 if i < alerts % cameras else 0)) for i, c in enumerate(clients)))


async def measure(
    user: Api, pid: int, page_size: int, seconds: float, clients: int, latencies: Latencies
) -> tuple[float, float]:
    """(requests per second, server CPU ms per request)."""
    count = 0
    name = f"ListAlerts page_size={page_size}"

    async def worker(index: int, run) -> None:
        nonlocal count
        request = detection_pb.ListAlertsRequest(page_size=page_size)
        while not run.stop.is_set():
            async with latencies.measure(name, run.measuring):
                response = await user.detection.ListAlerts(request)
            assert len(response.alerts) == page_size
            if run.measuring:
                count += 1

    window = await run_for(seconds, worker, clients, warmup=1.0, server_pid=pid)
    return count / window.seconds, window.server_cpu_seconds * 1000 / max(count, 1)


async def bench(port: int, pid: int, seconds: float, clients: int, alerts: int) -> dict:
    latencies = Latencies()
    async with Api.connect(port) as api:
        admin, _, owner = await setup_group(api)
        await seed(admin, owner.id, alerts)
        user = await api.login(owner.login, USER_PASSWORD)
        page_100, cpu_100 = await measure(user, pid, 100, seconds, clients, latencies)
        page_all, cpu_all = await measure(user, pid, alerts, seconds / 2, clients, latencies)
    return {
        "page_100_req_per_s": page_100,
        "page_100_server_cpu_ms": round(cpu_100, 2),
        "page_all_req_per_s": page_all,
        "page_all_server_cpu_ms": round(cpu_all, 2),
        "latencies": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--alerts", type=int, default=1000)
    args = parser.parse_args()
    with bench_stack(s3=False, BCRYPT_ROUNDS="10") as server:
        result = asyncio.run(bench(server.port, server.pid, args.seconds, args.clients, args.alerts))
    latencies: Latencies = result.pop("latencies")
    text = (
        table(
            f"list_alerts_bench: {args.alerts} alerts in the group, {args.clients} concurrent clients, PostgreSQL",
            ["metric", "target", "REST original", "pyrogrpc"],
            [
                ["ListAlerts req/s, page of 100", f">= {TARGET:.0f}", "-", f"{result['page_100_req_per_s']:.0f}"],
                [
                    f"ListAlerts req/s, all {args.alerts} in one page",
                    "-",
                    REST_ORIGINAL["list_1000_alerts_req_per_s"],
                    f"{result['page_all_req_per_s']:.0f}",
                ],
                ["server CPU ms per request, page of 100", "-", "-", result["page_100_server_cpu_ms"]],
            ],
        )
        + "\n\n"
        + latency_table("latency", latencies)
    )
    report(
        "list_alerts",
        {
            **result,
            "alerts": args.alerts,
            "clients": args.clients,
            "target_req_per_s": TARGET,
            "meets_target": result["page_100_req_per_s"] >= TARGET,
            "rest_original_list_1000_req_per_s": REST_ORIGINAL["list_1000_alerts_req_per_s"],
            "latency": latencies.summary(),
        },
        text,
    )


if __name__ == "__main__":
    main()
