"""Camera workflow throughput: 16 concurrent cameras doing Heartbeat + CreateMyMedia +
UploadMedia (100 KB JPEG) + CreateMyAlert against one server process on PostgreSQL and
moto S3. Target: >= 175 workflows/s (the REST original: 43.8/s).

    python bench/workflow_bench.py [--seconds 15] [--cameras 16]
    python bench/workflow_bench.py --variants plain,boxes,send_alert --rounds 2 --seconds 10
    python bench/workflow_bench.py --storage local --databases sqlite,postgresql --rounds 3 --seconds 10
    python bench/workflow_bench.py --cpu --rounds 3 --seconds 8 --calls 40

`--cpu` (issue 19): where the server's CPU goes, on PostgreSQL + moto S3. Each round runs
the four-RPC workflow (plain) and the two-RPC one (send_plain) in a closed loop and reads
the server's CPU per workflow; then every RPC alone, `--calls` per camera with all cameras
at once, one RPC kind after the other, and reads the server's CPU per call. Bounded: about
rounds x (2 x (seconds + 2) + a few seconds of per-RPC calls).

Variants (issue 15), measured in the same run against the same server, interleaved by round:
- plain: the workflow above, alerts without boxes;
- boxes: the same four calls, each alert with 2 boxes and a pose that has an occlusion mask
  (read on every alert, discarding nothing), so masking, IoU grouping and cones all run;
- send_alert: Heartbeat + one SendAlert (the alert with the same boxes and its picture).

Databases (issue 19, embedded mode): `--databases sqlite,postgresql` starts one server per
database (both with `--storage`), and measures the plain workflow on each, interleaved by
round. Target: SQLite >= 70% of PostgreSQL's workflows/s in the same round, p99 < 300 ms.
- send_alert: Heartbeat + one SendAlert (the alert with the same boxes and its picture);
- send_plain: Heartbeat + one SendAlert of the plain variant's alert (no boxes, no pose).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import time

import grpc
from common import (
    REST_ORIGINAL,
    Latencies,
    bench_stack,
    connect_own,
    cpu_seconds,
    distinct_jpegs,
    latency_table,
    report,
    run_for,
    setup_group,
    table,
    upload_requests,
)

from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import resources_pb2 as res
from pyronear.v1 import setup_service_pb2 as setup_pb

TARGET = 175.0
UPLOAD_BYTES = 100 * 1024


DATABASES = ("sqlite", "postgresql")
EMBEDDED_SHARE_TARGET = 0.70  # SQLite's workflows/s over PostgreSQL's, same round
EMBEDDED_P99_TARGET_MS = 300.0
VARIANTS = ("plain", "boxes", "send_alert", "send_plain")


def _boxes(step: int) -> list[res.DetectionBox]:
    """Two boxes drifting slowly (a fire between frames): consecutive alerts overlap."""
    shift = (step % 20) / 1000
    return [
        res.DetectionBox(
            box=res.NormalizedBox(x_min=0.30 + shift, y_min=0.40, x_max=0.42 + shift, y_max=0.52), confidence=0.8
        ),
        res.DetectionBox(
            box=res.NormalizedBox(x_min=0.60, y_min=0.45, x_max=0.66 + shift, y_max=0.50), confidence=0.35
        ),
    ]


def _send_alert_requests(alert: detection_pb.CreateMyAlertRequest, frame: bytes):
    header = detection_pb.SendAlertHeader(alert=alert, size_bytes=len(frame), sha256=hashlib.sha256(frame).hexdigest())
    yield detection_pb.SendAlertRequest(header=header)
    for start in range(0, len(frame), 64 * 1024):
        yield detection_pb.SendAlertRequest(chunk=frame[start : start + 64 * 1024])


async def bench(
    port: int,
    pid: int,
    moto_pid: int | None,
    seconds: float,
    cameras: int,
    channels: int,
    variant: str = "plain",
    server_pids: list[int] | None = None,
) -> dict:
    latencies = Latencies()
    async with contextlib.AsyncExitStack() as stack:
        apis = [await stack.enter_async_context(connect_own(port)) for _ in range(channels)]
        admin, _, owner = await setup_group(apis[0])
        clients = []
        poses = []
        for i in range(cameras):
            device, row = await admin.new_device(
                owner.id, lat=44.0, lon=4.0 + i / 100, azimuth=90.0, angle_of_view=60.0
            )
            clients.append(apis[i % channels].with_token(device.token))
            pose = (await admin.setup.CreatePose(setup_pb.CreatePoseRequest(device_id=row.id, azimuth=90.0))).pose
            corner = res.NormalizedBox(x_min=0.0, y_min=0.0, x_max=0.1, y_max=0.1)
            await admin.setup.CreateOcclusionMask(setup_pb.CreateOcclusionMaskRequest(pose_id=pose.id, box=corner))
            poses.append(pose.id)
        done = 0
        frames = distinct_jpegs(UPLOAD_BYTES)

        async def camera(index: int, run) -> None:
            nonlocal done
            client = clients[index]
            step = 0
            while not run.stop.is_set():
                measuring = run.measuring
                started = time.perf_counter()
                step += 1
                async with latencies.measure("Heartbeat", measuring):
                    await client.setup.Heartbeat(setup_pb.HeartbeatRequest())
                if variant in ("send_alert", "send_plain"):
                    alert = (
                        detection_pb.CreateMyAlertRequest(pose_id=poses[index], boxes=_boxes(step))
                        if variant == "send_alert"
                        else detection_pb.CreateMyAlertRequest()
                    )
                    async with latencies.measure("SendAlert", measuring):
                        await client.detection.SendAlert(_send_alert_requests(alert, next(frames)))
                    if measuring and run.measuring:
                        latencies.add("workflow", time.perf_counter() - started)
                        done += 1
                    continue
                async with latencies.measure("CreateMyMedia", measuring):
                    media = (
                        await client.detection.CreateMyMedia(
                            detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE)
                        )
                    ).media
                async with latencies.measure("UploadMedia", measuring):
                    await client.detection.UploadMedia(upload_requests(media.id, next(frames)))
                if variant == "boxes":
                    request = detection_pb.CreateMyAlertRequest(
                        media_id=media.id, pose_id=poses[index], boxes=_boxes(step)
                    )
                else:
                    request = detection_pb.CreateMyAlertRequest(media_id=media.id)
                async with latencies.measure("CreateMyAlert", measuring):
                    await client.detection.CreateMyAlert(request)
                if measuring and run.measuring:
                    latencies.add("workflow", time.perf_counter() - started)
                    done += 1

        window = await run_for(seconds, camera, cameras, server_pid=pid, moto_pid=moto_pid, server_pids=server_pids)

    def per_workflow(cpu_seconds: float | None) -> float | None:
        return None if cpu_seconds is None else round(cpu_seconds * 1000 / max(done, 1), 2)

    return {
        "throughput": done / window.seconds,
        "workflows": done,
        "seconds": window.seconds,
        "server_cpu_ms_per_workflow": per_workflow(window.server_cpu_seconds),
        "client_cpu_ms_per_workflow": per_workflow(window.client_cpu_seconds),
        "moto_cpu_ms_per_workflow": per_workflow(window.moto_cpu_seconds),
        "machine_cpu_ms_per_workflow": per_workflow(window.machine_cpu_seconds),
        "machine_busy_percent": round(window.machine_cpu_seconds * 100 / (window.seconds * (os.cpu_count() or 1)), 1),
        "latencies": latencies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--storage", choices=["s3", "local"], default="s3")
    parser.add_argument("--replicas", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT)")
    parser.add_argument(
        "--variants", default="", help=f"comma-separated, among {', '.join(VARIANTS)}: compare them in one run"
    )
    parser.add_argument("--rounds", type=int, default=1, help="with --variants: interleaved rounds of every variant")
    parser.add_argument(
        "--databases", default="", help=f"comma-separated, among {', '.join(DATABASES)}: one server each, compared"
    )
    parser.add_argument("--cpu", action="store_true", help="server CPU per workflow and per RPC (issue 19)")
    parser.add_argument("--calls", type=int, default=40, help="with --cpu: calls of each RPC per camera per round")
    args = parser.parse_args()
    if args.databases:
        compare_databases(args)
        return
    if args.cpu:
        cpu_breakdown(args)
        return
    if args.variants:
        compare_variants(args)
        return
    with bench_stack(s3=args.storage == "s3", replicas=args.replicas, BCRYPT_ROUNDS="10") as server:
        # one channel (connection) per camera when several processes share the port
        channels = 1 if args.replicas == 1 else args.cameras
        result = asyncio.run(bench(server.port, server.pid, server.moto_pid, args.seconds, args.cameras, channels))
    latencies: Latencies = result.pop("latencies")
    throughput = result["throughput"]
    summary = table(
        f"workflow_bench: {args.cameras} cameras, {args.seconds:.0f} s, {args.replicas} server process(es), "
        f"PostgreSQL + {args.storage} storage, upload {UPLOAD_BYTES // 1024} KB",
        ["metric", "target", "REST original", "pyrogrpc"],
        [
            ["workflows/s", f">= {TARGET:.0f}", REST_ORIGINAL["workflows_per_s"], f"{throughput:.1f}"],
            ["server CPU ms per workflow (first process)", "-", "-", result["server_cpu_ms_per_workflow"]],
            ["bench client CPU ms per workflow", "-", "-", result["client_cpu_ms_per_workflow"]],
            ["moto S3 server CPU ms per workflow", "-", "-", result["moto_cpu_ms_per_workflow"] or "-"],
            ["machine CPU ms per workflow (all processes)", "-", "-", result["machine_cpu_ms_per_workflow"]],
            [f"machine busy ({os.cpu_count()} cores)", "-", "-", f"{result['machine_busy_percent']} %"],
        ],
    )
    text = summary + "\n\n" + latency_table("latency per workflow and per RPC", latencies)
    name = (
        "workflow" + ("" if args.storage == "s3" else "_local") + ("" if args.replicas == 1 else f"_x{args.replicas}")
    )
    report(
        name,
        {
            **result,
            "cameras": args.cameras,
            "storage": args.storage,
            "replicas": args.replicas,
            "upload_bytes": UPLOAD_BYTES,
            "target_workflows_per_s": TARGET,
            "rest_original_workflows_per_s": REST_ORIGINAL["workflows_per_s"],
            "meets_target": throughput >= TARGET,
            "latency": latencies.summary(),
        },
        text,
    )


def compare_variants(args: argparse.Namespace) -> None:
    """Every variant against the same server, round after round (plain, boxes, ..., plain, ...),
    so a machine that gets busier meanwhile weighs on all of them alike."""
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose among {', '.join(VARIANTS)}")
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    with bench_stack(s3=args.storage == "s3", replicas=args.replicas, BCRYPT_ROUNDS="10") as server:
        channels = 1 if args.replicas == 1 else args.cameras
        for _ in range(args.rounds):
            for name in variants:
                runs[name].append(
                    asyncio.run(
                        bench(server.port, server.pid, server.moto_pid, args.seconds, args.cameras, channels, name)
                    )
                )
    rows = []
    for name in variants:
        rates = [r["throughput"] for r in runs[name]]
        cpu = [r["server_cpu_ms_per_workflow"] for r in runs[name] if r["server_cpu_ms_per_workflow"] is not None]
        p50 = [r["latencies"].summary().get("workflow", {}).get("p50_ms") for r in runs[name]]
        rows.append(
            [
                name,
                " / ".join(f"{rate:.1f}" for rate in rates),
                " / ".join(f"{c}" for c in cpu),
                " / ".join("-" if v is None else f"{v}" for v in p50),
            ]
        )
    text = table(
        f"workflow_bench variants: {args.cameras} cameras, {args.rounds} round(s) of {args.seconds:.0f} s each, "
        f"PostgreSQL + {args.storage} storage, upload {UPLOAD_BYTES // 1024} KB",
        ["variant", "workflows/s per round", "server CPU ms per workflow", "workflow p50 ms"],
        rows,
    )
    report(
        "workflow_variants",
        {
            name: [
                {k: v for k, v in r.items() if k != "latencies"} | {"latency": r["latencies"].summary()}
                for r in results
            ]
            for name, results in runs.items()
        },
        text,
    )


def compare_databases(args: argparse.Namespace) -> None:
    """One server per database (same storage kind), all started first, then measured round by
    round (sqlite, postgresql, sqlite, ...) so a machine that gets busier weighs on each alike."""
    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = sorted(set(databases) - set(DATABASES))
    if unknown:
        raise SystemExit(f"unknown databases {unknown}; choose among {', '.join(DATABASES)}")
    runs: dict[str, list[dict]] = {name: [] for name in databases}
    loads: list[float] = []
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(bench_stack(s3=args.storage == "s3", database=name, BCRYPT_ROUNDS="10"))
            for name in databases
        }
        for _ in range(args.rounds):
            for name, server in servers.items():
                runs[name].append(
                    asyncio.run(bench(server.port, server.pid, server.moto_pid, args.seconds, args.cameras, 1))
                )
                loads.append(os.getloadavg()[0])
    summaries = {
        name: [r["latencies"].summary().get("workflow", {}) for r in results] for name, results in runs.items()
    }
    rows = []
    for name in databases:
        rows.append(
            [
                name,
                " / ".join(f"{r['throughput']:.1f}" for r in runs[name]),
                " / ".join(str(s.get("p50_ms", "-")) for s in summaries[name]),
                " / ".join(str(s.get("p99_ms", "-")) for s in summaries[name]),
                " / ".join(str(r["server_cpu_ms_per_workflow"]) for r in runs[name]),
                " / ".join(str(r["machine_cpu_ms_per_workflow"]) for r in runs[name]),
            ]
        )
    text = table(
        f"workflow_bench databases: {args.cameras} cameras, {args.rounds} round(s) of {args.seconds:.0f} s each, "
        f"{args.storage} storage, upload {UPLOAD_BYTES // 1024} KB; load average (1 min) "
        f"{min(loads):.1f}-{max(loads):.1f}",
        [
            "database",
            "workflows/s per round",
            "workflow p50 ms",
            "workflow p99 ms",
            "server CPU ms per workflow",
            "machine CPU ms per workflow",
        ],
        rows,
    )
    result: dict = {
        "storage": args.storage,
        "cameras": args.cameras,
        "load_average_1min": loads,
        **{
            name: [{k: v for k, v in r.items() if k != "latencies"} | {"latency": r["latencies"].summary()} for r in rs]
            for name, rs in runs.items()
        },
    }
    if {"sqlite", "postgresql"} <= set(databases):
        shares = [s["throughput"] / p["throughput"] for s, p in zip(runs["sqlite"], runs["postgresql"], strict=True)]
        p99s = [s.get("p99_ms", float("inf")) for s in summaries["sqlite"]]
        result |= {
            "sqlite_share_per_round": shares,
            "meets_target": min(shares) >= EMBEDDED_SHARE_TARGET and max(p99s) < EMBEDDED_P99_TARGET_MS,
        }
        text += "\n\n" + table(
            "embedded mode (issue 19): SQLite against PostgreSQL, same round",
            ["metric", "target", "per round"],
            [
                [
                    "SQLite workflows/s / PostgreSQL's",
                    f">= {EMBEDDED_SHARE_TARGET:.0%}",
                    " / ".join(f"{share:.0%}" for share in shares),
                ],
                ["SQLite workflow p99", f"< {EMBEDDED_P99_TARGET_MS:.0f} ms", " / ".join(f"{p:.0f} ms" for p in p99s)],
            ],
        )
    report(f"workflow_databases_{args.storage}", result, text)


PER_RPC = ("Heartbeat", "CreateMyMedia", "UploadMedia", "CreateMyAlert", "SendAlert")
WORKFLOWS = {
    "plain": ("Heartbeat", "CreateMyMedia", "UploadMedia", "CreateMyAlert"),
    "send_plain": ("Heartbeat", "SendAlert"),
}


async def per_rpc(port: int, pid: int, cameras: int, calls: int) -> dict[str, float]:
    """Server CPU ms per call of each workflow RPC, each kind run alone: `cameras` callers
    at once, `calls` each, one kind after the other (the uploads fill the media just
    created, the alerts use the media just uploaded). CPU from /proc (10 ms ticks): a kind
    needs a few hundred ms of CPU in all for a figure to 2-3 %."""
    async with connect_own(port) as api:
        admin, _, owner = await setup_group(api)
        clients = []
        for i in range(cameras):
            device, _ = await admin.new_device(owner.id, lat=44.0, lon=4.0 + i / 100, azimuth=90.0, angle_of_view=60.0)
            clients.append(api.with_token(device.token))
        frames = distinct_jpegs(UPLOAD_BYTES)
        media: list[list[int]] = [[] for _ in clients]

        async def heartbeat(i: int, _: int) -> None:
            await clients[i].setup.Heartbeat(setup_pb.HeartbeatRequest())

        async def create_media(i: int, _: int) -> None:
            request = detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE)
            media[i].append((await clients[i].detection.CreateMyMedia(request)).media.id)

        async def upload(i: int, n: int) -> None:
            await clients[i].detection.UploadMedia(upload_requests(media[i][n], next(frames)))

        async def alert(i: int, n: int) -> None:
            await clients[i].detection.CreateMyAlert(detection_pb.CreateMyAlertRequest(media_id=media[i][n]))

        async def send_alert(i: int, _: int) -> None:
            request = detection_pb.CreateMyAlertRequest()
            await clients[i].detection.SendAlert(_send_alert_requests(request, next(frames)))

        steps = dict(zip(PER_RPC, (heartbeat, create_media, upload, alert, send_alert), strict=True))
        for step in steps.values():  # warm-up: first calls pay for imports, caches, connections
            await asyncio.gather(*(step(i, 0) for i in range(len(clients))))
            if step is alert:
                for ids in media:
                    ids.clear()
        result = {}
        for name, step in steps.items():

            async def caller(i: int, step=step) -> None:
                for n in range(calls):
                    await step(i, n)

            before = cpu_seconds(pid)
            await asyncio.gather(*(caller(i) for i in range(len(clients))))
            result[name] = (cpu_seconds(pid) - before) * 1000 / (calls * len(clients))
        return result


def cpu_breakdown(args: argparse.Namespace) -> None:
    """Issue 19: server CPU per workflow (closed loop) and per RPC (each alone), round after round."""
    rounds: list[dict] = []
    load: list[float] = []
    with bench_stack(s3=args.storage == "s3", BCRYPT_ROUNDS="10") as server:
        for number in range(args.rounds):
            row = {}
            try:
                for name in WORKFLOWS:
                    run = asyncio.run(
                        bench(server.port, server.pid, server.moto_pid, args.seconds, args.cameras, 1, name)
                    )
                    row[name] = {"cpu_ms": run["server_cpu_ms_per_workflow"], "per_s": run["throughput"]}
                row["per_rpc_ms"] = asyncio.run(per_rpc(server.port, server.pid, args.cameras, args.calls))
            except grpc.aio.AioRpcError as error:
                # A machine shared with test suites: a pool timeout (UNAVAILABLE) loses the round, not the run.
                print(f"round {number + 1} dropped: {error.code().name} {error.details()}", flush=True)
                continue
            load.append(os.getloadavg()[0])
            rounds.append(row)
        if not rounds:
            raise SystemExit("every round failed")

    def joined(values) -> str:
        return " / ".join(f"{v:.2f}" for v in values)

    workflow_rows = []
    for name, rpcs in WORKFLOWS.items():
        label = f"{name} ({' + '.join(rpcs)})"
        measured = [r[name]["cpu_ms"] for r in rounds]
        summed = [sum(r["per_rpc_ms"][rpc] for rpc in rpcs) for r in rounds]
        rates = [r[name]["per_s"] for r in rounds]
        workflow_rows.append([label, joined(measured), f"{min(measured):.2f}", joined(summed), joined(rates)])
    rpc_rows = [
        [rpc, joined(r["per_rpc_ms"][rpc] for r in rounds), f"{min(r['per_rpc_ms'][rpc] for r in rounds):.2f}"]
        for rpc in PER_RPC
    ]
    where = f"PostgreSQL + {args.storage} storage, {args.cameras} cameras, upload {UPLOAD_BYTES // 1024} KB"
    text = (
        table(
            f"server CPU ms per workflow, closed loop, {args.rounds} round(s) of {args.seconds:.0f} s, {where}; "
            f"load average (1 min) at each round: {' / '.join(f'{v:.1f}' for v in load)}",
            ["workflow", "per round", "best", "sum of its RPCs alone, per round", "workflows/s per round"],
            workflow_rows,
        )
        + "\n\n"
        + table(
            f"server CPU ms per call, each RPC alone ({args.cameras} callers x {args.calls} calls), per round",
            ["RPC", "per round", "best"],
            rpc_rows,
        )
    )
    report(
        "workflow_cpu" + ("" if args.storage == "s3" else "_local"),
        {"rounds": rounds, "load_average_1min_per_round": load, "cameras": args.cameras, "calls": args.calls},
        text,
    )


if __name__ == "__main__":
    main()
