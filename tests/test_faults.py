"""Faults: PostgreSQL connections killed under load, the database unreachable, S3 down.

What must hold: calls answer UNAVAILABLE quickly (never hang, never INTERNAL) or
succeed; health says NOT_SERVING while the database is unreachable; the server
recovers by itself; every create that returned OK is in the database afterwards;
a failed upload leaves no object and an un-uploaded media row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field

import boto3
import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text

from pyrogrpc.config import Settings
from pyrogrpc.server import PyroServer
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import resources_pb2 as res
from pyronear.v1.detection_service_pb2_grpc import DetectionServiceStub
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, POSTGRES_ADMIN_URL
from tests.fixtures_s3 import s3_env, start_moto
from tests.helpers import (
    TERMINATE_BACKENDS,
    Api,
    TcpProxy,
    call_outcomes,
    eventually,
    expect_status,
    terminate_backends,
    tiny_jpeg,
    upload_media,
    upload_requests,
)

Code = grpc.StatusCode
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
CALL_TIMEOUT = 15  # a call still running after this long counts as hanging
FAST_FAILURE_SECONDS = 10


async def _health(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        return (await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)).status


async def _wait_health(port: int, status: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await _health(port) == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"health did not become {health_pb2.HealthCheckResponse.ServingStatus.Name(status)} in {seconds} s"
    )


@dataclass
class Load:
    """Concurrent creates (groups as the admin, alerts as a camera); remembers what returned OK."""

    admin: Api
    camera: Api
    groups: list[int] = field(default_factory=list)
    alerts: list[int] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    slowest_failure: float = 0.0
    running: bool = True

    async def _call(self, make_call):
        started = time.monotonic()
        try:
            return await make_call()
        except grpc.aio.AioRpcError as error:
            self.codes[error.code().name] = self.codes.get(error.code().name, 0) + 1
            self.slowest_failure = max(self.slowest_failure, time.monotonic() - started)
            return None

    async def worker(self, index: int) -> None:
        while self.running:
            group = await self._call(
                lambda: self.admin.access.CreateGroup(
                    access_pb.CreateGroupRequest(name=f"g-{uuid.uuid4().hex[:12]}"), timeout=CALL_TIMEOUT
                )
            )
            if group is not None:
                self.codes["OK"] = self.codes.get("OK", 0) + 1
                self.groups.append(group.group.id)
            alert = await self._call(
                lambda: self.camera.detection.CreateMyAlert(
                    detection_pb.CreateMyAlertRequest(lat=44.0, lon=4.0, azimuth=float(index)), timeout=CALL_TIMEOUT
                )
            )
            if alert is not None:
                self.codes["OK"] = self.codes.get("OK", 0) + 1
                self.alerts.append(alert.alert.id)
            await asyncio.sleep(0.01)

    async def run(self, workers: int, scenario) -> None:
        tasks = [asyncio.create_task(self.worker(i)) for i in range(workers)]
        try:
            await scenario()
        finally:
            self.running = False
            await asyncio.gather(*tasks)

    def assert_only_ok_or_unavailable(self) -> None:
        assert set(self.codes) <= {"OK", "UNAVAILABLE"}, f"unexpected statuses under database faults: {self.codes}"
        assert self.slowest_failure < FAST_FAILURE_SECONDS, f"a failing call took {self.slowest_failure:.1f} s"

    def assert_nothing_lost(self, database_url: str) -> None:
        url = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(url) as connection:
            groups = {row[0] for row in connection.execute("SELECT id FROM groups WHERE id = ANY(%s)", (self.groups,))}
            alerts = {row[0] for row in connection.execute("SELECT id FROM alerts WHERE id = ANY(%s)", (self.alerts,))}
        assert set(self.groups) - groups == set(), "groups whose create returned OK are missing"
        assert set(self.alerts) - alerts == set(), "alerts whose create returned OK are missing"
        assert len(set(self.alerts)) == len(self.alerts), "one alert id returned twice"


async def _world(api: Api) -> tuple[Api, Api]:
    admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
    _, user = await admin.new_user()
    camera, _ = await admin.new_device(user.id, lat=44.0, lon=4.0, azimuth=10.0)
    return admin, camera


def _database_name(database_url: str) -> str:
    return database_url.rsplit("/", 1)[1]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_killed_connections_give_unavailable_or_success_and_lose_nothing(server_factory, database_url):
    server = await server_factory(health_interval_seconds=0.2)
    killed = 0
    async with Api.connect(server.port) as api:
        load = Load(*await _world(api))

        async def kill_backends_repeatedly():
            nonlocal killed
            async with await psycopg.AsyncConnection.connect(POSTGRES_ADMIN_URL, autocommit=True) as killer:
                await asyncio.sleep(0.5)
                for _ in range(8):
                    cursor = await killer.execute(TERMINATE_BACKENDS, (_database_name(database_url),))
                    killed += len(await cursor.fetchall())
                    await asyncio.sleep(0.3)
            await asyncio.sleep(0.5)  # calls after the last kill must succeed again

        await load.run(6, kill_backends_repeatedly)
        assert killed > 0, "the test killed no connection"
        load.assert_only_ok_or_unavailable()
        assert load.codes.get("OK", 0) > 20, load.codes
        # The pool reconnects by itself: a fresh call works and health is SERVING.
        assert (await load.admin.access.ListGroups(access_pb.ListGroupsRequest())).groups
        await _wait_health(server.port, SERVING)
    load.assert_nothing_lost(database_url)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_pool_of_dead_connections_costs_at_most_one_failed_call(server_factory, database_url):
    """The pool does not ping before each use (see pyrogrpc/db/session.py): when every pooled
    connection died while idle, one call may fail with UNAVAILABLE, then the pool is renewed."""
    server = await server_factory(health_interval_seconds=60)
    async with Api.connect(server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        await asyncio.gather(
            *(admin.access.ListGroups(access_pb.ListGroupsRequest()) for _ in range(8))
        )  # fill the pool
        assert terminate_backends(POSTGRES_ADMIN_URL, database_url)
        outcomes = await call_outcomes(
            lambda: admin.access.ListGroups(access_pb.ListGroupsRequest(), timeout=CALL_TIMEOUT), 10
        )
        assert outcomes.count("UNAVAILABLE") <= 1 and outcomes[1:] == ["OK"] * 9, outcomes


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_unreachable_database_under_load_then_back(server_factory, database_url):
    proxy = TcpProxy(5432)
    await proxy.start()
    proxied = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    server = await server_factory(health_interval_seconds=0.2, DATABASE_URL=proxied)
    try:
        async with Api.connect(server.port) as api:
            load = Load(*await _world(api))
            unavailable_during_cut = 0

            async def outage():
                nonlocal unavailable_during_cut
                await asyncio.sleep(0.7)
                before = load.codes.get("UNAVAILABLE", 0)
                await proxy.cut()
                await _wait_health(server.port, NOT_SERVING)

                async def some_unavailable() -> bool:  # polled: calls may take their connect timeout
                    return load.codes.get("UNAVAILABLE", 0) > before

                await eventually(some_unavailable)
                unavailable_during_cut = load.codes.get("UNAVAILABLE", 0) - before
                await proxy.start()
                await _wait_health(server.port, SERVING)
                ok_before = load.codes.get("OK", 0)

                async def some_ok() -> bool:
                    return load.codes.get("OK", 0) > ok_before

                await eventually(some_ok)  # a call succeeded after the database came back

            await load.run(4, outage)
            assert unavailable_during_cut > 0, "calls kept succeeding without a database?"
            load.assert_only_ok_or_unavailable()
        load.assert_nothing_lost(database_url)
    finally:
        await proxy.cut()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_database_lost_after_the_object_is_stored_removes_the_object(server_factory, database_url):
    """UploadMedia stores the object, then sets the row: if the database goes away between the
    two, the call is UNAVAILABLE, the object is removed again and the row stays unset."""
    proxy = TcpProxy(5432)
    await proxy.start()
    server = await server_factory(DATABASE_URL=database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"))
    open_writer = server.storage.open_writer

    async def open_writer_losing_the_database(key: str, content_type: str):
        writer = await open_writer(key, content_type)
        commit = writer.commit

        async def commit_then_cut() -> None:
            await commit()
            await proxy.cut()

        writer.commit = commit_then_cut
        return writer

    try:
        async with Api.connect(server.port) as api:
            admin, camera = await _world(api)
            media = (
                await camera.detection.CreateMyMedia(detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE))
            ).media
            server.storage.open_writer = open_writer_losing_the_database
            error = await expect_status(
                camera.detection.UploadMedia(upload_requests(media.id, tiny_jpeg()), timeout=CALL_TIMEOUT),
                Code.UNAVAILABLE,
            )
            assert "database" in error.details().lower(), error.details()
            server.storage.open_writer = open_writer
            await proxy.start()

            stored = [path for path in server.settings.media_dir.rglob("*") if path.is_file()]
            assert stored == [], "the object of a failed upload was left in storage"
            for _ in range(3):  # the first call after the outage may meet a dead pooled connection
                try:
                    media = (
                        await admin.detection.GetMedia(
                            detection_pb.GetMediaRequest(media_id=media.id), timeout=CALL_TIMEOUT
                        )
                    ).media
                    break
                except grpc.aio.AioRpcError as error:
                    assert error.code() == Code.UNAVAILABLE, error
            assert not media.HasField("bucket_key") and not media.HasField("sha256"), (
                "a failed upload half-set the media"
            )
    finally:
        await proxy.cut()


# --- S3 down --------------------------------------------------------------------------------


def _bucket_keys(endpoint: str, bucket: str) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _create_bucket(endpoint: str, bucket: str) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=bucket)


def _sync_upload_error(camera: Api, requests) -> grpc.RpcError:
    """UploadMedia with the sync client (run it in a thread): when the server ends the call while
    the client is still sending, grpc.aio's client may report INTERNAL ('Failed "execute_batch"',
    grpc/grpc#36066) instead of the server's status; the sync client reports the server's."""
    with grpc.insecure_channel(f"127.0.0.1:{camera.port}") as channel:
        try:
            DetectionServiceStub(channel).UploadMedia(
                iter(requests), metadata=(("authorization", f"Bearer {camera.token}"),), timeout=CALL_TIMEOUT
            )
        except grpc.RpcError as error:
            return error
    raise AssertionError("the upload succeeded")


