"""Media retention (MEDIA_RETENTION_DAYS, domain/retention.py) through a real channel, on SQLite
and PostgreSQL, with media on the local folder and on S3 (moto over HTTP).

Media are made old by writing their create_time in the database; passes are run by calling
the server's purger (the background loop is tested once, by polling). The storage is listed
behind the server's back to prove objects are gone.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from sqlalchemy import update

from pyrogrpc.config import ConfigError, Settings
from pyrogrpc.db.models import JobLease, Media
from pyrogrpc.domain.retention import PurgePass
from pyrogrpc.server import PyroServer
from pyrogrpc.storage import MediaStorage
from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2 as res
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.fixtures_s3 import moto_s3_endpoint, s3_env  # noqa: F401  (moto_s3_endpoint: shared fixture)
from tests.helpers import Api, TcpProxy, eventually, expect_status, rich_status, tiny_jpeg, upload_media
from tests.http_helpers import free_port
from tests.test_camera import new_pose
from tests.test_upload import MEDIA_FOLDER, Camera, create_my_media, get_media, new_camera, stored_objects

Code = grpc.StatusCode
RETENTION_DAYS = 30


# --- support -------------------------------------------------------------------------------


async def make_old(server: PyroServer, *media_ids: int, days: int = RETENTION_DAYS + 1) -> None:
    """Move the media's create_time `days` into the past (what waiting that long would do)."""
    async with server.engine.begin() as connection:
        await connection.execute(
            update(Media).where(Media.id.in_(media_ids)).values(create_time=datetime.now(UTC) - timedelta(days=days))
        )


async def purge(server: PyroServer) -> PurgePass:
    """One pass of the server's purger, once the pass its loop runs at start is over."""
    assert server.media_purger is not None
    return await eventually(lambda: server.media_purger.purge())


async def alert_with(camera: Camera, media: res.Media, label: int | None, admin: Api) -> res.Alert:
    alert = (
        await camera.device.detection.CreateMyAlert(
            pb.CreateMyAlertRequest(media_id=media.id, azimuth=90.0, lat=44.0, lon=4.0)
        )
    ).alert
    if label is not None:
        await admin.detection.LabelEvent(pb.LabelEventRequest(event_id=alert.event_id, label=label))
    return alert


