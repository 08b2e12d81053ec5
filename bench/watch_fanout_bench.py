"""The watch hub's in-memory fan-out alone (no gRPC, no database): N watchers of one group,
M alerts pushed by one `_fan_out` call, best of R runs. Isolates the hub's share of a live
alert's cost (domain/watch.py) from gRPC's write path, which the full watch_bench.py measures
and which a loaded machine blurs.

    python bench/watch_fanout_bench.py [--watchers 1000] [--alerts 200] [--runs 150]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from common import ROOT  # noqa: F401  (puts ROOT on sys.path)

from pyrogrpc.domain.principal import Principal, Scope
from pyrogrpc.domain.read_models import Alert
from pyrogrpc.domain.watch import AlertWatchHub, WatchTuning


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--runs", type=int, default=150)
    args = parser.parse_args()

    hub = AlertWatchHub(None, tuning=WatchTuning(buffer_size=10**9))  # type: ignore[arg-type]  (no database read)
    hub._cursor = 0
    watchers = [hub._register(Principal(i, Scope.USER, 7)) for i in range(args.watchers)]
    now = datetime.now(UTC)
    times = []
    for run in range(args.runs):
        first = run * args.alerts + 1
        alerts = [Alert(i, 1, 7, 1, None, 90.0, 44.0, 4.0, "", now) for i in range(first, first + args.alerts)]
        for watcher in watchers:
            watcher.buffer.clear()
        start = time.perf_counter()
        hub._fan_out(alerts)
        times.append(time.perf_counter() - start)
    best, median = min(times), sorted(times)[len(times) // 2]
    per = 1e6 / (args.alerts * args.watchers)
    print(f"watch hub fan-out: {args.alerts} alerts x {args.watchers} watchers, {args.runs} runs")
    print(f"  {'best / median per fan-out':40}  {best * 1000:.1f} / {median * 1000:.1f} ms")
    print(f"  {'best / median per watcher and alert':40}  {best * per:.3f} / {median * per:.3f} us")


if __name__ == "__main__":
    main()