async def _upload_fails_cleanly(camera: Api, admin: Api, media_id: int, requests) -> None:
    started = time.monotonic()
    error = await asyncio.to_thread(_sync_upload_error, camera, requests)
    assert error.code() == Code.UNAVAILABLE, f"expected UNAVAILABLE, got {error.code().name}: {error.details()}"
    assert time.monotonic() - started < FAST_FAILURE_SECONDS, "an unreachable S3 must fail fast"
    media = (await admin.detection.GetMedia(detection_pb.GetMediaRequest(media_id=media_id))).media
    assert not media.HasField("bucket_key") and not media.HasField("sha256"), "a failed upload half-set the media"


async def test_s3_down_upload_fails_cleanly_then_works_with_a_new_s3(server_factory):
    first_moto, first_url = start_moto()
    second_moto = None
    bucket = f"faults-{uuid.uuid4().hex[:8]}"
    _create_bucket(first_url, bucket)
    proxy = TcpProxy(int(first_url.rsplit(":", 1)[1]))
    await proxy.start()
    server = await server_factory(**s3_env(f"http://127.0.0.1:{proxy.port}", bucket))
    try:
        async with Api.connect(server.port) as api:
            admin, camera = await _world(api)
            create = detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE)
            media_id = (await camera.detection.CreateMyMedia(create)).media.id
            content = tiny_jpeg(200_000)

            # 1. Nothing listens where S3 should be.
            await proxy.cut()
            await _upload_fails_cleanly(camera, admin, media_id, upload_requests(media_id, content))
            assert _bucket_keys(first_url, bucket) == []

            # 2. S3 goes away in the middle of a multi-part upload (12 MiB).
            await proxy.start()
            big = tiny_jpeg(12 * 1024 * 1024)

            loop = asyncio.get_running_loop()

            def cut_midway():  # runs in the sync client's thread; the proxy lives on this loop
                for index, message in enumerate(upload_requests(media_id, big)):
                    if index == 100:  # ~6 MiB sent
                        time.sleep(0.3)
                        asyncio.run_coroutine_threadsafe(proxy.cut(), loop).result(CALL_TIMEOUT)
                    yield message

            await _upload_fails_cleanly(camera, admin, media_id, cut_midway())
            assert _bucket_keys(first_url, bucket) == [], "a failed upload left an object"

            # 3. The S3 server itself is stopped (the address answers, nothing behind it).
            first_moto.stop()
            first_moto = None
            await proxy.start()
            await _upload_fails_cleanly(camera, admin, media_id, upload_requests(media_id, content))

            # 4. A new S3 server is reachable: the same media uploads, no restart needed.
            second_moto, second_url = start_moto()
            _create_bucket(second_url, bucket)
            proxy.target_port = int(second_url.rsplit(":", 1)[1])
            uploaded = (
                await camera.detection.UploadMedia(upload_requests(media_id, content), timeout=CALL_TIMEOUT)
            ).media
            assert uploaded.bucket_key and _bucket_keys(second_url, bucket) == [uploaded.bucket_key]
    finally:
        await proxy.cut()
        for moto in (first_moto, second_moto):
            if moto is not None:
                with contextlib.suppress(Exception):
                    moto.stop()


