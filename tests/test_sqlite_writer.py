"""Embedded mode (SQLite): one writer connection fed in order, reads on WAL readers.

Units of work that write queue for the process's single writer connection instead of racing
for the file's write lock; reads of one statement run beside them. A database file locked by
another process still gives UNAVAILABLE (busy timeout for the unit holding the writer, the
writer queue's timeout for those behind it), never INTERNAL, and reads keep answering.
"""

from __future__ import annotations

import asyncio
import sqlite3

import grpc
import pytest
from sqlalchemy import text

from pyrogrpc.db import session as db_session
from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.helpers import ADMIN_LOGIN, ADMIN_PASSWORD, Api, expect_status
from tests.test_alerts import my_alert, new_camera

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def test_reads_answer_while_a_unit_holds_the_writer_and_writes_wait_their_turn(server, admin):
    camera = await new_camera(admin)
    alert = await my_alert(camera.device)
    async with server.uow() as held:
        await held.session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: this unit has the writer now
        heartbeat = asyncio.ensure_future(camera.device.setup.Heartbeat(setup_pb.HeartbeatRequest(), timeout=30))
        listed = await camera.user.detection.ListAlerts(pb.ListAlertsRequest(), timeout=30)
        got = await camera.user.detection.GetAlert(pb.GetAlertRequest(alert_id=alert.id), timeout=30)
        assert [a.id for a in listed.alerts] == [alert.id]
        assert got.alert.id == alert.id
        assert not heartbeat.done(), "a write ran while another unit held the writer connection"
    assert (await heartbeat).device.id == camera.device_row.id


async def test_database_locked_by_another_process_gives_unavailable_then_recovers(
    server_factory, database_url, monkeypatch
):
    monkeypatch.setattr(db_session, "SQLITE_BUSY_TIMEOUT_MS", 300)  # read when the engines are made
    server = await server_factory()
    async with Api.connect(server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        camera = await new_camera(admin)
        alert = await my_alert(camera.device)
        # The alert's incident fusion job may hold the writer for a moment: wait for the lock in
        # a thread, as another process would, so the server (on this event loop) can finish it.
        other = sqlite3.connect(
            database_url.split("///", 1)[1], isolation_level=None, timeout=60, check_same_thread=False
        )
        try:
            # Another process writing: the file's write lock is taken.
            await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
            writes = [camera.device.setup.Heartbeat(setup_pb.HeartbeatRequest(), timeout=30) for _ in range(3)]
            writes += [
                camera.device.detection.CreateMyMedia(
                    pb.CreateMyMediaRequest(type=resources_pb2.MEDIA_TYPE_IMAGE), timeout=30
                )
                for _ in range(3)
            ]
            errors = await asyncio.gather(*(expect_status(call, grpc.StatusCode.UNAVAILABLE) for call in writes))
            assert all("database" in error.details() for error in errors), [e.details() for e in errors]
            # WAL: readers do not need the write lock.
            listed = await camera.user.detection.ListAlerts(pb.ListAlertsRequest(), timeout=30)
            assert [a.id for a in listed.alerts] == [alert.id]
        finally:
            other.close()  # rolls its transaction back: the lock is free again
        pinged = await camera.device.setup.Heartbeat(setup_pb.HeartbeatRequest(), timeout=30)
        assert pinged.device.id == camera.device_row.id
