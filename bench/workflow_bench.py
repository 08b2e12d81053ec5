"""Camera workflow throughput: 16 concurrent cameras doing Heartbeat + CreateMyMedia +
UploadMedia (100 KB JPEG) + CreateMyAlert against one server process on PostgreSQL and
moto S3. Target: >= 175 workflows/s (the REST original: 43.8/s).

    python bench/workflow_bench.py [--seconds 15] [--cameras 16]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from common import REST_ORIGINAL, Api, Latencies, bench_stack, latency_table, report, run_for, setup_group, table, tiny_jpeg, upload_requests
from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import resources_pb2 as res
from pyronear.v1 import setup_service_pb2 as setup_pb

TARGET = 175.0
UPLOAD_BYTES = 100 * 1024


async def bench(port: int, pid: int, seconds: float, cameras: int) -> dict:
    latencies = Latencies()
    async with Api.connect(port) as api:
        admin, _, owner = await setup_group(api)
        clients = [(await admin.new_device(owner.id, lat=44.0, lon=4.0 + i / 100, azimuth=90.0))[0] for i in range(cameras)]
        done = 0

        async def camera(index: int, run) -> None:
            nonlocal done
            client = clients[index]
            while not run.stop.is_set():
                measuring = run.measuring
                started = time.perf_counter()
                async with latencies.measure("Heartbeat", measuring):
                    await client.setup.Heartbeat(setup_pb.HeartbeatRequest())
                async with latencies.measure("CreateMyMedia", measuring):
                    media = (await client.detection.CreateMyMedia(detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE))).media
                async with latencies.measure("UploadMedia", measuring):
                    # distinct frames, as real cameras send (identical bytes share a storage key)
                    await client.detection.UploadMedia(upload_requests(media.id, tiny_jpeg(UPLOAD_BYTES - 16)))
                async with latencies.measure("CreateMyAlert", measuring):
                    await client.detection.CreateMyAlert(detection_pb.CreateMyAlertRequest(media_id=media.id))
                if measuring and run.measuring:
                    latencies.add("workflow", time.perf_counter() - started)
                    done += 1

        window = await run_for(seconds, camera, cameras, server_pid=pid)
    return {
        "throughput": done / window.seconds, "workflows": done, "seconds": window.seconds,
        "server_cpu_ms_per_workflow": round(window.server_cpu_seconds * 1000 / max(done, 1), 2),
        "latencies": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--storage", choices=["s3", "local"], default="s3")
    args = parser.parse_args()
    with bench_stack(s3=args.storage == "s3", BCRYPT_ROUNDS="10") as server:
        result = asyncio.run(bench(server.port, server.pid, args.seconds, args.cameras))
    latencies: Latencies = result.pop("latencies")
    throughput = result["throughput"]
    summary = table(
        f"workflow_bench: {args.cameras} cameras, {args.seconds:.0f} s, PostgreSQL + {args.storage} storage, upload {UPLOAD_BYTES // 1024} KB",
        ["metric", "target", "REST original", "pyrogrpc"],
        [
            ["workflows/s", f">= {TARGET:.0f}", REST_ORIGINAL["workflows_per_s"], f"{throughput:.1f}"],
            ["server CPU ms per workflow", "-", "-", result["server_cpu_ms_per_workflow"]],
        ],
    )
    text = summary + "\n\n" + latency_table("latency per workflow and per RPC", latencies)
    report("workflow" if args.storage == "s3" else "workflow_local", {
        **result, "cameras": args.cameras, "storage": args.storage, "upload_bytes": UPLOAD_BYTES, "target_workflows_per_s": TARGET,
        "rest_original_workflows_per_s": REST_ORIGINAL["workflows_per_s"], "meets_target": throughput >= TARGET,
        "latency": latencies.summary(),
    }, text)


if __name__ == "__main__":
    main()