async def test_stop_during_uploads_lets_them_finish_and_leaves_no_stray_object(base_env, caplog):
    """More uploads than S3 threads are committing, on a slow S3, when the server stops with no
    grace: the cancelled handlers finish their commit or clean-up before the storage and the
    database close, so nothing is logged as an internal error, and every object in the bucket
    is the content of a media row (and the other way round)."""
    moto, url = start_moto()
    bucket = f"stop-{uuid.uuid4().hex[:8]}"
    _create_bucket(url, bucket)
    proxy = TcpProxy(int(url.rsplit(":", 1)[1]), response_delay=0.3)
    await proxy.start()
    # One camera runs the 12 uploads at once: lift its cap (MAX_UPLOADS_PER_DEVICE, 2 by default).
    settings = Settings.from_env(
        {**base_env, **s3_env(f"http://127.0.0.1:{proxy.port}", bucket), "MAX_UPLOADS_PER_DEVICE": "12"}, env_file=None
    )
    server = PyroServer(settings)
    await server.start()
    try:
        async with Api.connect(server.port) as api:
            admin, camera = await _world(api)
            create = detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE)
            media_ids = [(await camera.detection.CreateMyMedia(create)).media.id for _ in range(12)]
            connected = proxy.connections
            uploads = [
                asyncio.ensure_future(
                    camera.detection.UploadMedia(upload_requests(media_id, tiny_jpeg(50_000)), timeout=CALL_TIMEOUT)
                )
                for media_id in media_ids
            ]
            while proxy.connections < connected + 8:  # all 8 S3 threads are committing
                await asyncio.sleep(0.01)
            with caplog.at_level(logging.WARNING):
                await asyncio.wait_for(server.stop(grace=0), CALL_TIMEOUT)
            outcomes = await asyncio.gather(*uploads, return_exceptions=True)
        assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
        for outcome in outcomes:
            if isinstance(outcome, grpc.aio.AioRpcError):
                assert outcome.code() in (Code.CANCELLED, Code.UNAVAILABLE), outcome
        uploaded = {outcome.media.id for outcome in outcomes if not isinstance(outcome, BaseException)}

        server = PyroServer(settings)  # the same database and bucket, to read the rows back
        await server.start()
        async with Api.connect(server.port) as api:
            admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
            rows = [
                (await admin.detection.GetMedia(detection_pb.GetMediaRequest(media_id=media_id))).media
                for media_id in media_ids
            ]
        assert uploaded <= {media.id for media in rows if media.bucket_key}, "an upload that returned OK is not set"
        assert sorted(_bucket_keys(url, bucket)) == sorted(media.bucket_key for media in rows if media.bucket_key)
    finally:
        await server.stop(grace=0)
        await proxy.cut()
        moto.stop()


