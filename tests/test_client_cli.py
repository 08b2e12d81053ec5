"""The Python client and the `pyrogrpc` CLI against real servers: the camera workflow end to
end, exit codes, health, token refresh, upload restarts, retries, and a watch that survives
a server restart."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import sys
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from pyrogrpc.cli import main
from pyrogrpc.client import SERVICE_CONFIG, AsyncPyroClient, PyroClient
from pyrogrpc.client.channel import KEEPALIVE_OPTIONS
from pyrogrpc.server import _SERVER_OPTIONS
from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import detection_service_pb2_grpc, resources_pb2
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import USER_PASSWORD, tiny_jpeg

Code = grpc.StatusCode
WATCH_TIMEOUT = 20.0


# --- helpers ------------------------------------------------------------------------------


async def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run `pyrogrpc ARGV` in-process (in a thread: it runs its own event loop)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def new_camera(admin, *, lat=44.5, lon=4.2, azimuth=120.0):
    """A user and a camera it owns (with a position, so alerts need none)."""
    user_api, user = await admin.new_user()
    device_api, device = await admin.new_device(user.id, lat=lat, lon=lon, azimuth=azimuth)
    return user, device


def client(server, login: str, password: str = USER_PASSWORD, **options) -> AsyncPyroClient:
    return AsyncPyroClient(f"127.0.0.1:{server.port}", login=login, password=password, **options)


async def next_alert(alerts) -> resources_pb2.Alert:
    return await asyncio.wait_for(alerts.__anext__(), WATCH_TIMEOUT)


# --- the camera workflow through the CLI --------------------------------------------------


async def test_cli_register_send_alert_and_watch(server, admin, capsys, tmp_path):
    address = f"127.0.0.1:{server.port}"
    group = f"sdis-{uuid.uuid4().hex[:6]}"
    code, out, err = await cli(
        capsys,
        "create-user",
        "--server",
        address,
        "--login",
        ADMIN_LOGIN,
        "--password",
        ADMIN_PASSWORD,
        "--user-login",
        "alice",
        "--user-password",
        USER_PASSWORD,
        "--group",
        group,
    )
    assert code == 0, err
    user = json.loads(out)
    assert user["login"] == "alice" and user["scope"] == "SCOPE_USER" and f"created group '{group}'" in err

    code, out, err = await cli(
        capsys,
        "register-device",
        "--server",
        address,
        "--login",
        "alice",
        "--password",
        USER_PASSWORD,
        "--device-login",
        "cam-1",
        "--device-password",
        USER_PASSWORD,
        "--lat",
        "44.5",
        "--lon",
        "4.2",
        "--azimuth",
        "90",
    )
    assert code == 0, err
    device = json.loads(out)
    assert device["group_id"] == user["group_id"] and device["owner_id"] == user["id"] and device["azimuth"] == 90.0

    # The operator watches alerts in a real process; --after-alert-id 0 so nothing races its start.
    watcher = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pyrogrpc",
        "watch",
        "--server",
        address,
        "--login",
        "alice",
        "--password",
        USER_PASSWORD,
        "--after-alert-id",
        "0",
        "--count",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        image = tmp_path / "frame.jpg"
        image.write_bytes(tiny_jpeg(150_000))  # three 64 KiB chunks
        code, out, err = await cli(
            capsys,
            "send-alert",
            "--server",
            address,
            "--login",
            "cam-1",
            "--password",
            USER_PASSWORD,
            "--image",
            str(image),
            "--localization",
            "[[0.1,0.2,0.3,0.4,0.9]]",
        )
        assert code == 0, err
        alert = json.loads(out)
        assert alert["device_id"] == device["id"] and alert["azimuth"] == 90.0
        assert alert["localization"] == "[[0.1,0.2,0.3,0.4,0.9]]"
        assert "(0%)" in err and "(100%)" in err  # progress on stderr, stdout stays JSON

        watched, watch_err = await asyncio.wait_for(watcher.communicate(), WATCH_TIMEOUT)
        assert watcher.returncode == 0, watch_err.decode()
        assert [json.loads(line) for line in watched.decode().splitlines()] == [alert]
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()

    media = (await admin.detection.GetMedia(detection_pb.GetMediaRequest(media_id=int(alert["media_id"])))).media
    assert media.size_bytes == image.stat().st_size
    assert media.sha256 == hashlib.sha256(image.read_bytes()).hexdigest()


# --- exit codes ---------------------------------------------------------------------------


async def test_cli_exit_codes(server, admin, capsys, tmp_path):
    address = f"127.0.0.1:{server.port}"
    code, out, err = await cli(
        capsys, "watch", "--server", address, "--login", ADMIN_LOGIN, "--password", "wrong-password"
    )
    assert code == 1 and err.startswith("error: UNAUTHENTICATED: ") and out == ""

    # A user may not create users: the server's refusal is exit 1 with the status name.
    user_api, user = await admin.new_user()
    code, _, err = await cli(
        capsys,
        "create-user",
        "--server",
        address,
        "--login",
        user.login,
        "--password",
        USER_PASSWORD,
        "--user-login",
        "bob",
        "--user-password",
        USER_PASSWORD,
        "--group-id",
        str(user.group_id),
    )
    assert code == 1 and "PERMISSION_DENIED" in err

    # Invalid input names the field.
    code, _, err = await cli(
        capsys,
        "register-device",
        "--server",
        address,
        "--login",
        user.login,
        "--password",
        USER_PASSWORD,
        "--device-login",
        "cam-x",
        "--device-password",
        USER_PASSWORD,
        "--lat",
        "123",
    )
    assert code == 1 and "INVALID_ARGUMENT" in err and "lat" in err

    code, _, err = await cli(capsys, "health", "--server", f"127.0.0.1:{free_port()}", "--connect-timeout", "0.3")
    assert code == 3 and "cannot reach the server" in err

    code, _, err = await cli(capsys, "send-alert", "--server", address, "--image", "x.jpg", "--bogus-flag")
    assert code == 2 and "unrecognized arguments" in err
    code, _, err = await cli(capsys, "create-user", "--server", address, "--user-login", "x", "--user-password", "y")
    assert code == 2 and "--group-id" in err  # one of --group-id / --group is required

    code, _, err = await cli(
        capsys,
        "send-alert",
        "--server",
        address,
        "--login",
        "cam",
        "--password",
        "pw",
        "--image",
        str(tmp_path / "missing.jpg"),
    )
    assert code == 2 and "missing.jpg" in err


async def test_cli_without_credentials_is_a_usage_error(server, capsys, monkeypatch):
    monkeypatch.delenv("PYRO_LOGIN", raising=False)
    monkeypatch.delenv("PYRO_PASSWORD", raising=False)
    code, _, err = await cli(capsys, "watch", "--server", f"127.0.0.1:{server.port}")
    assert code == 2 and "PYRO_LOGIN" in err

    # ... and PYRO_* variables are the defaults of the flags.
    monkeypatch.setenv("PYRO_SERVER", f"127.0.0.1:{server.port}")
    monkeypatch.setenv("PYRO_LOGIN", ADMIN_LOGIN)
    monkeypatch.setenv("PYRO_PASSWORD", ADMIN_PASSWORD)
    code, out, err = await cli(
        capsys, "create-user", "--user-login", "from-env", "--user-password", USER_PASSWORD, "--group", "env-group"
    )
    assert code == 0, err
    assert json.loads(out)["login"] == "from-env"


@pytest.mark.parametrize(
    "command", ["health", "create-user", "register-device", "send-alert", "watch", "serve", "migrate"]
)
async def test_cli_help(capsys, command):
    code, out, _ = await cli(capsys, command, "--help")
    assert code == 0 and f"usage: pyrogrpc {command}" in out


async def test_cli_health(server, capsys):
    address = f"127.0.0.1:{server.port}"
    code, out, _ = await cli(capsys, "health", "--server", address)
    assert (code, out.strip()) == (0, "SERVING")
    code, out, _ = await cli(capsys, "health", "--server", address, "--service", "pyronear.v1.DetectionService")
    assert (code, out.strip()) == (0, "SERVING")

    await server.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)  # as when the database is down
    code, out, _ = await cli(capsys, "health", "--server", address)
    assert (code, out.strip()) == (1, "NOT_SERVING")

    code, _, err = await cli(capsys, "health", "--server", address, "--service", "no.such.Service")
    assert code == 1 and "NOT_FOUND" in err


# --- client: tokens -----------------------------------------------------------------------


def count_logins(client: AsyncPyroClient) -> list[int]:
    calls: list[int] = []
    login = client.tokens.login

    async def counted():
        calls.append(1)
        return await login()

    client.tokens.login = counted
    return calls


async def test_client_logs_in_again_before_the_token_expires(server):
    async with client(server, ADMIN_LOGIN, ADMIN_PASSWORD) as admin_client:
        logins = count_logins(admin_client)
        assert (await admin_client.get_my_user()).login == ADMIN_LOGIN
        await admin_client.get_my_user()
        assert len(logins) == 1  # a fresh token is reused
        first_expiry = admin_client.tokens.expire_time
        assert first_expiry > datetime.now(UTC) + timedelta(minutes=50)

        admin_client.tokens.expire_time = datetime.now(UTC) + timedelta(seconds=5)  # within the margin
        await admin_client.get_my_user()
        assert len(logins) == 2
        admin_client.tokens.expire_time = datetime.now(UTC) - timedelta(hours=1)  # already expired
        await admin_client.get_my_user()
        assert len(logins) == 3 and admin_client.tokens.expire_time >= first_expiry


async def test_client_logs_in_again_once_on_unauthenticated(server):
    async with client(server, ADMIN_LOGIN, ADMIN_PASSWORD) as admin_client:
        await admin_client.login()
        logins = count_logins(admin_client)
        admin_client.tokens.token = "revoked-token"  # the server refuses it; expiry still looks fine
        assert (await admin_client.get_my_user()).login == ADMIN_LOGIN
        assert len(logins) == 1

        # Wrong password: the one re-login fails and the error surfaces (no loop).
        admin_client.tokens.set_credentials(ADMIN_LOGIN, "wrong-password")
        admin_client.tokens.token, admin_client.tokens.expire_time = "revoked-token", None
        logins = count_logins(admin_client)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await admin_client.get_my_user()
        assert error.value.code() == Code.UNAUTHENTICATED and len(logins) == 1

    async with AsyncPyroClient(f"127.0.0.1:{server.port}", token="revoked-token") as token_only:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await token_only.get_my_user()
        assert error.value.code() == Code.UNAUTHENTICATED


# --- client: send_alert -------------------------------------------------------------------


async def test_send_alert_with_the_same_request_id_is_one_alert(server, admin):
    user, device = await new_camera(admin)
    sent: list[tuple[int, int]] = []
    async with client(server, device.login) as camera:
        request_id = str(uuid.uuid4())
        image = tiny_jpeg(70_000)
        first = await camera.send_alert(image, azimuth=33.0, request_id=request_id, progress=lambda *p: sent.append(p))
        again = await camera.send_alert(image, azimuth=33.0, request_id=request_id)
        other = await camera.send_alert(image, azimuth=33.0)
    assert again == first and other.id != first.id and other.media_id != first.media_id
    assert first.azimuth == 33.0 and first.lat == 44.5  # position defaults to the camera's
    assert sent[0] == (0, len(image)) and sent[-1] == (len(image), len(image)) and len(sent) == 3
    listed = await admin.detection.ListAlerts(detection_pb.ListAlertsRequest(group_id=user.group_id))
    assert sorted(a.id for a in listed.alerts) == sorted([first.id, other.id])


async def test_heartbeat_and_sync_client(server, admin, tmp_path):
    user, device = await new_camera(admin)
    image = tmp_path / "frame.jpg"
    image.write_bytes(tiny_jpeg())

    def camera_script():
        with PyroClient(f"127.0.0.1:{server.port}", login=device.login, password=USER_PASSWORD) as camera:
            return camera.heartbeat(), camera.send_alert(image, lat=45.0, lon=5.0)

    def operator_script():
        with PyroClient(f"127.0.0.1:{server.port}", login=user.login, password=USER_PASSWORD) as operator:
            alerts = operator.watch_alerts(0)
            first = next(alerts)
            alerts.close()  # ends the stream on the client's loop
            return first

    pinged, alert = await asyncio.to_thread(camera_script)
    assert pinged.id == device.id and pinged.HasField("last_ping_time")
    assert (alert.device_id, alert.lat, alert.lon) == (device.id, 45.0, 5.0)
    assert await asyncio.wait_for(asyncio.to_thread(operator_script), WATCH_TIMEOUT) == alert


async def test_send_alert_restarts_after_unavailable(server, admin):
    """A stream broken mid-picture (UNAVAILABLE) is sent again from the start, same request_id."""
    user, device = await new_camera(admin)
    image = tiny_jpeg(200_000)
    progress: list[int] = []
    headers: list[detection_pb.SendAlertHeader] = []
    async with client(server, device.login) as camera:
        real_send = camera.detection.SendAlert

        class BrokenLink:
            """The first attempt's link drops after the header: writes fail UNAVAILABLE."""

            def __init__(self, call):
                self.call = call

            async def write(self, request):
                if request.HasField("header"):
                    headers.append(request.header)
                    return await self.call.write(request)
                self.call.cancel()
                raise link_down()

            async def done_writing(self):
                raise link_down()

            def __await__(self):
                raise link_down()
                yield  # a generator, as __await__ must be

        def link_down():
            return grpc.aio.AioRpcError(Code.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "link down")

        class Recording:
            def __init__(self, call):
                self.call = call

            async def write(self, request):
                if request.HasField("header"):
                    headers.append(request.header)
                await self.call.write(request)

            async def done_writing(self):
                await self.call.done_writing()

            def __await__(self):
                return self.call.__await__()

        def flaky_send(*args, **kwargs):
            call = real_send(*args, **kwargs)
            return BrokenLink(call) if not headers else Recording(call)

        camera.detection.SendAlert = flaky_send
        alert = await camera.send_alert(image, progress=lambda sent, total: progress.append(sent))
    assert len(headers) == 2 and headers[0] == headers[1] and headers[0].alert.request_id
    assert progress.count(0) == 2 and progress[-1] == len(image)
    media = (await admin.detection.GetMedia(detection_pb.GetMediaRequest(media_id=alert.media_id))).media
    assert media.sha256 == hashlib.sha256(image).hexdigest()
    listed = await admin.detection.ListAlerts(detection_pb.ListAlertsRequest(group_id=user.group_id))
    assert [a.id for a in listed.alerts] == [alert.id]


