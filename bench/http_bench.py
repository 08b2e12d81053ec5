"""The HTTP port against the native gRPC port of the same server, in one run: unary call rate
(GetMyUser: token check + one read) over gRPC, Connect JSON and Connect binary, and
WatchAlerts latency (CreateAlert sent -> message received) on a gRPC stream and on a Connect
JSON stream open side by side, for the same alerts.

    python bench/http_bench.py [--seconds 10] [--concurrency 8] [--alerts 60]

The server is `python -m pyrogrpc serve` on a fresh PostgreSQL database (bench/common.py),
with HTTP_PORT set; the load comes from this process: grpc.aio for gRPC, httpx (one
keep-alive connection per worker) for Connect. Python HTTP clients cost more CPU per call
than grpc.aio, so besides calls/s the table gives the server's CPU per call, the figure that
says what the HTTP path costs the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import time

import httpx
from common import (
    USER_PASSWORD,
    Api,
    Latencies,
    _wait_port,
    bench_stack,
    free_port,
    latency_table,
    report,
    run_for,
    setup_group,
    table,
)

from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as pb
from tests.http_helpers import read_envelopes

ALERT_INTERVAL_SECONDS = 0.1


def http_client(http_port: int, **kwargs) -> httpx.AsyncClient:
    # httpx sends a request's headers and body in two writes; like browsers and curl, set
    # TCP_NODELAY so the body does not wait for the server's delayed ACK.
    transport = httpx.AsyncHTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", transport=transport, **kwargs)


async def unary_rates(port: int, http_port: int, pid: int, token_api: Api, seconds: float, concurrency: int) -> dict:
    """calls/s and server CPU per call of GetMyUser over each transport, one after the other."""
    request = access_pb.GetMyUserRequest()
    headers = {"Authorization": f"Bearer {token_api.token}"}
    results = {}
    for transport in ("Connect binary", "Connect JSON", "gRPC"):
        latencies = Latencies()
        count = [0]
        clients = (
            [http_client(http_port, headers=headers, timeout=30) for _ in range(concurrency)]
            if transport != "gRPC"
            else []
        )

        async def worker(
            index: int, run, transport=transport, clients=clients, latencies=latencies, count=count
        ) -> None:
            while not run.stop.is_set():
                async with latencies.measure(transport, run.measuring):
                    if transport == "gRPC":
                        await token_api.access.GetMyUser(request)
                    elif transport == "Connect JSON":
                        response = await clients[index].post(
                            "/pyronear.v1.AccessService/GetMyUser",
                            content=b"{}",
                            headers={"Content-Type": "application/json"},
                        )
                        assert response.status_code == 200, response.text
                        json.loads(response.content)
                    else:
                        response = await clients[index].post(
                            "/pyronear.v1.AccessService/GetMyUser",
                            content=request.SerializeToString(),
                            headers={"Content-Type": "application/proto"},
                        )
                        assert response.status_code == 200, response.text
                        access_pb.GetMyUserResponse.FromString(response.content)
                if run.measuring:
                    count[0] += 1

        window = await run_for(seconds, worker, concurrency, server_pid=pid)
        for client in clients:
            await client.aclose()
        summary = latencies.summary()[transport]
        results[transport] = {
            "calls_per_s": count[0] / window.seconds,
            "server_cpu_ms_per_call": 1000 * (window.server_cpu_seconds or 0) / max(count[0], 1),
            "client_cpu_ms_per_call": 1000 * window.client_cpu_seconds / max(count[0], 1),
            "p50_ms": summary["p50_ms"],
            "p99_ms": summary["p99_ms"],
        }
    return results


async def watch_latency(api: Api, http_port: int, alerts: int) -> dict:
    """One gRPC and one Connect JSON WatchAlerts stream of the same user; `alerts` alerts."""
    admin, _, user = await setup_group(api)
    user_api = await api.login(user.login, USER_PASSWORD)
    _, device = await admin.new_device(user.id, lat=44.0, lon=4.0, azimuth=90.0)
    sent: dict[int, float] = {}
    received: dict[str, dict[int, float]] = {"gRPC": {}, "Connect JSON": {}}
    ready = {"gRPC": asyncio.Event(), "Connect JSON": asyncio.Event()}

    async def grpc_stream() -> None:
        async for message in user_api.detection.WatchAlerts(pb.WatchAlertsRequest()):
            now = time.perf_counter()
            ready["gRPC"].set()
            if message.HasField("alert"):
                received["gRPC"][message.alert.id] = now

    async def connect_stream() -> None:
        body = struct.pack(">BI", 0, 2) + b"{}"
        headers = {"Content-Type": "application/connect+json", "Authorization": f"Bearer {user_api.token}"}
        async with (
            http_client(http_port, timeout=None) as client,
            client.stream(
                "POST", "/pyronear.v1.DetectionService/WatchAlerts", content=body, headers=headers
            ) as response,
        ):
            async for _flags, data in read_envelopes(response.aiter_raw()):
                now = time.perf_counter()
                ready["Connect JSON"].set()
                message = json.loads(data)
                if "alert" in message:
                    received["Connect JSON"][int(message["alert"]["id"])] = now

    tasks = [asyncio.create_task(grpc_stream()), asyncio.create_task(connect_stream())]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ready.values())), 30)
    for _ in range(alerts):
        started = time.perf_counter()
        alert = (await admin.detection.CreateAlert(pb.CreateAlertRequest(device_id=device.id))).alert
        sent[alert.id] = started
        await asyncio.sleep(ALERT_INTERVAL_SECONDS)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(len(got) < alerts for got in received.values()):
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = Latencies()
    for transport, got in received.items():
        latencies.samples[transport] = [got[alert_id] - start for alert_id, start in sent.items() if alert_id in got]
    return {"latencies": latencies, "missing": {t: alerts - len(got) for t, got in received.items()}}


async def bench(port: int, http_port: int, pid: int, seconds: float, concurrency: int, alerts: int) -> dict:
    async with Api.connect(port) as api:
        _, _, user = await setup_group(api)
        user_api = await api.login(user.login, USER_PASSWORD)
        rates = await unary_rates(port, http_port, pid, user_api, seconds, concurrency)
        watch = await watch_latency(api, http_port, alerts)
    return {"unary": rates, **watch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--alerts", type=int, default=60)
    args = parser.parse_args()
    http_port = free_port()
    with bench_stack(s3=False, HTTP_PORT=str(http_port), HTTP_HOST="127.0.0.1") as server:
        _wait_port(http_port, 30)
        result = asyncio.run(bench(server.port, http_port, server.pid, args.seconds, args.concurrency, args.alerts))
    latencies: Latencies = result.pop("latencies")
    watch = latencies.summary()
    rows = [
        [
            transport,
            f"{r['calls_per_s']:.0f}",
            f"{r['server_cpu_ms_per_call']:.2f}",
            f"{r['client_cpu_ms_per_call']:.2f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
        ]
        for transport, r in result["unary"].items()
    ]
    text = (
        table(
            f"http_bench: GetMyUser, {args.concurrency} callers, {args.seconds:.0f} s each, PostgreSQL",
            ["transport", "calls/s", "server CPU ms/call", "client CPU ms/call", "p50 ms", "p99 ms"],
            rows,
        )
        + "\n\n"
        + latency_table(
            f"WatchAlerts: CreateAlert sent -> received, {args.alerts} alerts, streams side by side", latencies
        )
        + f"\nmissing: {result['missing']}"
    )
    report("http", {**result, "watch": watch, "seconds": args.seconds, "concurrency": args.concurrency}, text)


if __name__ == "__main__":
    main()
