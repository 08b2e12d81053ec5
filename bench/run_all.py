"""Run every benchmark (each in its own process, one after the other) and print a summary.

    make bench          # or: python bench/run_all.py [--only workflow,upload]

Each bench prints its tables and writes bench/results/<name>.json; the summary below
reads those files. watch_bench.py (the WatchAlerts benchmark) runs when present;
incident_fusion_bench.py is in-process (no server).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
# (script, results file, time limit in seconds)
BENCHES = [
    ("workflow_bench.py", "workflow", 300),
    ("login_heartbeat_bench.py", "login_heartbeat", 300),
    ("list_alerts_bench.py", "list_alerts", 300),
    ("upload_bench.py", "upload", 300),
    ("upload_memory_bench.py", "upload_memory", 600),
    ("watch_bench.py", "watch", 300),
    ("http_bench.py", "http", 300),
    ("incident_fusion_bench.py", "incident_fusion", 120),
]


def _summary_rows() -> list[list[str]]:
    def load(name: str) -> dict | None:
        path = RESULTS_DIR / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    rows = []
    if workflow := load("workflow"):
        rows.append(
            ["camera workflows/s (16 cameras)", ">= 175", "43.8", f"{workflow['throughput']:.1f}", _ok(workflow)]
        )
    if login := load("login_heartbeat"):
        rows.append(
            ["Heartbeat p99 during 8 logins", "< 50 ms", "-", f"{login['heartbeat_p99_ms']:.1f} ms", _ok(login)]
        )
        rows.append(["logins/s", "-", "5.6", f"{login['logins_per_s']:.1f}", ""])
    if listing := load("list_alerts"):
        rows.append(
            ["ListAlerts req/s (100 of 1000)", ">= 500", "-", f"{listing['page_100_req_per_s']:.0f}", _ok(listing)]
        )
        rows.append(["ListAlerts req/s (all 1000)", "-", "35", f"{listing['page_all_req_per_s']:.0f}", ""])
    if upload := load("upload"):
        for storage, result in upload["storages"].items():
            rows.append([f"50 MB upload, {storage}", "-", "-", f"{result['mb_per_s']:.0f} MB/s", ""])
        rows.append(
            ["server RSS growth during uploads", "< 32 MB", "-", f"{upload['max_rss_growth_mb']:.1f} MB", _ok(upload)]
        )
    if memory := load("upload_memory"):
        rows.append(
            [
                "server RSS growth, 30 stalled uploads (worst run)",
                "< 64 MB",
                "-",
                f"{memory['max_growth_stalled_mb']:.1f} MB",
                _ok(memory),
            ]
        )
        rows.append(["server RSS growth after they end", "< 16 MB", "-", f"{memory['max_growth_after_mb']:.1f} MB", ""])
    if watch := load("watch"):  # written by watch_bench.py: {database: result}
        for database, result in watch.items():
            p99 = result.get("commit_to_receive_ms", {}).get("p99")
            target = result.get("target_p99_ms")
            verdict = "" if p99 is None or target is None else ("ok" if p99 < target else "MISSED")
            rows.append(
                [
                    f"WatchAlerts commit->receive p99, {result.get('watchers')} watchers ({database})",
                    f"< {target:.0f} ms" if target else "-",
                    "-",
                    f"{p99} ms",
                    verdict,
                ]
            )
    if http := load("http"):  # written by http_bench.py: the HTTP port against gRPC, one run
        for transport, result in http["unary"].items():
            rows.append(
                [
                    f"GetMyUser calls/s, {transport} (server CPU {result['server_cpu_ms_per_call']:.2f} ms/call)",
                    "-",
                    "-",
                    f"{result['calls_per_s']:.0f}",
                    "",
                ]
            )
        for transport, result in http["watch"].items():
            rows.append(
                [
                    f"WatchAlerts sent->received p50 / p99, {transport}",
                    "-",
                    "-",
                    f"{result['p50_ms']:.1f} / {result['p99_ms']:.1f} ms",
                    "",
                ]
            )
    if fusion := load("incident_fusion"):  # in-process: CPU per call of the incident geometry
        locate3 = fusion["rows"]["locate, 3 cones (1 new)"]
        per_alert = fusion["rows"]["per alert: best_match(50) + locate(3)"]
        rows.append(
            [
                "locate() of 3 cones, CPU p50",
                f"< {fusion['target_us']:.0f} µs",
                "-",
                f"{locate3['p50_us']} µs",
                _ok(fusion),
            ]
        )
        rows.append(["incident fusion per alert, 50 cameras, CPU p50", "-", "-", f"{per_alert['p50_us']} µs", ""])
    return rows


def _ok(result: dict) -> str:
    return {True: "ok", False: "MISSED"}.get(result.get("meets_target"), "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated results names, e.g. workflow,upload")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    failures = []
    for script, name, limit in BENCHES:
        path = BENCH_DIR / script
        if (only and name not in only) or not path.exists():
            continue
        print(f"\n=== {script} ===", flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run([sys.executable, str(path)], cwd=BENCH_DIR.parent, timeout=limit).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        if code != 0:
            failures.append(f"{script}: {code}")
        print(f"({script}: {time.monotonic() - started:.0f} s)", flush=True)

    sys.path.insert(0, str(BENCH_DIR))
    from common import table

    print("\n" + table("summary", ["metric", "target", "REST original", "pyrogrpc", ""], _summary_rows()))
    if failures:
        print("\nbenchmarks that failed to run: " + ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