async def test_alerts_cancelled_at_any_point_leave_no_half_written_rows(server, api, caplog):
    """Clients that give up (short deadlines) cancel CreateMyAlert anywhere in its transaction
    (on PostgreSQL its statements run on the session's own connection, db/transaction_statements.py):
    each alert is committed with its event or not at all, nothing is logged, and the
    connections come back usable."""
    admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
    owner = await admin.create_user((await admin.create_group()).id)
    camera, _ = await admin.new_device(owner.id, lat=44.0, lon=4.0, azimuth=90.0, angle_of_view=60.0)
    media = [await upload_media(camera, tiny_jpeg(n)) for n in range(40)]
    cut_short = iter(media[:32])
    deadlines = iter(0.0005 * (1 + number % 16) for number in range(32))
    with caplog.at_level(logging.WARNING):
        outcomes = await call_outcomes(
            lambda: camera.detection.CreateMyAlert(
                detection_pb.CreateMyAlertRequest(media_id=next(cut_short).id), timeout=next(deadlines)
            ),
            32,
        )
        # Without a deadline every call succeeds again, on the same pools.
        for item in media[32:]:
            await camera.detection.CreateMyAlert(detection_pb.CreateMyAlertRequest(media_id=item.id), timeout=15)
    assert set(outcomes) <= {"OK", "DEADLINE_EXCEEDED"} and "DEADLINE_EXCEEDED" in outcomes, outcomes
    async with server.uow() as uow:
        rows = await uow.session.execute(
            text(
                "SELECT (SELECT count(*) FROM alerts WHERE event_id IS NULL),"
                " (SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM alerts a WHERE a.event_id = e.id)),"
                " (SELECT count(*) FROM alerts)"
            )
        )
        alerts_without_event, events_without_alert, alerts = rows.one()
    assert (alerts_without_event, events_without_alert) == (0, 0)
    assert outcomes.count("OK") + 8 <= alerts <= 40
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