async def test_send_alert_waits_for_an_upload_slot(server_factory, caplog):
    """Past MAX_UPLOADS_PER_DEVICE the server answers RESOURCE_EXHAUSTED (TOO_MANY_UPLOADS):
    the client restarts the stream with its backoff, so every alert of a burst is stored."""
    server = await server_factory(MAX_UPLOADS_PER_DEVICE="1")
    async with AsyncPyroClient(f"127.0.0.1:{server.port}", login=ADMIN_LOGIN, password=ADMIN_PASSWORD) as admin:
        user = await admin.create_user(f"u-{uuid.uuid4().hex[:6]}", USER_PASSWORD, group_id=1)
        device = await admin.create_device(
            f"cam-{uuid.uuid4().hex[:6]}", USER_PASSWORD, owner_id=user.id, lat=44.5, lon=4.2, azimuth=1.0
        )
    caplog.set_level(logging.INFO, logger="pyrogrpc.access")
    async with client(server, device.login) as camera:
        alerts = await asyncio.gather(*(camera.send_alert(tiny_jpeg(1_000_000)) for _ in range(4)))
    assert len({alert.id for alert in alerts}) == 4
    answers = [r.getMessage().split()[1] for r in caplog.records if r.getMessage().startswith("SendAlert ")]
    refused = [code for code in answers if code != "OK"]
    assert refused and set(refused) == {"RESOURCE_EXHAUSTED"}


