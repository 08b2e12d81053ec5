"""Stalled uploads: server resident memory with 30 UploadMedia streams that each announce
20 MB, send 7.9 MB and stop sending (issue 13, item 5), on S3 (moto) and the local folder.

Two shapes: 30 cameras with one stalled upload each (all under the server-wide cap, so this
is the memory the caps allow), and one camera opening 30 (all but MAX_UPLOADS_PER_DEVICE get
RESOURCE_EXHAUSTED). RSS is read from /proc for the server process (`pyrogrpc serve`, a
subprocess on PostgreSQL) before, while the streams are stalled, and after the clients
cancel them. Targets: growth < 64 MB while stalled, < 16 MB after they end.

    python bench/upload_memory_bench.py [--uploads 30] [--sent-mb 7.9]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import time

import grpc
from common import Api, bench_stack, report, server_rss_kib, setup_group, table, tiny_jpeg, upload_requests

from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import resources_pb2 as res

TARGET_STALLED_MB = 64.0
TARGET_AFTER_MB = 16.0
ANNOUNCED = 20 * 1024 * 1024
CHUNK = 64 * 1024


def _content(sent_bytes: int) -> bytes:
    head = tiny_jpeg(0)[:-2]  # a picture header that parses: the server reads it before staging
    return head + os.urandom(sent_bytes - len(head))


async def _stalled_stream(media_id: int, content: bytes, all_sent: asyncio.Event):
    header = detection_pb.UploadMediaHeader(
        media_id=media_id, size_bytes=ANNOUNCED, sha256=hashlib.sha256(b"x").hexdigest()
    )
    yield detection_pb.UploadMediaRequest(header=header)
    for start in range(0, len(content), CHUNK):
        yield detection_pb.UploadMediaRequest(chunk=content[start : start + CHUNK])
    all_sent.set()
    await asyncio.Event().wait()  # stall: never send the rest, never close


async def _rss_over(pid: int, seconds: float) -> tuple[float, float]:
    """Peak and last RSS (MB) over `seconds`, sampled every 50 ms."""
    peak = last = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        last = server_rss_kib(pid)
        peak = max(peak, last)
        await asyncio.sleep(0.05)
    return peak / 1024, last / 1024


async def _scenario(port: int, pid: int, uploads: int, sent_bytes: int, one_device: bool) -> dict:
    async with Api.connect(port) as api:
        admin, _, owner = await setup_group(api)
        cameras = [(await admin.new_device(owner.id))[0] for _ in range(1 if one_device else uploads)]
        # Warm-up: one complete upload per camera channel, so connections and code paths exist.
        for camera in cameras[:2]:
            media = (
                await camera.detection.CreateMyMedia(detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE))
            ).media
            await camera.detection.UploadMedia(upload_requests(media.id, tiny_jpeg(1024 * 1024)), timeout=120)
        medias = []
        for index in range(uploads):
            camera = cameras[0 if one_device else index]
            request = detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE)
            medias.append((camera, (await camera.detection.CreateMyMedia(request)).media.id))
        content = _content(sent_bytes)
        before_mb = (await _rss_over(pid, 6.0))[1]  # after the server's memory trim (every 5 s)

        sent = [asyncio.Event() for _ in medias]
        calls = [
            camera.detection.UploadMedia(_stalled_stream(media_id, content, event))
            for (camera, media_id), event in zip(medias, sent, strict=True)
        ]
        waiters = [asyncio.ensure_future(call) for call in calls]
        deadline = time.monotonic() + 120
        # Every stream either sent its 7.9 MB (the server took them) or was refused.
        while time.monotonic() < deadline and not all(
            event.is_set() or waiter.done() for event, waiter in zip(sent, waiters, strict=True)
        ):
            await asyncio.sleep(0.1)
        stalled_mb = (await _rss_over(pid, 3.0))[0]
        ended = [w.exception() for w in waiters if w.done()]
        refused = sum(
            1 for e in ended if isinstance(e, grpc.aio.AioRpcError) and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        # The refusal can reach the client as another code when its writes race the end of the
        # call (grpc.aio reports INTERNAL 'Failed "execute_batch"', grpc/grpc#36066).
        other = sorted(
            {e.code().name if isinstance(e, grpc.aio.AioRpcError) else repr(e) for e in ended} - {"RESOURCE_EXHAUSTED"}
        )
        stalled = sum(1 for w in waiters if not w.done())

        for call in calls:
            call.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        after_mb = (await _rss_over(pid, 6.0))[1]  # once the server trimmed its heap (every 5 s)
    return {
        "uploads": uploads,
        "stalled": stalled,
        "refused_resource_exhausted": refused,
        "refused_other_codes": len(ended) - refused,
        "other_codes": other,
        "rss_before_mb": before_mb,
        "rss_stalled_mb": stalled_mb,
        "rss_after_mb": after_mb,
        "growth_stalled_mb": stalled_mb - before_mb,
        "growth_after_mb": after_mb - before_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=30)
    parser.add_argument("--sent-mb", type=float, default=7.9)
    args = parser.parse_args()
    sent_bytes = int(args.sent_mb * 1000 * 1000)
    results: dict[str, dict] = {}
    for storage, s3 in (("s3", True), ("local", False)):
        for shape, one_device in (("30 cameras", False), ("1 camera", True)):
            # A fresh server per run: the second run must not start from the first one's heap.
            with bench_stack(s3=s3, BCRYPT_ROUNDS="4", MAX_UPLOADS_TOTAL=str(max(32, args.uploads))) as server:
                results[f"{storage}, {shape}"] = asyncio.run(
                    _scenario(server.port, server.pid, args.uploads, sent_bytes, one_device)
                )
    rows = [
        [
            name,
            r["stalled"],
            r["refused_resource_exhausted"],
            r["refused_other_codes"],
            f"{r['rss_before_mb']:.0f}",
            f"{r['growth_stalled_mb']:.1f}",
            f"{r['growth_after_mb']:.1f}",
        ]
        for name, r in results.items()
    ]
    text = (
        table(
            f"upload_memory_bench: {args.uploads} uploads announcing 20 MB, sending {args.sent_mb} MB, then stalling (PostgreSQL)"
            f"\ntargets: growth < {TARGET_STALLED_MB:.0f} MB while stalled, < {TARGET_AFTER_MB:.0f} MB after they end",
            [
                "storage, callers",
                "stalled",
                "RESOURCE_EXHAUSTED",
                "other end*",
                "RSS before MB",
                "growth stalled MB",
                "growth after MB",
            ],
            rows,
        )
        + "\n* refused, but the client saw another code: "
        + ", ".join(sorted({c for r in results.values() for c in r["other_codes"]}) or ["none"])
    )
    worst_stalled = max(r["growth_stalled_mb"] for r in results.values())
    worst_after = max(r["growth_after_mb"] for r in results.values())
    report(
        "upload_memory",
        {
            "runs": results,
            "target_stalled_mb": TARGET_STALLED_MB,
            "target_after_mb": TARGET_AFTER_MB,
            "max_growth_stalled_mb": worst_stalled,
            "max_growth_after_mb": worst_after,
            "meets_target": worst_stalled < TARGET_STALLED_MB and worst_after < TARGET_AFTER_MB,
        },
        text,
    )


if __name__ == "__main__":
    main()
