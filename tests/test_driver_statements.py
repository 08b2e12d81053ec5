"""Repositories' Core statements on psycopg directly: the camera's one-statement units on a
pool of their own (pyrogrpc/db/driver_statements.py), transactional units on their session's
connection (pyrogrpc/db/transaction_statements.py).

What must hold: the same records as through SQLAlchemy's session; database errors mapped as
the session's are (a unique key -> ALREADY_EXISTS, a lost server -> UNAVAILABLE, never
INTERNAL); a pool whose connections all died costs one failed call at most; a database
that comes back is used again without a restart.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import grpc
import psycopg
import pytest
from sqlalchemy import bindparam, insert

from pyrogrpc.db.models import Alert, table_of
from pyrogrpc.db.session import create_session_factory
from pyrogrpc.db.transaction_statements import TransactionStatements
from pyrogrpc.db.unit_of_work import unit_of_work_factory
from pyrogrpc.domain.errors import AlreadyExists
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import resources_pb2 as res
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, POSTGRES_ADMIN_URL
from tests.helpers import Api, TcpProxy, call_outcomes, eventually, terminate_backends, tiny_jpeg, upload_media

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

CALL_TIMEOUT = 15
_alerts = table_of(Alert)
# create_time, suppressed and localization left to their Python-side defaults.
_INSERT_WITH_DEFAULTS = (
    insert(_alerts).values(device_id=bindparam("p_device_id"), group_id=bindparam("p_group_id")).returning(_alerts.c.id)
)


async def _camera(api: Api) -> tuple[Api, res.Device]:
    admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
    owner = await admin.create_user((await admin.create_group()).id)
    return await admin.new_device(owner.id, lat=44.0, lon=4.0, azimuth=90.0, angle_of_view=60.0)


async def test_driver_and_session_give_the_same_records(server, api):
    assert server.driver_statements is not None, "PostgreSQL's one-statement units run on the driver"
    camera, device = await _camera(api)
    await upload_media(camera, tiny_jpeg(1))
    access_id = device.access_id
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    sessions_only = unit_of_work_factory(create_session_factory(server.engine))
    async with sessions_only() as by_session:  # the session, in a transaction of its own
        assert by_session._driver is None
        pinged = await by_session.devices.ping(access_id, now)
        media = await by_session.media.add_for_device(access_id, "image", now)
        read = await by_session.devices.read_with_pose(access_id, None)
        await by_session.commit()
    assert pinged.last_ping_time == now and pinged.login

    async with server.single_statement_uow() as by_driver:
        assert by_driver._driver is not None
        assert vars(await by_driver.devices.ping(access_id, now)) == vars(pinged)
        driver_media = await by_driver.media.add_for_device(access_id, "image", now)
        assert driver_media.id != media.id and {**vars(driver_media), "id": media.id} == vars(media)
        assert vars(await by_driver.media.get_of_device(media.id, access_id)) == vars(media)
        assert vars(await by_driver.media.get_row(media.id, group_id=media.group_id)) == vars(media)
        assert await by_driver.media.get_row(media.id, group_id=media.group_id + 1000) is None
        assert await by_driver.media.get_of_device(media.id, access_id + 1000) is None
        assert await by_driver.devices.read_with_pose(access_id, None) == read
        assert await by_driver.devices.read_with_pose(access_id + 1000, None) == (None, None)

    content = dict(
        size_bytes=3,
        sha256="ab" * 32,
        content_type="image/jpeg",
        upload_request_id=None,
        upload_request_digest=None,
        width=1,
        height=2,
    )
    async with server.single_statement_uow() as uow:
        stored = await uow.media.set_content(driver_media.id, bucket_key=f"test/{driver_media.id}", **content)
        assert stored.bucket_key == f"test/{driver_media.id}" and stored.width == 1 and stored.height == 2
        assert stored.create_time.tzinfo is not None  # UTCDateTime's result processing ran
        # Set once only: a second upload's update finds the row set.
        assert await uow.media.set_content(driver_media.id, bucket_key="test/other", **content) is None
        # The bucket key is unique: the driver's IntegrityError is the session's AlreadyExists.
        with pytest.raises(AlreadyExists):
            await uow.media.set_content(media.id, bucket_key=f"test/{driver_media.id}", **content)


async def test_heartbeat_after_every_pooled_connection_died_fails_at_most_once(server, api):
    camera, _ = await _camera(api)
    # Fill the driver's pool with connections, then kill them all while idle.
    await asyncio.gather(*(camera.setup.Heartbeat(setup_pb.HeartbeatRequest()) for _ in range(16)))
    assert terminate_backends(POSTGRES_ADMIN_URL, server.settings.database_url)
    outcomes = await call_outcomes(
        lambda: camera.setup.Heartbeat(setup_pb.HeartbeatRequest(), timeout=CALL_TIMEOUT), 10
    )
    assert outcomes.count("UNAVAILABLE") <= 1 and outcomes[1:] == ["OK"] * 9, outcomes


async def test_heartbeat_unavailable_while_the_database_is_unreachable_then_back(server_factory, database_url):
    proxy = TcpProxy(5432)
    await proxy.start()
    try:
        server = await server_factory(DATABASE_URL=database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"))
        async with Api.connect(server.port) as api:
            camera, _ = await _camera(api)
            await camera.setup.Heartbeat(setup_pb.HeartbeatRequest(), timeout=CALL_TIMEOUT)
            await proxy.cut()
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await camera.setup.Heartbeat(setup_pb.HeartbeatRequest(), timeout=CALL_TIMEOUT)
            assert failed.value.code() == grpc.StatusCode.UNAVAILABLE, failed.value.details()
            await proxy.start()

            async def heartbeat_ok() -> bool:
                try:
                    await camera.setup.Heartbeat(setup_pb.HeartbeatRequest(), timeout=CALL_TIMEOUT)
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
                    return False
                return True

            await eventually(heartbeat_ok)
    finally:
        await proxy.cut()


async def test_a_statement_with_python_side_defaults_is_refused(server):
    """SQLAlchemy fills such columns (alerts.create_time, suppressed) while executing; compiled
    alone they would be sent as NULL. The driver refuses them instead."""
    with pytest.raises(ValueError, match="Python-side column defaults"):
        await server.driver_statements.first(_INSERT_WITH_DEFAULTS, {"p_device_id": 1, "p_group_id": 1})


async def test_a_process_opens_at_most_32_connections_with_every_pool_full(server_factory, database_url):
    """docs/deployment.md: `max_connections` is sized at 32 per process. Every answer of the
    database is held back 50 ms, so that the calls below fill every pool to its limit."""
    proxy = TcpProxy(5432, response_delay=0.05)
    await proxy.start()
    try:
        server = await server_factory(DATABASE_URL=database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"))
        async with Api.connect(server.port) as api:
            camera, _ = await _camera(api)
            admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
            most = 0
            running = True

            async def count_connections() -> None:
                nonlocal most
                async with await psycopg.AsyncConnection.connect(POSTGRES_ADMIN_URL, autocommit=True) as observer:
                    while running:
                        cursor = await observer.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                            (database_url.rsplit("/", 1)[1],),
                        )
                        most = max(most, (await cursor.fetchone())[0])
                        await asyncio.sleep(0.01)

            async def calls(make_call, times: int) -> None:
                for _ in range(times):
                    await make_call()

            observer = asyncio.create_task(count_connections())
            await asyncio.gather(
                *(calls(lambda: camera.setup.Heartbeat(setup_pb.HeartbeatRequest()), 5) for _ in range(20)),
                *(
                    calls(lambda: admin.access.CreateGroup(access_pb.CreateGroupRequest(name=uuid.uuid4().hex)), 5)
                    for _ in range(30)
                ),
                *(calls(lambda: admin.detection.ListAlerts(detection_pb.ListAlertsRequest()), 5) for _ in range(20)),
            )
            running = False
            await observer
        assert 24 <= most <= 32, most  # the lower bound: the load did fill the pools
    finally:
        await proxy.cut()


async def test_statements_in_a_transaction_share_it_with_the_session(server, api):
    """A transactional unit's Core statements run on its session's own connection: the same
    records as the session's, rows the session sees in the same transaction, and one commit or
    rollback for both."""
    camera, device = await _camera(api)
    media = await upload_media(camera, tiny_jpeg(1))
    await camera.detection.CreateMyAlert(detection_pb.CreateMyAlertRequest(media_id=media.id))
    sessions_only = unit_of_work_factory(create_session_factory(server.engine))
    now = datetime.now(UTC)

    async def read(uow) -> tuple:
        locked = await uow.devices.lock(access_id=device.access_id, media_id=media.id)
        latest = await uow.alerts.latest_of_device(locked.id)
        return locked, latest, await uow.alerts.get(1, group_id=locked.group_id)

    async with sessions_only() as by_session:
        expected = await read(by_session)
    assert expected[0] is not None and expected[1] is not None

    async def add_event(commit: bool) -> int:
        async with server.uow() as uow:
            assert isinstance(uow.events._driver, TransactionStatements)
            assert await read(uow) == expected  # the device's row is now locked by this transaction
            event_id = await uow.events.insert(
                group_id=expected[0].group_id, type="wildfire", lat=1.0, lon=2.0, start_time=now, create_time=now
            )
            # The session sees the row in the same transaction; and its own change (an ORM
            # update) is read back on the driver.
            event = await uow.events.get(event_id)
            assert event is not None and event.is_acknowledged is False  # the Python-side default
            event.lat = 3.0
            await uow.flush()
            assert (await uow.events.get_row(event_id)).lat == 3.0
            if commit:
                await uow.commit()
        return event_id

    rolled_back = await add_event(commit=False)
    committed = await add_event(commit=True)
    async with sessions_only() as uow:
        assert await uow.events.get_row(rolled_back) is None
        assert (await uow.events.get_row(committed)).lat == 3.0


async def test_create_my_alert_after_every_pooled_connection_died_fails_at_most_once(server, api):
    """CreateMyAlert's statements run on the session's connection: when it is dead, the unit's
    rollback through the session lets SQLAlchemy renew its pool, as after its own statements."""
    camera, _ = await _camera(api)
    media = [await upload_media(camera, tiny_jpeg(n)) for n in range(16)]
    await asyncio.gather(
        *(camera.detection.CreateMyAlert(detection_pb.CreateMyAlertRequest(media_id=m.id)) for m in media[:6])
    )  # fill the pool
    assert terminate_backends(POSTGRES_ADMIN_URL, server.settings.database_url)
    remaining = iter(media[6:])
    outcomes = await call_outcomes(
        lambda: camera.detection.CreateMyAlert(
            detection_pb.CreateMyAlertRequest(media_id=next(remaining).id), timeout=CALL_TIMEOUT
        ),
        10,
    )
    assert outcomes.count("UNAVAILABLE") <= 1 and outcomes[1:] == ["OK"] * 9, outcomes