def error_reason(error: grpc.aio.AioRpcError) -> str:
    for detail in rich_status(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    raise AssertionError("no ErrorInfo detail")


async def start_retention_server(request, server_factory, kind: str, **env: str) -> PyroServer:
    if kind == "s3":
        env = {**s3_env(request.getfixturevalue("moto_s3_endpoint")), **env}
    return await server_factory(
        BUCKET_MEDIA_FOLDER=MEDIA_FOLDER,
        MEDIA_RETENTION_DAYS=str(RETENTION_DAYS),
        MEDIA_PURGE_BATCH_SIZE="2",  # several batches per pass
        **env,
    )


@pytest.fixture(params=["local", "s3"])
def storage_kind(request) -> str:
    return request.param


# --- what is purged and what is kept ------------------------------------------------------


async def test_old_unlabelled_media_are_purged_and_wildfire_recent_and_pose_media_kept(
    request, server_factory, storage_kind
):
    server = await start_retention_server(request, server_factory, storage_kind)
    async with Api.connect(server.port) as client:
        admin = await client.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        # One camera per case: alerts of one device within the relaxation share an event.
        cameras = [await new_camera(admin) for _ in range(4)]
        no_alert = await upload_media(cameras[0].device, tiny_jpeg())
        unlabelled = await upload_media(cameras[0].device, tiny_jpeg())
        await alert_with(cameras[0], unlabelled, None, admin)
        other_smoke = await upload_media(cameras[1].device, tiny_jpeg())
        await alert_with(cameras[1], other_smoke, res.EVENT_LABEL_OTHER_SMOKE, admin)
        not_smoke = await upload_media(cameras[2].device, tiny_jpeg())
        await alert_with(cameras[2], not_smoke, res.EVENT_LABEL_OTHER, admin)
        wildfire = await upload_media(cameras[3].device, tiny_jpeg())
        await alert_with(cameras[3], wildfire, res.EVENT_LABEL_WILDFIRE_SMOKE, admin)
        recent = await upload_media(cameras[0].device, tiny_jpeg())
        never_uploaded = await create_my_media(cameras[0].device)
        pose = await new_pose(admin, cameras[0].device_id)
        pose_picture = await upload_media(cameras[0].device, tiny_jpeg())
        await cameras[0].device.setup.UpdateMyPoseImage(
            setup_pb.UpdateMyPoseImageRequest(pose_id=pose.id, media_id=pose_picture.id)
        )
        doomed = [no_alert, unlabelled, other_smoke, not_smoke]
        await make_old(server, *(m.id for m in [*doomed, wildfire, never_uploaded, pose_picture]))
        await make_old(server, recent.id, days=RETENTION_DAYS - 1)
        before = datetime.now(UTC) - timedelta(seconds=1)

        outcome = await purge(server)

        assert outcome == PurgePass(purged=4, batches=2, complete=True)
        kept = sorted([wildfire.bucket_key, recent.bucket_key, pose_picture.bucket_key])
        assert await stored_objects(server) == kept, "purged objects must be gone from the storage"
        for media in doomed:
            row = await get_media(cameras[0].user if media in (no_alert, unlabelled) else admin, media.id)
            assert row.HasField("purge_time") and row.purge_time.ToDatetime(tzinfo=UTC) >= before
            assert row.bucket_key == media.bucket_key and row.size_bytes == media.size_bytes  # history stays
        for media in (wildfire, recent, never_uploaded, pose_picture):
            assert not (await get_media(admin, media.id)).HasField("purge_time")
        listed = (await admin.detection.ListMedia(pb.ListMediaRequest(page_size=100))).media
        assert {m.id for m in listed if m.HasField("purge_time")} == {m.id for m in doomed}
        assert len(listed) == 8  # every row is still there

        # Kept content still downloads; a second pass has nothing left to do.
        download = cameras[3].user.detection.DownloadMedia(pb.DownloadMediaRequest(media_id=wildfire.id))
        assert b"".join([m.chunk async for m in download])
        assert await purge(server) == PurgePass(purged=0, batches=0, complete=True)
        assert await stored_objects(server) == kept


async def test_purged_media_content_is_not_found_with_its_reason(request, server_factory, storage_kind):
    server = await start_retention_server(request, server_factory, storage_kind)
    async with Api.connect(server.port) as client:
        admin = await client.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        camera = await new_camera(admin)
        media = await upload_media(camera.device, tiny_jpeg())
        await make_old(server, media.id)
        assert (await purge(server)).purged == 1

        for caller in (camera.user, admin):
            for call in (
                caller.detection.GetMediaUrl(pb.GetMediaUrlRequest(media_id=media.id)),
                caller.detection.DownloadMedia(pb.DownloadMediaRequest(media_id=media.id)),
            ):
                error = await expect_status(call, Code.NOT_FOUND)
                assert error_reason(error) == "MEDIA_PURGED"
                assert f"media {media.id} was purged after {RETENTION_DAYS} days of retention" in error.details()
        # Another group still learns nothing about it: a plain NOT_FOUND.
        stranger = await new_camera(admin)
        error = await expect_status(
            stranger.user.detection.DownloadMedia(pb.DownloadMediaRequest(media_id=media.id)), Code.NOT_FOUND
        )
        assert error_reason(error) == "NOT_FOUND"
        # The admin may still delete the row.
        await admin.detection.DeleteMedia(pb.DeleteMediaRequest(media_id=media.id))
        await expect_status(admin.detection.GetMedia(pb.GetMediaRequest(media_id=media.id)), Code.NOT_FOUND)


async def test_relabelling_a_wildfire_event_lets_a_later_pass_purge_its_media(request, server_factory):
    server = await start_retention_server(request, server_factory, "local")
    async with Api.connect(server.port) as client:
        admin = await client.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        camera = await new_camera(admin)
        media = await upload_media(camera.device, tiny_jpeg())
        alert = await alert_with(camera, media, res.EVENT_LABEL_WILDFIRE_SMOKE, admin)
        await make_old(server, media.id)
        assert (await purge(server)).purged == 0
        await admin.detection.LabelEvent(pb.LabelEventRequest(event_id=alert.event_id, label=res.EVENT_LABEL_OTHER))
        assert (await purge(server)).purged == 1
        assert await stored_objects(server) == []


async def test_the_background_loop_purges_every_interval(request, server_factory):
    server = await start_retention_server(request, server_factory, "local", MEDIA_PURGE_INTERVAL_SECONDS="1")
    async with Api.connect(server.port) as client:
        admin = await client.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        camera = await new_camera(admin)
        media = await upload_media(camera.device, tiny_jpeg())
        await make_old(server, media.id)

        async def purged() -> bool:
            return (await get_media(camera.user, media.id)).HasField("purge_time")

        await eventually(purged)
        assert await stored_objects(server) == []


async def test_retention_is_off_by_default(server, admin):
    assert server.settings.media_retention_days == 0 and server.media_purger is None
    camera = await new_camera(admin)
    media = await upload_media(camera.device, tiny_jpeg())
    await make_old(server, media.id, days=36500)
    assert not (await get_media(admin, media.id)).HasField("purge_time")
    assert await stored_objects(server) == [media.bucket_key]


# --- storage down --------------------------------------------------------------------------


async def test_storage_down_during_a_purge_leaves_rows_unpurged_and_a_later_pass_finishes(
    request, server_factory, storage_kind
):
    proxy = None
    if storage_kind == "s3":
        endpoint = request.getfixturevalue("moto_s3_endpoint")
        proxy = TcpProxy(int(endpoint.rsplit(":", 1)[1]))
        await proxy.start()
        env = s3_env(f"http://127.0.0.1:{proxy.port}")
        server = await server_factory(
            BUCKET_MEDIA_FOLDER=MEDIA_FOLDER,
            MEDIA_RETENTION_DAYS=str(RETENTION_DAYS),
            MEDIA_PURGE_BATCH_SIZE="2",
            **env,
        )
    else:
        server = await start_retention_server(request, server_factory, "local")
    folder = server.settings.media_dir / MEDIA_FOLDER
    try:
        async with Api.connect(server.port) as client:
            admin = await client.login(ADMIN_LOGIN, ADMIN_PASSWORD)
            camera = await new_camera(admin)
            media = [await upload_media(camera.device, tiny_jpeg()) for _ in range(3)]
            await make_old(server, *(m.id for m in media))
            keys = sorted(m.bucket_key for m in media)

            # The storage goes away: S3 unreachable, or the media folder replaced by a file.
            if proxy is not None:
                await proxy.cut()
            else:
                os.rename(folder, f"{folder}.away")
                folder.write_bytes(b"")
            outcome = await purge(server)
            assert outcome == PurgePass(purged=0, batches=1, complete=False)
            for item in media:
                assert not (await get_media(admin, item.id)).HasField("purge_time")

            # Back: the next pass purges everything.
            if proxy is not None:
                await proxy.start()
            else:
                folder.unlink()
                os.rename(f"{folder}.away", folder)
            assert await stored_objects(server) == keys
            assert (await purge(server)).purged == 3
            assert await stored_objects(server) == []
            for item in media:
                assert (await get_media(admin, item.id)).HasField("purge_time")
    finally:
        if proxy is not None:
            await proxy.cut()


async def test_a_purge_stopped_after_its_deletes_is_finished_by_the_next_pass(request, server_factory):
    """A crash between deleting the objects and marking the rows: rows unpurged, objects gone.
    The next pass deletes again (a no-op) and marks them."""
    server = await start_retention_server(request, server_factory, "local")
    async with Api.connect(server.port) as client:
        admin = await client.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        camera = await new_camera(admin)
        media = await upload_media(camera.device, tiny_jpeg())
        await make_old(server, media.id)
        await server.storage.delete(media.bucket_key)  # what the crashed pass had done
        assert (await purge(server)).purged == 1
        assert (await get_media(admin, media.id)).HasField("purge_time")


# --- several replicas ----------------------------------------------------------------------


class RecordingStorage:
    """The server's real storage, recording every key it is asked to delete."""

    def __init__(self, storage: MediaStorage):
        self._storage = storage
        self.deleted: list[str] = []

    def __getattr__(self, name: str):
        return getattr(self._storage, name)

    async def delete(self, key: str) -> None:
        self.deleted.append(key)
        await self._storage.delete(key)


class RecordingServer(PyroServer):
    def _build_adapters(self, settings: Settings) -> None:
        super()._build_adapters(settings)
        self.storage = RecordingStorage(self.storage)  # type: ignore[assignment]


async def test_two_replicas_never_purge_the_same_media_twice(base_env, moto_s3_endpoint):
    env = {
        **base_env,
        **s3_env(moto_s3_endpoint),
        "MEDIA_RETENTION_DAYS": str(RETENTION_DAYS),
        "MEDIA_PURGE_BATCH_SIZE": "3",
        "MEDIA_PURGE_INTERVAL_SECONDS": "1",  # the loops race the test's own passes too
    }
    replicas = []
    try:
        for _ in range(2):
            replica = RecordingServer(Settings.from_env({**env, "METRICS_PORT": str(free_port())}, env_file=None))
            await replica.start()
            replicas.append(replica)
        async with Api.connect(replicas[0].port) as client:
            admin = await client.login(ADMIN_LOGIN, ADMIN_PASSWORD)
            camera = await new_camera(admin)
            media = [await upload_media(camera.device, tiny_jpeg()) for _ in range(20)]
            await make_old(replicas[0], *(m.id for m in media))

            async def all_purged() -> bool:
                # Both replicas try at once, again and again, besides their background loops.
                await asyncio.gather(*(r.media_purger.purge() for r in replicas))
                return sum(r.media_purger.purged_total for r in replicas) >= len(media)

            await eventually(all_purged)

        deleted = [key for r in replicas for key in r.storage.deleted]
        assert sorted(deleted) == sorted(m.bucket_key for m in media), "each object deleted exactly once"
        counted = [r.metrics.registry.get_sample_value("pyrogrpc_media_purged_total") for r in replicas]
        assert counted == [r.media_purger.purged_total for r in replicas] and sum(counted) == len(media)
        assert await stored_objects(replicas[0]) == []
    finally:
        for replica in replicas:
            await replica.stop(grace=0)


async def test_a_crashed_holders_lease_expires_and_another_replica_takes_over(request, server_factory):
    server = await start_retention_server(request, server_factory, "local")
    await purge(server)  # the start-up pass is over; the lease row exists, released

    async def lease_held_by_another(until: datetime) -> None:
        async with server.engine.begin() as connection:
            await connection.execute(update(JobLease).values(holder="crashed-replica", expire_time=until))

    await lease_held_by_another(datetime.now(UTC) + timedelta(minutes=5))
    assert await server.media_purger.purge() is None  # someone else holds it
    await lease_held_by_another(datetime.now(UTC) - timedelta(seconds=1))  # ... and it expired
    assert await server.media_purger.purge() == PurgePass(purged=0, batches=0, complete=True)


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["-1", "abc", "1.5", "1e3", "30d", "36501", "99999999999999999999", "0x10", "30; rm -rf /"]
)
def test_hostile_or_invalid_retention_days_are_refused(tmp_path, value):
    with pytest.raises(ConfigError, match="MEDIA_RETENTION_DAYS"):
        Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path), "MEDIA_RETENTION_DAYS": value}, env_file=None)


