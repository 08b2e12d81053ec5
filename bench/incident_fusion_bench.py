"""Incident fusion geometry (issue 16): the cost of locate() and best_match() per new event.

50 towers on a 10 x 5 grid 5 km apart around a region of fires; every camera's cone is 3 degrees
wide with up to +-0.5 degree of aiming noise, so each call sees a cone it never saw before (its
sector polygon is built, not cached) while the incidents' own cones and common areas are warm
in the caches, as in a running server. The "cold" rows clear the caches before every call (the
first events after a restart). In-process, no server: figures are CPU time per call
(the wall time too, which on a busy machine includes waiting for a core).

    python bench/incident_fusion_bench.py [--calls 1000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from common import report, table
from pyproj import Geod

from pyrogrpc.domain import incident_geometry
from pyrogrpc.domain.incident_geometry import Cone, best_match, crosses, locate

GEOD = Geod(ellps="WGS84")
CENTRE = (44.0, 4.0)
TARGET_US = 1_000.0  # a locate() of 2-3 cones: well under 1 ms


def place(origin: tuple[float, float], east_m: float, north_m: float) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(origin[1], origin[0], 90.0, east_m)
    lon, lat, _ = GEOD.fwd(lon, lat, 0.0, north_m)
    return (lat, lon)


TOWERS = [place(CENTRE, (col - 4.5) * 5_000.0, (row - 2) * 5_000.0) for row in range(5) for col in range(10)]


def aim(rng: random.Random, tower: tuple[float, float], fire: tuple[float, float]) -> Cone:
    azimuth, _, _ = GEOD.inv(tower[1], tower[0], fire[1], fire[0])
    return Cone(tower[0], tower[1], (azimuth + rng.uniform(-0.5, 0.5)) % 360.0, 3.0)


def incidents(count: int, away_from: tuple[float, float]) -> list[tuple[int, list[Cone]]]:
    """`count` fires scattered over the grid (at least 5 km from `away_from`), each seen by two
    towers within 20 km; the same ones on every run."""
    rng = random.Random(count)
    result: list[tuple[int, list[Cone]]] = []
    while len(result) < count:
        key = len(result)
        fire = place(CENTRE, rng.uniform(-25_000, 25_000), rng.uniform(-15_000, 15_000))
        if incident_geometry.distance_m(*fire, *away_from) < 5_000:
            continue
        near = [t for t in TOWERS if incident_geometry.distance_m(*t, *fire) < 20_000]
        result.append((key, [aim(rng, tower, fire) for tower in rng.sample(near, 2)]))
    return result


def measure(call: Callable[[], object], calls: int, seconds: float, cold: bool = False) -> dict[str, float]:
    """Per-call CPU time of this thread in microseconds (p50, mean, p99) and the wall p50.

    CPU time, because the figure should not depend on what else the machine runs (the wall
    time of a call on a busy machine includes the time other processes hold the core).
    Bounded by `calls` and by `seconds` of wall time.
    """
    cpu: list[float] = []
    wall: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(cpu) < calls and time.perf_counter() < deadline:
        if cold:
            incident_geometry._sector.cache_clear()
            incident_geometry._common_of.cache_clear()
        start_wall, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        call()
        cpu.append((time.thread_time_ns() - start_cpu) / 1_000)
        wall.append((time.perf_counter_ns() - start_wall) / 1_000)
    cpu.sort()
    return {
        "calls": len(cpu),
        "p50_us": round(cpu[len(cpu) // 2], 1),
        "mean_us": round(statistics.fmean(cpu), 1),
        "p99_us": round(cpu[min(len(cpu) - 1, int(0.99 * len(cpu)))], 1),
        "wall_p50_us": round(sorted(wall)[len(wall) // 2], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per row (default 1000)")
    parser.add_argument("--seconds", type=float, default=3.0, help="wall-time limit per row (default 3 s)")
    args = parser.parse_args()
    rng = random.Random(16)
    fire = place(CENTRE, 1_000.0, 2_000.0)
    seeing = sorted(TOWERS, key=lambda t: incident_geometry.distance_m(*t, *fire))  # nearest first
    fixed = [aim(rng, tower, fire) for tower in seeing]  # an incident's cones, one per camera

    def new_cone(tower_index: int) -> Cone:
        return aim(rng, seeing[tower_index], fire)

    rows: dict[str, dict[str, float]] = {}
    for n in (2, 3, 10, 50):
        rows[f"locate, {n} cones (1 new)"] = measure(
            lambda n=n: locate([*fixed[: n - 1], new_cone(n - 1)]), args.calls, args.seconds
        )
    rows["locate, 3 cones (cold caches)"] = measure(lambda: locate(fixed[:3]), args.calls, args.seconds, cold=True)
    for count in (10, 50):
        candidates = [*incidents(count - 1, fire), (count, fixed[:2])]
        rows[f"best_match, {count} incidents"] = measure(
            lambda c=candidates: best_match(new_cone(2), c), args.calls, args.seconds
        )
        rows[f"best_match, {count} incidents (cold)"] = measure(
            lambda c=candidates: best_match(new_cone(2), c), max(1, args.calls // 10), args.seconds, cold=True
        )

    # Fusion cost per alert: find the incident of the new cone, then place the incident again.
    candidates = [*incidents(49, fire), (50, fixed[:2])]

    def fuse() -> None:
        cone = new_cone(2)
        key = best_match(cone, candidates)
        cones = next(c for k, c in candidates if k == key)
        locate([*cones, cone])

    rows["per alert: best_match(50) + locate(3)"] = measure(fuse, args.calls, args.seconds)
    exact = Cone(*seeing[2], GEOD.inv(seeing[2][1], seeing[2][0], fire[1], fire[0])[0] % 360.0, 3.0)
    # The fire's incident crosses; so may a decoy (one grazes the cone's edge): the figures are
    # the cost of the search, whichever incident wins.
    assert crosses(exact, fixed[:2]) and best_match(exact, candidates) is not None

    header = ["operation (50 towers)", "calls", "p50 µs", "mean µs", "p99 µs", "wall p50 µs"]
    text = table(
        "Incident fusion geometry (CPU per call, in-process)",
        header,
        [[name, r["calls"], r["p50_us"], r["mean_us"], r["p99_us"], r["wall_p50_us"]] for name, r in rows.items()],
    )
    p50 = rows["locate, 3 cones (1 new)"]["p50_us"]
    text += f"\nlocate() of 3 cones p50 {p50} µs: target < {TARGET_US:.0f} µs: {'ok' if p50 < TARGET_US else 'MISSED'}"
    report("incident_fusion", {"rows": rows, "target_us": TARGET_US, "meets_target": p50 < TARGET_US}, text)


if __name__ == "__main__":
    main()
