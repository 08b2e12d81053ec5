"""Large uploads: throughput of 50 MB UploadMedia streams to local storage and to S3
(moto), and how much the server's resident memory grows meanwhile (the upload is
streamed, never held in memory). Target: RSS growth < 32 MB.

    python bench/upload_bench.py [--megabytes 50] [--uploads 3]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time

from common import Api, bench_stack, report, server_rss_kib, setup_group, table, tiny_jpeg, upload_requests

from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import resources_pb2 as res

TARGET_GROWTH_MB = 32.0


class RssSampler:
    """Peak resident memory of a process, sampled every 10 ms in a thread."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_kib = server_rss_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak_kib = max(self.peak_kib, server_rss_kib(self.pid))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def bench(port: int, pid: int, megabytes: int, uploads: int) -> dict:
    size = megabytes * 1024 * 1024
    async with Api.connect(port) as api:
        admin, _, owner = await setup_group(api)
        camera, _ = await admin.new_device(owner.id)

        async def upload(content: bytes) -> float:
            media = (
                await camera.detection.CreateMyMedia(detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE))
            ).media
            started = time.perf_counter()
            uploaded = (await camera.detection.UploadMedia(upload_requests(media.id, content), timeout=300)).media
            assert uploaded.size_bytes == len(content)
            return time.perf_counter() - started

        await upload(tiny_jpeg(1024 * 1024))  # warm-up: connections, code paths, first allocations
        baseline_kib = server_rss_kib(pid)
        seconds = []
        with RssSampler(pid) as sampler:
            for _ in range(uploads):
                seconds.append(await upload(tiny_jpeg(size - 16)))
        growth_mb = (sampler.peak_kib - baseline_kib) / 1024
    return {
        "megabytes": megabytes,
        "uploads": uploads,
        "seconds": seconds,
        "mb_per_s": megabytes * uploads / sum(seconds),
        "rss_baseline_mb": baseline_kib / 1024,
        "rss_peak_mb": sampler.peak_kib / 1024,
        "rss_growth_mb": growth_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--uploads", type=int, default=3)
    args = parser.parse_args()
    limit = str((args.megabytes + 1) * 1024 * 1024)
    results = {}
    for storage, s3 in (("local", False), ("s3", True)):
        with bench_stack(s3=s3, BCRYPT_ROUNDS="4", MAX_UPLOAD_BYTES=limit) as server:
            results[storage] = asyncio.run(bench(server.port, server.pid, args.megabytes, args.uploads))
    rows = [
        [
            storage,
            f"{r['mb_per_s']:.0f}",
            f"{r['rss_baseline_mb']:.0f}",
            f"{r['rss_peak_mb']:.0f}",
            f"{r['rss_growth_mb']:.1f}",
            f"< {TARGET_GROWTH_MB:.0f}",
        ]
        for storage, r in results.items()
    ]
    text = table(
        f"upload_bench: {args.uploads} x {args.megabytes} MB uploads per storage (64 KiB chunks), PostgreSQL",
        ["storage", "MB/s", "RSS before MB", "RSS peak MB", "RSS growth MB", "target growth"],
        rows,
    )
    worst = max(r["rss_growth_mb"] for r in results.values())
    report(
        "upload",
        {
            "storages": results,
            "target_rss_growth_mb": TARGET_GROWTH_MB,
            "max_rss_growth_mb": worst,
            "meets_target": worst < TARGET_GROWTH_MB,
        },
        text,
    )


if __name__ == "__main__":
    main()
