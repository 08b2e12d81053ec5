"""Every operator command of the CLI against a real server: exit codes, table and JSON
output, password prompts, paging, CSV export, media download and URL, watch reconnects."""

from __future__ import annotations

import asyncio
import csv
import getpass
import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from pyrogrpc.client import AsyncPyroClient
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.fixtures_s3 import s3_env
from tests.helpers import USER_PASSWORD, tiny_jpeg
from tests.test_client_cli import cli, free_port

WATCH_TIMEOUT = 30.0


@pytest.fixture(autouse=True)
def no_credentials_in_env(monkeypatch):
    for name in ("PYRO_LOGIN", "PYRO_PASSWORD", "PYRO_SERVER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def prompts(monkeypatch):
    """Answers getpass prompts in order; records the prompts shown."""
    shown: list[str] = []
    answers: list[str] = []

    def fake_getpass(prompt: str = "Password: ", stream=None) -> str:
        shown.append(prompt)
        if not answers:
            raise EOFError
        return answers.pop(0)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    return shown, answers


def as_admin(server) -> list[str]:
    return ["--server", f"127.0.0.1:{server.port}", "--login", ADMIN_LOGIN, "--password", ADMIN_PASSWORD]


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


async def test_groups_users_devices(server, capsys, prompts):
    shown, answers = prompts
    admin = as_admin(server)
    code, out, err = await cli(capsys, "group", "create", "sdis-26", *admin, "-o", "json")
    assert code == 0, err
    group = json.loads(out)
    assert group["name"] == "sdis-26"
    code, out, _ = await cli(capsys, "group", "list", *admin, "-o", "table")
    assert code == 0 and out.splitlines()[0].split() == ["ID", "NAME", "CREATE_TIME"] and "sdis-26" in out
    code, out, _ = await cli(capsys, "group", "create", "sdis-26", *admin)
    assert code == 1

    # The new user's password comes from a prompt, never from the command line.
    answers.append(USER_PASSWORD)
    code, out, err = await cli(capsys, "user", "create", "alice", "--group-id", group["id"], *admin, "-o", "json")
    assert code == 0, err
    alice = json.loads(out)
    assert alice["login"] == "alice" and shown == ["password of the new user alice: "]
    code, out, err = await cli(capsys, "user", "create", "bob", "--group", "sdis-26", *admin)
    assert code == 2 and "no password given" in err  # no answer at the prompt (EOF)
    code, out, _ = await cli(capsys, "user", "list", "--group-id", group["id"], *admin, "-o", "table")
    assert code == 0 and "alice" in out and "user" in out.split()  # scope shown by its short name

    answers.append(USER_PASSWORD)
    code, out, err = await cli(
        capsys,
        "device",
        "create",
        "cam-1",
        "--owner-id",
        alice["id"],
        "--lat",
        "44.5",
        "--lon",
        "4.2",
        "--azimuth",
        "90",
        *admin,
        "-o",
        "json",
    )
    assert code == 0, err
    device = json.loads(out)
    assert device["group_id"] == group["id"] and device["azimuth"] == 90.0
    # alice logs in with a prompt for her own password too.
    answers.append(USER_PASSWORD)
    code, out, err = await cli(
        capsys, "device", "list", "--mine", "--server", f"127.0.0.1:{server.port}", "--login", "alice", "-o", "json"
    )
    assert code == 0, err
    assert [d["login"] for d in json_lines(out)] == ["cam-1"] and shown[-1] == "password of alice: "
    code, out, _ = await cli(capsys, "device", "list", *admin, "--group-id", group["id"], "-o", "table")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["ID", "LOGIN", "OWNER_ID"] and "cam-1" in out


@pytest.fixture
async def alerts_sent(server, admin):
    """A user and three alerts of one camera (one event)."""
    user_api, user = await admin.new_user()
    _, device = await admin.new_device(user.id, lat=44.5, lon=4.2, azimuth=120.0)
    images = [tiny_jpeg(100_000 + i) for i in range(3)]
    async with AsyncPyroClient(f"127.0.0.1:{server.port}", login=device.login, password=USER_PASSWORD) as camera:
        alerts = [await camera.send_alert(image) for image in images]
    return user, alerts, images


def as_user(server, user) -> list[str]:
    return ["--server", f"127.0.0.1:{server.port}", "--login", user.login, "--password", USER_PASSWORD]


async def test_alerts_and_events_lists_paging_and_acknowledge(server, capsys, alerts_sent):
    user, alerts, _ = alerts_sent
    me = as_user(server, user)
    code, out, err = await cli(capsys, "alert", "list", *me, "--limit", "2", "-o", "json")
    assert code == 0, err
    assert [int(a["id"]) for a in json_lines(out)] == [alerts[2].id, alerts[1].id]
    assert "first 2 shown" in err
    code, out, err = await cli(capsys, "alert", "list", *me, "--all", "-o", "json")
    assert [int(a["id"]) for a in json_lines(out)] == [a.id for a in reversed(alerts)] and err == ""
    code, out, _ = await cli(capsys, "alert", "list", *me, "-o", "table")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "EVENT_ID", "DEVICE_ID"] and len(lines) == 4
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    code, out, _ = await cli(capsys, "alert", "list", *me, "--since", future, "-o", "table")
    assert code == 0 and out.strip() == "(none)"
    code, out, _ = await cli(capsys, "alert", "list", *me, "--ongoing", "-o", "json")
    assert code == 0 and len(json_lines(out)) == 3
    code, out, _ = await cli(capsys, "alert", "get", str(alerts[0].id), *me, "-o", "table")
    assert code == 0 and out.splitlines()[0].split() == ["id", str(alerts[0].id)]
    code, _, err = await cli(capsys, "alert", "get", "999999", *me)
    assert code == 1 and err.startswith("error: NOT_FOUND")

    event_id = str(alerts[0].event_id)
    code, out, _ = await cli(capsys, "event", "list", *me, "--unacknowledged", "-o", "json")
    assert code == 0 and [e["id"] for e in json_lines(out)] == [event_id]
    code, out, _ = await cli(capsys, "event", "alerts", event_id, *me, "-o", "json")
    assert code == 0 and len(json_lines(out)) == 3
    code, out, _ = await cli(capsys, "event", "ack", event_id, *me, "-o", "json")
    assert code == 0 and json.loads(out)["is_acknowledged"] is True
    code, out, _ = await cli(capsys, "event", "list", *me, "--unacknowledged", "-o", "table")
    assert code == 0 and out.strip() == "(none)"
    code, out, _ = await cli(capsys, "event", "get", event_id, *me, "-o", "table")
    assert code == 0 and re.search(r"^is_acknowledged +yes$", out, re.M) and re.search(r"^type +wildfire$", out, re.M)
    code, out, _ = await cli(capsys, "event", "list", *me, "-o", "json")
    assert code == 0 and [e["id"] for e in json_lines(out)] == [event_id]

    # Usage errors: exit 2 with a plain message.
    code, _, err = await cli(capsys, "event", "list", *me, "--unacknowledged", "--since", "2026-01-01")
    assert code == 2 and "--unacknowledged takes no" in err
    code, _, err = await cli(capsys, "alert", "list", *me, "--since", "2026-02-01", "--until", "2026-01-01")
    assert code == 2 and "--since must be before --until" in err
    code, _, err = await cli(capsys, "alert", "list", *me, "--since", "yesterday")
    assert code == 2 and "not an ISO 8601 date" in err
    code, _, err = await cli(capsys, "alert", "list", *me, "--limit", "0")
    assert code == 2


