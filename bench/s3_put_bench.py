"""CPU of one 100 KB PutObject against moto, per S3 client: boto3 in a thread pool (as
storage/s3.py ran every call before issue 19) and obstore (what it runs for a picture now).

    python bench/s3_put_bench.py [--puts 300] [--rounds 3]

16 PUTs in flight at a time, as 16 cameras; the CPU is this process's (all threads, the
obstore Rust runtime included), rounds alternate the two clients.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import obstore
from botocore.config import Config
from common import moto_s3, report, table
from obstore.store import S3Store

SIZE = 100 * 1024


async def measure(env: dict[str, str], puts: int, rounds: int) -> dict[str, list[float]]:
    bucket, endpoint = env["BUCKET_NAME"], env["S3_ENDPOINT_URL"]
    config = Config(
        signature_version="s3v4",
        max_pool_connections=8,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"},
    )
    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench",
        config=config,
    )  # fmt: skip
    store = S3Store(
        bucket, endpoint=endpoint, region="us-east-1", virtual_hosted_style_request=False,
        config={"access_key_id": "bench", "secret_access_key": "bench"}, client_options={"allow_http": True},
    )  # fmt: skip
    pool = ThreadPoolExecutor(8)  # storage/s3.py's default max_workers
    loop = asyncio.get_running_loop()
    data = os.urandom(SIZE)

    async def boto3_put(key: str) -> None:
        put = functools.partial(client.put_object, Bucket=bucket, Key=key, Body=data, ContentType="image/jpeg")
        await loop.run_in_executor(pool, put)

    async def obstore_put(key: str) -> None:
        await obstore.put_async(store, key, data, attributes={"Content-Type": "image/jpeg"}, use_multipart=False)

    clients = {"boto3 (thread pool)": boto3_put, "obstore": obstore_put}
    results: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(rounds):
        for name, put in clients.items():
            gate = asyncio.Semaphore(16)

            async def one(put=put, gate=gate) -> None:
                async with gate:
                    await put(uuid.uuid4().hex)

            await asyncio.gather(*(one() for _ in range(16)))  # warm-up
            started = time.process_time()
            await asyncio.gather(*(one() for _ in range(puts)))
            results[name].append((time.process_time() - started) * 1000 / puts)
    pool.shutdown()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with moto_s3(f"bench-{uuid.uuid4().hex[:8]}") as (env, _):
        results = asyncio.run(measure(env, args.puts, args.rounds))
    rows = [[name, " / ".join(f"{v:.2f}" for v in values), f"{min(values):.2f}"] for name, values in results.items()]
    text = table(
        f"s3_put_bench: CPU ms per 100 KB PutObject to moto, {args.puts} PUTs per round, 16 in flight, "
        f"load average {load:.1f}",
        ["client", "per round", "best"],
        rows,
    )
    report("s3_put", {"cpu_ms_per_put": results, "puts": args.puts}, text)


if __name__ == "__main__":
    main()
