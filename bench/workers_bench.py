"""Camera workflows/s with 1 and N server processes (`pyrogrpc serve --workers N`) on this machine.

The two set-ups are measured in turn on one PostgreSQL database, round after round (1, N,
1, N, ...), so a machine whose speed drifts weighs on both alike. Each runs only for its
turn: every process may open 32 PostgreSQL connections, and both at once could pass
`max_connections` (100) on a machine where other clients use some. The workflow is bench/workflow_bench.py's (Heartbeat +
CreateMyMedia + UploadMedia 100 KB + CreateMyAlert, 16 cameras, each on a connection of its
own so that the kernel spreads them over the workers).

    python bench/workers_bench.py [--workers 2] [--rounds 3] [--seconds 10] [--storage local|s3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import uuid

from common import moto_s3, postgres_database, pyrogrpc_server, report, table
from workflow_bench import bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="processes of the second server (the first has 1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--storage", choices=["local", "s3"], default="local")
    args = parser.parse_args()
    counts = [1, args.workers]
    runs: dict[int, list[dict]] = {count: [] for count in counts}
    with postgres_database() as url, contextlib.ExitStack() as stack:
        env = {"DATABASE_URL": url, "BCRYPT_ROUNDS": "10"}
        moto_pid = None
        if args.storage == "s3":
            s3_env, moto_pid = stack.enter_context(moto_s3(f"bench-{uuid.uuid4().hex[:8]}"))
            env.update(s3_env)
        else:
            env["PYROGRPC_DATA_DIR"] = stack.enter_context(tempfile.TemporaryDirectory(prefix="pyrogrpc-bench-"))
        for number in range(args.rounds):
            for count in counts:
                with pyrogrpc_server(env, workers=count) as server:
                    result = asyncio.run(
                        bench(
                            server.port,
                            server.pid,
                            moto_pid,
                            args.seconds,
                            args.cameras,
                            args.cameras,  # a connection per camera
                            server_pids=server.pids,
                        )
                    )
                result["load_average_1m"] = round(os.getloadavg()[0], 1)
                runs[count].append(result)
                print(
                    f"round {number + 1}, {count} worker(s): {result['throughput']:.1f} workflows/s, "
                    f"load {result['load_average_1m']}",
                    flush=True,
                )
    rows = []
    for count in counts:
        results = runs[count]
        rows.append(
            [
                count,
                " / ".join(f"{r['throughput']:.1f}" for r in results),
                " / ".join(f"{r['server_cpu_ms_per_workflow']}" for r in results),
                " / ".join(f"{r['latencies'].summary()['workflow']['p99_ms']:.0f}" for r in results),
                " / ".join(f"{r['machine_busy_percent']}" for r in results),
                " / ".join(f"{r['load_average_1m']}" for r in results),
            ]
        )
    text = table(
        f"workers_bench: {args.cameras} cameras, {args.rounds} round(s) of {args.seconds:.0f} s, "
        f"PostgreSQL + {args.storage} storage, {os.cpu_count()} cores",
        [
            "workers",
            "workflows/s per round",
            "server CPU ms/workflow (all workers)",
            "workflow p99 ms",
            "machine busy %",
            "load 1m",
        ],
        rows,
    )
    report(
        "workers",
        {
            "storage": args.storage,
            "cameras": args.cameras,
            "rounds": {
                str(count): [
                    {k: v for k, v in r.items() if k != "latencies"} | {"latency": r["latencies"].summary()}
                    for r in results
                ]
                for count, results in runs.items()
            },
        },
        text,
    )


if __name__ == "__main__":
    main()