async def test_media_download_get_and_url(server, capsys, alerts_sent, tmp_path):
    user, alerts, images = alerts_sent
    me = as_user(server, user)
    media_id = str(alerts[1].media_id)
    target = tmp_path / "frame.jpg"
    code, out, err = await cli(capsys, "media", "download", media_id, str(target), *me)
    assert code == 0, err
    assert target.read_bytes() == images[1] and f"saved media {media_id}" in err and out == ""
    code, out, _ = await cli(capsys, "media", "get", media_id, *me, "-o", "json")
    assert code == 0 and json.loads(out)["size_bytes"] == str(len(images[1]))

    code, _, err = await cli(capsys, "media", "download", media_id, str(tmp_path / "no" / "such" / "x.jpg"), *me)
    assert code == 2 and err.strip() == f"error: folder not found: {tmp_path / 'no' / 'such'}"
    code, _, err = await cli(capsys, "media", "download", "999999", str(tmp_path / "y.jpg"), *me)
    assert code == 1 and "NOT_FOUND" in err and not (tmp_path / "y.jpg").exists()
    # Local storage has no URLs: a clear refusal.
    code, _, err = await cli(capsys, "media", "url", media_id, *me)
    assert code == 1 and "FAILED_PRECONDITION" in err and "DownloadMedia" in err