async def test_cli_send_alert_with_boxes_pose_and_capture_time(server, admin, capsys, tmp_path):
    user, device = await new_camera(admin)
    pose = (await admin.setup.CreatePose(setup_pb.CreatePoseRequest(device_id=device.id, azimuth=45.0))).pose
    mask_box = resources_pb2.NormalizedBox(x_min=0.0, y_min=0.0, x_max=0.2, y_max=0.2)
    await admin.setup.CreateOcclusionMask(setup_pb.CreateOcclusionMaskRequest(pose_id=pose.id, box=mask_box))
    image = tmp_path / "frame.jpg"
    image.write_bytes(tiny_jpeg())
    address = f"127.0.0.1:{server.port}"
    captured = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    code, out, err = await cli(
        capsys,
        "send-alert",
        "--server",
        address,
        "--login",
        device.login,
        "--password",
        USER_PASSWORD,
        "--quiet",
        "--image",
        str(image),
        "--pose",
        str(pose.id),
        "--capture-time",
        captured.isoformat().replace("+00:00", "Z"),
        "--box",
        "0.1,0.2,0.3,0.4,0.9",
        "--box",
        "0.5,0.5,0.6,0.7,0.4",
    )
    assert code == 0, err
    alert = json.loads(out)
    assert alert["pose_id"] == str(pose.id) and len(alert["boxes"]) == 2 and alert["azimuth"] == 45.0
    assert alert["capture_time"] == captured.isoformat().replace("+00:00", "Z")
    for bad in (["--box", "0.1,0.2,0.3"], ["--capture-time", "yesterday"]):
        code, _, err = await cli(capsys, "send-alert", "--server", address, "--image", str(image), *bad)
        assert code == 2 and ("X1,Y1,X2,Y2,CONF" in err or "ISO-8601" in err)
    # The client fetches the masks of its poses.
    async with client(server, device.login) as camera:
        masks = await camera.fetch_masks()
    assert masks == {pose.id: [mask_box]}


