"""Load: many cameras run the full workflow while many users watch the alerts live.

Each camera: Heartbeat, CreateMyMedia, UploadMedia (a small JPEG), CreateMyAlert.
Watchers (users of the cameras' groups) stream WatchAlerts from the start. Afterwards
every alert acknowledged to a camera exists exactly once in the database and reached
every watcher of its group exactly once, and no watcher of another group.
PostgreSQL only (CI time); the soak variant runs with PYROGRPC_SOAK=1.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, defaultdict

import grpc
import psycopg
import pytest

from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import resources_pb2 as res
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import Api, tiny_jpeg, upload_requests

GROUPS = 5
WATCHERS_PER_GROUP = 10
DELIVERY_TIMEOUT = 30
# Set-up calls (an admin creating accounts) in flight at once. The load under test is the
# cameras' and watchers'; 250 simultaneous admin creations are not a real pattern, and on a
# busy 2-core machine their queue for pooled connections outlasted the pool timeout (5 s).
SETUP_CONCURRENCY = 16


async def _camera_workflows(camera: Api, workflows: int, acknowledged: list[tuple[int, int, int]]) -> None:
    for _ in range(workflows):
        device = (await camera.setup.Heartbeat(setup_pb.HeartbeatRequest(), timeout=30)).device
        media = (
            await camera.detection.CreateMyMedia(
                detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE), timeout=30
            )
        ).media
        await camera.detection.UploadMedia(upload_requests(media.id, tiny_jpeg(2048)), timeout=30)
        alert = (
            await camera.detection.CreateMyAlert(detection_pb.CreateMyAlertRequest(media_id=media.id), timeout=30)
        ).alert
        acknowledged.append((alert.id, alert.group_id, media.id))
        assert alert.group_id == device.group_id


async def _watch(watcher: Api, received: list[int], groups_seen: Counter, started: asyncio.Event) -> None:
    call = watcher.detection.WatchAlerts(detection_pb.WatchAlertsRequest(after_alert_id=0))
    started.set()
    try:
        async for message in call:
            if message.HasField("alert"):
                received.append(message.alert.id)
                groups_seen[message.alert.group_id] += 1
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.CANCELLED:
            raise
    finally:
        call.cancel()


async def _run_load(server, database_url: str, cameras: int, workflows: int, time_budget: float) -> None:
    async with Api.connect(server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        groups = [(await admin.create_group()).id for _ in range(GROUPS)]
        owners = [await admin.create_user(group) for group in groups]

        setup_slots = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def new_camera(index: int) -> Api:
            async with setup_slots:
                client, _ = await admin.new_device(
                    owners[index % GROUPS].id, lat=44.0 + index / 1000, lon=4.0, azimuth=90.0
                )
            return client

        async def new_watcher(index: int) -> tuple[int, Api]:
            group = groups[index % GROUPS]
            async with setup_slots:
                client, _ = await admin.new_user(group)
            return group, client

        camera_clients = await asyncio.gather(*(new_camera(i) for i in range(cameras)))
        watchers = await asyncio.gather(*(new_watcher(i) for i in range(GROUPS * WATCHERS_PER_GROUP)))

        received = [[] for _ in watchers]
        groups_seen = [Counter() for _ in watchers]
        started = [asyncio.Event() for _ in watchers]
        watch_tasks = [
            asyncio.create_task(_watch(client, received[i], groups_seen[i], started[i]))
            for i, (_, client) in enumerate(watchers)
        ]
        await asyncio.gather(*(event.wait() for event in started))

        acknowledged: list[tuple[int, int, int]] = []
        begin = time.monotonic()
        await asyncio.gather(*(_camera_workflows(camera, workflows, acknowledged) for camera in camera_clients))
        elapsed = time.monotonic() - begin
        assert len(acknowledged) == cameras * workflows
        assert elapsed < time_budget, f"{len(acknowledged)} workflows took {elapsed:.1f} s"

        expected_by_group: dict[int, set[int]] = defaultdict(set)
        for alert_id, group_id, _ in acknowledged:
            expected_by_group[group_id].add(alert_id)

        # Wait until every watcher got its group's alerts (or time out and report).
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while time.monotonic() < deadline:
            if all(set(received[i]) >= expected_by_group[group] for i, (group, _) in enumerate(watchers)):
                break
            if any(task.done() for task in watch_tasks):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.3)  # a duplicate or a stray alert would show up now (not a wait for a condition)
        for task in watch_tasks:
            task.cancel()
        results = await asyncio.gather(*watch_tasks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
        assert not errors, f"watch streams failed: {errors[:3]}"

    for i, (group, _) in enumerate(watchers):
        duplicates = [alert_id for alert_id, n in Counter(received[i]).items() if n > 1]
        assert not duplicates, f"watcher {i} of group {group} got alerts twice: {duplicates[:10]}"
        assert set(groups_seen[i]) <= {group}, f"watcher {i} of group {group} saw other groups: {dict(groups_seen[i])}"
        missing = expected_by_group[group] - set(received[i])
        assert not missing, f"watcher {i} of group {group} missed {len(missing)} alerts, e.g. {sorted(missing)[:10]}"
        assert received[i] == sorted(received[i]), f"watcher {i} got alerts out of order"

    url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    ids = [alert_id for alert_id, _, _ in acknowledged]
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT id, media_id FROM alerts WHERE id = ANY(%s)", (ids,)).fetchall()
        total = connection.execute("SELECT count(*) FROM alerts").fetchone()[0]
    assert sorted(row[0] for row in rows) == sorted(ids), "acknowledged alerts missing from the database"
    assert total == len(ids), f"{total} alerts in the database for {len(ids)} acknowledged"
    assert Counter(row[1] for row in rows) == Counter(media_id for _, _, media_id in acknowledged)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_cameras_and_watchers(server_factory, database_url):
    # The budget catches a hang or a serialization, not speed: ~15 s on a quiet machine.
    # 200 cameras upload at once: this test measures the workflow, not the server-wide upload
    # cap (MAX_UPLOADS_TOTAL, 32 by default; past it cameras get RESOURCE_EXHAUSTED and retry).
    server = await server_factory(MAX_UPLOADS_TOTAL="200")
    await _run_load(server, database_url, cameras=200, workflows=2, time_budget=120)


@pytest.mark.soak
@pytest.mark.skipif(os.environ.get("PYROGRPC_SOAK") != "1", reason="soak test: set PYROGRPC_SOAK=1")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_soak_cameras_and_watchers(server_factory, database_url):
    server = await server_factory(MAX_UPLOADS_TOTAL="200")
    await _run_load(server, database_url, cameras=200, workflows=25, time_budget=600)