async def test_media_url_on_s3(server_factory, admin_factory, capsys, moto_s3_endpoint):
    env = s3_env(moto_s3_endpoint)
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    await asyncio.to_thread(s3.create_bucket, Bucket=env["BUCKET_NAME"])
    server = await server_factory(**env)
    admin = await admin_factory(server)
    user_api, user = await admin.new_user()
    _, device = await admin.new_device(user.id, lat=44.5, lon=4.2, azimuth=120.0)
    async with AsyncPyroClient(f"127.0.0.1:{server.port}", login=device.login, password=USER_PASSWORD) as camera:
        alert = await camera.send_alert(tiny_jpeg())
    code, out, err = await cli(capsys, "media", "url", str(alert.media_id), *as_user(server, user))
    assert code == 0, err
    assert out.strip().startswith(moto_s3_endpoint) and "valid until" in err


@pytest.fixture
async def admin_factory():
    from tests.helpers import Api

    opened = []

    async def login(server):
        connection = Api.connect(server.port)
        api = await connection.__aenter__()
        opened.append(connection)
        return await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)

    yield login
    for connection in opened:
        await connection.__aexit__(None, None, None)


async def test_export_alerts_and_events_as_csv(server, capsys, alerts_sent, tmp_path):
    user, alerts, _ = alerts_sent
    me = as_user(server, user)
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    target = tmp_path / "alerts.csv"
    code, out, err = await cli(
        capsys, "export", "alerts", "--since", since, "--until", until, "--file", str(target), *me
    )
    assert code == 0, err
    rows = list(csv.DictReader(target.open()))
    assert [int(row["id"]) for row in rows] == [a.id for a in reversed(alerts)]
    assert rows[0]["media_id"] == str(alerts[2].media_id) and rows[0]["create_time"].endswith("Z")
    assert f"exported 3 alerts to {target}" in err

    code, out, err = await cli(capsys, "export", "events", "--since", since, "--until", until, *me)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["id"] for row in rows] == [str(alerts[0].event_id)] and rows[0]["type"] == "wildfire"
    code, out, _ = await cli(
        capsys,
        "export",
        "alerts",
        "--since",
        until,
        "--until",
        (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        *me,
    )
    assert code == 0 and out.splitlines()[0].startswith("id,device_id") and len(out.splitlines()) == 1

    code, _, err = await cli(capsys, "export", "alerts", *me)
    assert code == 2 and "--since" in err  # the range is required
    code, _, err = await cli(
        capsys, "export", "alerts", "--since", since, "--until", until, "--file", str(tmp_path / "nope" / "a.csv"), *me
    )
    assert code == 2 and err.strip() == f"error: file not found: {tmp_path / 'nope' / 'a.csv'}"


async def test_unreachable_server_is_one_line_and_exit_3(capsys):
    code, out, err = await cli(
        capsys,
        "alert",
        "list",
        "--server",
        f"127.0.0.1:{free_port()}",
        "--login",
        "x",
        "--password",
        "y",
        "--connect-timeout",
        "0.3",
    )
    assert code == 3 and out == "" and len(err.strip().splitlines()) == 1 and "cannot reach the server" in err


async def test_alert_watch_reconnects_with_one_line_and_no_traceback(server, admin, server_factory, alerts_sent):
    """The server restarts under a running `pyrogrpc alert watch`: the watcher says so in one
    line on stderr, resumes, and prints the next alert (and no traceback)."""
    user, alerts, _ = alerts_sent
    port = server.port
    watcher = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pyrogrpc",
        "alert",
        "watch",
        *as_user(server, user),
        "--after-alert-id",
        str(alerts[-1].id),
        "--count",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = asyncio.get_running_loop().time() + WATCH_TIMEOUT
        while server.watch_hub.watcher_count < 1:  # the watcher is connected
            assert asyncio.get_running_loop().time() < deadline and watcher.returncode is None
            await asyncio.sleep(0.05)
        await server.stop(grace=0)
        restarted = await server_factory(GRPC_PORT=str(port))
        async with AsyncPyroClient(f"127.0.0.1:{restarted.port}", login=ADMIN_LOGIN, password=ADMIN_PASSWORD) as root:
            camera = await root.create_device(f"cam-{port}", USER_PASSWORD, user.id, lat=44.0, lon=4.0, azimuth=10.0)
        async with AsyncPyroClient(f"127.0.0.1:{restarted.port}", login=camera.login, password=USER_PASSWORD) as cam:
            new = await cam.send_alert(tiny_jpeg())
        out, err = await asyncio.wait_for(watcher.communicate(), WATCH_TIMEOUT)
    finally:
        if watcher.returncode is None:
            watcher.kill()
            await watcher.wait()
    assert watcher.returncode == 0, err.decode()
    assert [int(json.loads(line)["id"]) for line in out.decode().splitlines()] == [new.id]
    text = err.decode()
    assert "Traceback" not in text
    ours = [line for line in text.splitlines() if "pyrogrpc" in line]
    assert ours and all("connection lost (UNAVAILABLE: " in line and "reconnecting in" in line for line in ours), text


async def test_event_label_triage_and_label_filter(server, admin, capsys, alerts_sent):
    user, alerts, _ = alerts_sent
    me = as_user(server, user)
    event_id = str(alerts[0].event_id)
    code, out, err = await cli(capsys, "event", "triage", *me, "-o", "json")
    assert code == 0, err
    assert [e["id"] for e in json_lines(out)] == [event_id] and "label" not in json_lines(out)[0]
    code, out, _ = await cli(capsys, "event", "triage", *me, "-o", "table")
    assert code == 0 and out.splitlines()[0].split()[-2:] == ["IS_ACKNOWLEDGED", "LABEL"]

    code, out, err = await cli(capsys, "event", "label", event_id, "wildfire", *me, "-o", "json")
    assert code == 0, err
    labelled = json.loads(out)
    assert labelled["label"] == "EVENT_LABEL_WILDFIRE_SMOKE" and labelled["is_acknowledged"] is True
    assert labelled["labeled_by_user_id"] == str(user.id)
    code, out, _ = await cli(capsys, "event", "triage", *me, "-o", "table")
    assert code == 0 and out.strip() == "(none)"
    code, out, _ = await cli(capsys, "event", "list", "--label", "wildfire", *me, "-o", "table")
    assert code == 0 and out.splitlines()[1].split()[0] == event_id and out.split()[-1] == "wildfire_smoke"
    code, out, _ = await cli(capsys, "event", "list", "--label", "other-smoke", *me, "-o", "json")
    assert code == 0 and out == ""
    code, out, _ = await cli(capsys, "event", "label", event_id, "other-smoke", *me, "-o", "table")
    assert code == 0 and re.search(r"^label +other_smoke$", out, re.MULTILINE)
    code, out, _ = await cli(capsys, "event", "list", "--label", "other-smoke", *me, "-o", "json")
    assert code == 0 and [e["id"] for e in json_lines(out)] == [event_id]

    # A camera may not label (a label is a human's judgement): exit 1, one clear line.
    _, device = await admin.new_device(user.id, lat=44.5, lon=4.2, azimuth=10.0)
    camera = ["--server", f"127.0.0.1:{server.port}", "--login", device.login, "--password", USER_PASSWORD]
    code, out, err = await cli(capsys, "event", "label", event_id, "other", *camera)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert err.strip() == "error: PERMISSION_DENIED: scope device may not call LabelEvent"
    code, _, err = await cli(capsys, "event", "label", "999999", "other", *me)
    assert code == 1 and err.startswith("error: NOT_FOUND")
    code, _, err = await cli(capsys, "event", "label", event_id, "fog", *me)
    assert code == 2 and "invalid choice: 'fog'" in err
    code, _, err = await cli(capsys, "event", "list", "--unacknowledged", "--label", "other", *me)
    assert code == 2 and "--unacknowledged takes no --label" in err


async def test_pose_and_mask_commands(server, admin, capsys):
    _, user = await admin.new_user()
    _, device = await admin.new_device(user.id, lat=44.5, lon=4.2, azimuth=10.0)
    me = as_user(server, user)
    code, out, err = await cli(
        capsys, "pose", "create", str(device.id), "--azimuth", "90", "--patrol-index", "0", *me, "-o", "json"
    )
    assert code == 0, err
    pose = json.loads(out)
    assert pose["azimuth"] == 90.0 and pose["patrol_index"] == 0 and pose["device_id"] == str(device.id)
    code, out, _ = await cli(capsys, "pose", "list", str(device.id), *me, "-o", "table")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["ID", "DEVICE_ID", "AZIMUTH"]
    assert out.splitlines()[1].split()[:4] == [pose["id"], str(device.id), "90", "0"]
    code, _, err = await cli(capsys, "pose", "create", str(device.id), "--azimuth", "360", *me)
    assert code == 1 and err.startswith("error: INVALID_ARGUMENT") and "azimuth" in err

    code, out, err = await cli(capsys, "mask", "create", pose["id"], "--box", "0,0,0.25,0.2", *me, "-o", "json")
    assert code == 0, err
    mask = json.loads(out)
    assert mask["pose_id"] == pose["id"] and mask["box"]["x_max"] == 0.25
    code, out, _ = await cli(capsys, "mask", "list", pose["id"], *me, "-o", "table")
    assert code == 0 and out.splitlines()[1].split()[:3] == [mask["id"], pose["id"], "0,0,0.25,0.2"]
    code, _, err = await cli(capsys, "mask", "create", pose["id"], "--box", "0.5,0.5,0.2,0.2", *me)
    assert code == 1 and err.startswith("error: INVALID_ARGUMENT")  # inverted
    code, _, err = await cli(capsys, "mask", "create", pose["id"], "--box", "0.5,0.5,0.2", *me)
    assert code == 2 and "four numbers" in err

    # Boxes print on one line, in tables and in CSV exports.
    async with AsyncPyroClient(f"127.0.0.1:{server.port}", login=device.login, password=USER_PASSWORD) as camera:
        alert = await camera.send_alert(
            tiny_jpeg(), boxes=[(0.4, 0.4, 0.6, 0.6, 0.9), (0.1, 0.5, 0.2, 0.7, 0.55)], pose_id=int(pose["id"])
        )
    code, out, _ = await cli(capsys, "alert", "get", str(alert.id), *me, "-o", "table")
    assert code == 0 and re.search(r"^boxes +0.4,0.4,0.6,0.6:0.9 0.1,0.5,0.2,0.7:0.55$", out, re.MULTILINE)
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    code, out, _ = await cli(capsys, "export", "alerts", "--since", since, "--until", "2100-01-01", *me)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [row["boxes"] for row in rows] == ["0.4,0.4,0.6,0.6:0.9 0.1,0.5,0.2,0.7:0.55"]

    code, out, err = await cli(capsys, "mask", "delete", mask["id"], *me)
    assert code == 0 and out == "" and f"deleted mask {mask['id']}" in err
    code, out, _ = await cli(capsys, "mask", "list", pose["id"], *me, "-o", "json")
    assert code == 0 and out == ""
    code, _, err = await cli(capsys, "pose", "delete", pose["id"], *me)
    assert code == 0 and f"deleted pose {pose['id']}" in err
    code, _, err = await cli(capsys, "pose", "delete", pose["id"], *me)
    assert code == 1 and err.startswith("error: NOT_FOUND")


async def test_incident_list_get_events_and_detach(server, capsys, alerts_sent):
    user, alerts, _ = alerts_sent
    me = as_user(server, user)
    event_id = alerts[0].event_id
    async with AsyncPyroClient(f"127.0.0.1:{server.port}", login=user.login, password=USER_PASSWORD) as client:
        for _ in range(600):  # fusion runs moments after the alert: poll for it
            if (await client.get_event(event_id)).HasField("incident_id"):
                break
            await asyncio.sleep(0.05)
        incident_id = (await client.get_event(event_id)).incident_id
    assert incident_id
    code, out, err = await cli(capsys, "incident", "list", *me, "--open", "-o", "json")
    assert code == 0, err
    [listed] = json_lines(out)
    assert listed["id"] == str(incident_id) and listed["event_ids"] == [str(event_id)]
    assert listed["status"] == "INCIDENT_STATUS_OPEN" and "lat" not in listed  # one camera: no position
    code, out, _ = await cli(capsys, "incident", "list", *me, "-o", "table")
    assert code == 0 and out.splitlines()[0].split()[0] == "ID" and len(out.splitlines()) == 2
    code, out, _ = await cli(capsys, "incident", "get", str(incident_id), *me, "-o", "table")
    assert code == 0 and re.search(rf"^id +{incident_id}$", out, re.M)
    code, out, _ = await cli(capsys, "incident", "events", str(incident_id), *me, "-o", "json")
    assert code == 0 and [e["id"] for e in json_lines(out)] == [str(event_id)]
    code, out, err = await cli(capsys, "incident", "detach", str(incident_id), str(event_id), *me, "-o", "json")
    detached = json.loads(out)
    assert code == 0 and detached["id"] == str(incident_id) and "event_ids" not in detached
    assert detached["status"] == "INCIDENT_STATUS_CLOSED"  # nothing left in it
    assert re.search(rf"event {event_id} is now incident \d+", err)
    code, _, err = await cli(capsys, "incident", "detach", str(incident_id), str(event_id), *me)
    assert code == 1 and err.startswith("error: FAILED_PRECONDITION")
    code, _, err = await cli(capsys, "incident", "get", "999999", *me)
    assert code == 1 and err.startswith("error: NOT_FOUND")
    code, _, err = await cli(capsys, "incident", "list", *me, "--since", "2026-02-01", "--until", "2026-01-01")
    assert code == 2 and "--since must be before --until" in err