@pytest.mark.parametrize(
    ("name", "value"),
    [("MEDIA_PURGE_BATCH_SIZE", "0"), ("MEDIA_PURGE_BATCH_SIZE", "10001"), ("MEDIA_PURGE_INTERVAL_SECONDS", "0")],
)
def test_invalid_purge_settings_are_refused(tmp_path, name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path), name: value}, env_file=None)


def test_retention_settings_defaults_and_values(tmp_path):
    defaults = Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path)}, env_file=None)
    assert (defaults.media_retention_days, defaults.media_purge_interval_seconds, defaults.media_purge_batch_size) == (
        0,
        3600,
        100,
    )
    custom = Settings.from_env(
        {"PYROGRPC_DATA_DIR": str(tmp_path), "MEDIA_RETENTION_DAYS": " 90 ", "MEDIA_PURGE_BATCH_SIZE": "500"},
        env_file=None,
    )
    assert (custom.media_retention_days, custom.media_purge_batch_size) == (90, 500)


def test_serve_exits_2_on_a_hostile_retention(tmp_path, monkeypatch, capsys):
    from pyrogrpc.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYROGRPC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MEDIA_RETENTION_DAYS", "-7")
    assert main(["serve"]) == 2
    assert "MEDIA_RETENTION_DAYS" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "data", ignore_errors=True)