# --- client: channel settings -------------------------------------------------------------


def test_keepalive_matches_the_server():
    client_options, server_options = dict(KEEPALIVE_OPTIONS), dict(_SERVER_OPTIONS)
    # The server answers pings arriving faster than this with GOAWAY (too_many_pings).
    assert (
        client_options["grpc.keepalive_time_ms"] >= server_options["grpc.http2.min_recv_ping_interval_without_data_ms"]
    )
    assert client_options["grpc.keepalive_time_ms"] == server_options["grpc.keepalive_time_ms"]
    assert (
        client_options["grpc.keepalive_permit_without_calls"]
        == server_options["grpc.keepalive_permit_without_calls"]
        == 1
    )


class _FlakyHealth(health.aio.HealthServicer):
    """UNAVAILABLE for the first `failures` checks, then SERVING."""

    def __init__(self, failures: int):
        super().__init__()
        self.calls, self.failures = 0, failures

    async def Check(self, request, context):
        self.calls += 1
        if self.calls <= self.failures:
            await context.abort(Code.UNAVAILABLE, "restarting")
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


class _DownDetection(detection_service_pb2_grpc.DetectionServiceServicer):
    def __init__(self):
        self.uploads = 0

    async def UploadMedia(self, request_iterator, context):
        self.uploads += 1
        await context.abort(Code.UNAVAILABLE, "storage down")


