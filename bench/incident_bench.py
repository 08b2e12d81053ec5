"""Incident fusion cost with 50 cameras (issue 16): one group, 10 fires, each seen by 5
towers 8 km around it; every camera sends boxed alerts (a centred box: its cone points at its
fire) through CreateMyAlert, on PostgreSQL, one server process.

    python bench/incident_bench.py [--cameras 50] [--fires 10] [--rounds 5]

Phases, each a burst of one alert per camera sent at once:
- open (cold, then warm): the first alert of each camera opens its event, so every alert is
  fused (group locked, the open incidents and their cones read, geometry, incident written);
- continue (x rounds): the same box again, the cone unchanged, so each alert only moves its
  incident's last_seen_time forward.
Fusion runs after the alert's commit (a background job), so the alert's latency does not
include it; the server CPU per alert does (measured from the burst until every job is done:
every event in an incident, and the incident job queue idle as read by a last alert round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time

from common import Api, Latencies, bench_stack, cpu_seconds, latency_table, report, setup_group, table
from pyproj import Geod

from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import resources_pb2 as res

GEOD = Geod(ellps="WGS84")
ANGLE_OF_VIEW = 60.0


def box(centre_x: float) -> res.DetectionBox:
    edges = res.NormalizedBox(x_min=centre_x - 0.02, y_min=0.4, x_max=centre_x + 0.02, y_max=0.6)
    return res.DetectionBox(box=edges, confidence=0.8)


def layout(cameras: int, fires: int) -> list[tuple[tuple[float, float], float]]:
    """(tower position, azimuth at its fire) per camera: fires 20 km apart on a line, towers
    8 km around each fire at even angles."""
    per_fire = math.ceil(cameras / fires)
    towers = []
    for n in range(cameras):
        fire_lon, fire_lat = 4.0 + (n // per_fire) * 0.25, 44.0
        bearing = 360.0 * (n % per_fire) / per_fire
        lon, lat, back = GEOD.fwd(fire_lon, fire_lat, bearing, 8000.0)
        towers.append(((lat, lon), back % 360))
    return towers


async def burst(
    devices: list[Api], azimuths: list[float], latencies: Latencies, name: str, centre_x: float
) -> list[int]:
    """One alert per camera at once, its box at `centre_x`, its cone at the camera's fire."""

    async def one(device: Api, azimuth: float) -> int:
        started = time.perf_counter()
        frame_azimuth = (azimuth - ANGLE_OF_VIEW * (centre_x - 0.5)) % 360
        request = detection_pb.CreateMyAlertRequest(azimuth=frame_azimuth, boxes=[box(centre_x)])
        alert = (await device.detection.CreateMyAlert(request)).alert
        latencies.add(name, time.perf_counter() - started)
        return alert.event_id

    return list(await asyncio.gather(*(one(d, a) for d, a in zip(devices, azimuths, strict=True))))


async def fused(
    admin: Api, group_id: int, events: set[int], seen_since: float, timeout: float = 120.0
) -> tuple[int, float]:
    """Wait until every event is in an incident and their incidents were seen since `seen_since`
    (epoch seconds: the last burst's jobs are done); (incidents, seconds waited)."""
    started = time.perf_counter()
    while True:
        request = detection_pb.ListIncidentsRequest(group_id=group_id, open_only=True, page_size=1000)
        found = (await admin.detection.ListIncidents(request)).incidents
        mine = [i for i in found if events & set(i.event_ids)]
        seen = all(i.last_seen_time.ToMicroseconds() / 1e6 >= seen_since for i in mine)
        if events <= {e for i in found for e in i.event_ids} and seen:
            return len(found), time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError("events not fused in time")
        await asyncio.sleep(0.25)  # every poll costs the server a list: rarely


async def bench(server, cameras: int, fires: int, rounds: int) -> None:
    async with Api.connect(server.port) as api:
        admin, group_id, user = await setup_group(api)
        towers = layout(cameras, fires)
        devices = []
        for (lat, lon), _ in towers:
            device, _ = await admin.new_device(user.id, lat=lat, lon=lon, angle_of_view=ANGLE_OF_VIEW)
            devices.append(device)
        azimuths = [azimuth for _, azimuth in towers]
        latencies = Latencies()
        rows = []
        # (phase, bursts, box centre): "open (cold)" also pays the first use of each tower's
        # local projection (pyproj, ~35 ms once per process and area); "open (warm)" opens a
        # second event per camera (a box elsewhere in the frame): steady-state fusion.
        phases = [("open (cold)", 1, 0.5), ("open (warm)", 1, 0.2), ("continue", rounds, 0.5)]
        for name, count, centre_x in phases:
            before = cpu_seconds(server.pid)
            started = time.perf_counter()
            events: set[int] = set()
            for _ in range(count):
                last_burst = time.time() - 0.5  # the server's clock is this machine's
                events |= set(await burst(devices, azimuths, latencies, f"CreateMyAlert {name}", centre_x))
            incidents, drain = await fused(admin, group_id, events, last_burst)
            cpu = cpu_seconds(server.pid) - before
            alerts = count * cameras
            rows.append(
                [
                    name,
                    alerts,
                    incidents,
                    round(cpu * 1000 / alerts, 2),
                    round(time.perf_counter() - started, 2),
                    round(drain, 2),
                ]
            )
        text = "\n\n".join(
            [
                table(
                    f"Incident fusion, {cameras} cameras, {fires} fires, PostgreSQL (one server process)",
                    ["phase", "alerts", "open incidents", "server CPU ms/alert", "wall s", "fused after s"],
                    rows,
                ),
                latency_table("CreateMyAlert latency (fusion runs after the call)", latencies),
            ]
        )
        result = {
            "cameras": cameras,
            "fires": fires,
            "phases": [
                dict(zip(["phase", "alerts", "incidents", "cpu_ms_per_alert", "wall_s", "drain_s"], r, strict=True))
                for r in rows
            ],
            "latency": latencies.summary(),
        }
        report("incident_bench", result, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--fires", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with bench_stack(s3=False) as server:
        asyncio.run(bench(server, args.cameras, args.fires, args.rounds))


if __name__ == "__main__":
    main()