async def test_service_config_retries_unary_calls_and_not_uploads():
    fake = grpc.aio.server()
    flaky_health, down_detection = _FlakyHealth(failures=2), _DownDetection()
    health_pb2_grpc.add_HealthServicer_to_server(flaky_health, fake)
    detection_service_pb2_grpc.add_DetectionServiceServicer_to_server(down_detection, fake)
    port = fake.add_insecure_port("127.0.0.1:0")
    await fake.start()
    try:
        async with AsyncPyroClient(f"127.0.0.1:{port}", token="t", upload_attempts=2) as fake_client:
            assert await fake_client.health() == health_pb2.HealthCheckResponse.SERVING
            assert flaky_health.calls == 3  # two transparent retries

            with pytest.raises(grpc.aio.AioRpcError) as error:
                await fake_client.upload_media(1, tiny_jpeg())
            assert error.value.code() == Code.UNAVAILABLE
            # Only the client's own restarts: no transparent retry of the stream.
            assert down_detection.uploads == 2
    finally:
        await fake.stop(0)
    retried = {name["method"] for entry in SERVICE_CONFIG["methodConfig"] for name in entry["name"]}
    assert {"Check", "ListAlerts", "GetMedia", "Heartbeat", "CreateMyAlert", "AcknowledgeEvent"} <= retried
    # Streams restart themselves; creates without a request_id, deletes and password changes never retry.
    assert not retried & {
        "UploadMedia",
        "WatchAlerts",
        "CreateUser",
        "CreateGroup",
        "DeleteAlert",
        "UpdateMyPassword",
        "SendNotification",
    }


# --- client: watch ------------------------------------------------------------------------


async def test_watch_resumes_across_a_server_restart(server, admin, server_factory):
    """Stop the server mid-stream, start a new one on the same port and database: the
    iterator resumes and yields the next alert, without loss or duplicate."""
    user, device = await new_camera(admin)
    port = server.port
    async with client(server, user.login) as watcher, client(server, device.login) as camera:
        # after_alert_id=0: replay what exists (nothing yet), so the stream's start cannot race.
        alerts = watcher.watch_alerts(0, initial_backoff=0.2, max_backoff=1.0)
        first_pending = asyncio.ensure_future(next_alert(alerts))
        first = await camera.send_alert(tiny_jpeg())
        assert (await first_pending).id == first.id

        await server.stop(grace=0)
        await server_factory(GRPC_PORT=str(port))
        second = await camera.send_alert(tiny_jpeg())  # the camera's channel reconnects too
        third = await camera.send_alert(tiny_jpeg())
        assert [(await next_alert(alerts)).id for _ in range(2)] == [second.id, third.id]
        await alerts.aclose()
