"""Notifications and webhooks after CreateMyAlert, SendNotification and the notification log,
against a local HTTP server standing in for Telegram and webhook receivers; plus the optional
Sentry/PostHog integrations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
import types
from dataclasses import dataclass
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest

from pyrogrpc.config import ConfigError, Settings
from pyrogrpc.observability import init_observability
from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import JWT_SECRET, Api, expect_status
from tests.test_alerts import my_alert, new_camera

Code = grpc.StatusCode
TOKEN = "4242:telegram-test-token"
SUBJECT = "Fire! event $event_id"
MESSAGE = "alert $alert_id at $date by $device_name (device $device_id)"


@dataclass
class Received:
    path: str
    body: dict


class FakeHttp:
    """Telegram and webhook receiver in a thread; answers `status`, or hangs while `hanging`."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self.body: dict = {"ok": True, "result": {}}
        self.release = threading.Event()
        self.release.set()  # set: answer at once; clear: hang until set
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.received.append(Received(self.path, body))
                fake.release.wait(30)
                data = json.dumps(fake.body).encode()
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def telegram(self) -> list[dict]:
        return [r.body for r in self.received if r.path == f"/bot{TOKEN}/sendMessage"]

    def hooks(self) -> list[dict]:
        return [r.body for r in self.received if r.path == "/hook"]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_http():
    fake = FakeHttp()
    yield fake
    fake.close()


@contextlib.asynccontextmanager
async def admin_of(server):
    async with Api.connect(server.port) as api:
        yield await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)


async def add_recipient(admin: Api, group_id: int, address: str) -> resources_pb2.Recipient:
    request = setup_pb.CreateRecipientRequest(
        group_id=group_id,
        notification_type=resources_pb2.NOTIFICATION_TYPE_TELEGRAM,
        address=address,
        subject_template=SUBJECT,
        message_template=MESSAGE,
    )
    return (await admin.setup.CreateRecipient(request)).recipient


async def add_webhook(admin: Api, url: str) -> None:
    await admin.setup.CreateWebhook(setup_pb.CreateWebhookRequest(callback="create_alert", url=url))


def expected_text(alert: resources_pb2.Alert, device_name: str) -> tuple[str, str]:
    date = alert.create_time.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return (
        f"Fire! event {alert.event_id}",
        f"alert {alert.id} at {date} by {device_name} (device {alert.device_id})",
    )


async def settled(server) -> None:
    """Every incident fusion job done (they notify), then every notification job."""
    await server.incident_jobs.join()
    await server.queue.join()


async def notifications(admin: Api) -> list[resources_pb2.Notification]:
    return list((await admin.detection.ListNotifications(pb.ListNotificationsRequest())).notifications)


# --- after CreateMyAlert ------------------------------------------------------------------


async def test_a_new_incident_notifies_each_recipient_of_the_group_once(server_factory, fake_http):
    server = await server_factory(TELEGRAM_TOKEN=TOKEN, TELEGRAM_BASE_URL=fake_http.url)
    async with admin_of(server) as admin:
        camera = await new_camera(admin)
        stranger = await new_camera(admin)
        recipients = [await add_recipient(admin, camera.group_id, chat) for chat in ("1001", "1002")]
        await add_recipient(admin, stranger.group_id, "9999")
        first = await my_alert(camera.device)
        second = await my_alert(camera.device)  # joins the event (and its incident): nobody is notified again
        assert second.event_id == first.event_id
        await settled(server)

        subject, message = expected_text(first, camera.device_row.login)
        # One camera, no cone: an incident without position; the message says so.
        message += "\nPosition: not located yet (seen by 1 camera)"
        sent = sorted(fake_http.telegram(), key=lambda body: body["chat_id"])
        assert sent == [
            {"chat_id": "1001", "text": f"{subject}\n{message}"},
            {"chat_id": "1002", "text": f"{subject}\n{message}"},
        ]
        logged = await notifications(admin)
        assert sorted(n.recipient_id for n in logged) == sorted(r.id for r in recipients)
        assert {(n.alert_id, n.subject, n.message) for n in logged} == {(first.id, subject, message)}


async def test_create_alert_webhooks_receive_every_alert(server_factory, fake_http):
    server = await server_factory()  # no TELEGRAM_TOKEN: recipients are not notified
    async with admin_of(server) as admin:
        camera = await new_camera(admin)
        await add_recipient(admin, camera.group_id, "1001")
        await add_webhook(admin, f"{fake_http.url}/hook")
        first = await my_alert(camera.device, localization="[]")
        second = await my_alert(camera.device, azimuth=7.5)
        await settled(server)
        assert fake_http.telegram() == [] and await notifications(admin) == []
        hooks = sorted(fake_http.hooks(), key=lambda body: body["id"])
        assert [hook["id"] for hook in hooks] == [first.id, second.id]
        assert hooks[0] == {
            "id": first.id,
            "device_id": first.device_id,
            "group_id": first.group_id,
            "event_id": first.event_id,
            "media_id": None,
            "azimuth": first.azimuth,
            "lat": first.lat,
            "lon": first.lon,
            "localization": "[]",
            "create_time": first.create_time.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z"),
        }
        assert hooks[1]["azimuth"] == 7.5


async def test_new_webhooks_and_recipients_are_used_at_once_despite_the_lookup_cache(server_factory, fake_http):
    server = await server_factory(TELEGRAM_TOKEN=TOKEN, TELEGRAM_BASE_URL=fake_http.url)
    async with admin_of(server) as admin:
        camera = await new_camera(admin)
        await my_alert(camera.device)  # caches "no webhook" and "no recipient" for this group
        await settled(server)
        assert fake_http.hooks() == [] and fake_http.telegram() == []
        await add_webhook(admin, f"{fake_http.url}/hook")
        await add_recipient(admin, camera.group_id, "1001")
        other = await new_camera(admin, group_id=camera.group_id)  # a new event (and incident) in the same group
        alert = await my_alert(other.device)
        await settled(server)
        assert [hook["id"] for hook in fake_http.hooks()] == [alert.id]
        assert [body["chat_id"] for body in fake_http.telegram()] == ["1001"]


async def test_failing_telegram_and_webhooks_never_slow_or_fail_create_alert(server_factory, fake_http):
    server = await server_factory(TELEGRAM_TOKEN=TOKEN, TELEGRAM_BASE_URL=fake_http.url)
    async with admin_of(server) as admin:
        camera = await new_camera(admin)
        await add_recipient(admin, camera.group_id, "1001")
        await add_webhook(admin, f"{fake_http.url}/hook")
        fake_http.status, fake_http.body = 500, {"ok": False, "description": "boom"}
        fake_http.release.clear()  # every request hangs
        started = time.perf_counter()
        alert = await my_alert(camera.device)
        assert time.perf_counter() - started < 1.0
        # Let the hanging requests answer 500: the queue retries, then gives up.
        deadline = time.monotonic() + 5
        while len(fake_http.received) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        fake_http.release.set()
        await settled(server)
        assert len(fake_http.telegram()) == 3 and len(fake_http.hooks()) == 3  # 3 attempts each
        assert server.queue.stats.failed == 2
        assert await notifications(admin) == []  # nothing sent, nothing logged
        assert (await admin.detection.GetAlert(pb.GetAlertRequest(alert_id=alert.id))).alert == alert


# --- SendNotification and the log ------------------------------------------------------------


async def test_send_notification_sends_and_logs(server_factory, fake_http):
    server = await server_factory(TELEGRAM_TOKEN=TOKEN, TELEGRAM_BASE_URL=fake_http.url)
    async with admin_of(server) as admin:
        camera = await new_camera(admin)
        alert = await my_alert(camera.device)
        await settled(server)  # the new event had no recipient yet
        recipient = await add_recipient(admin, camera.group_id, "3003")
        request = pb.SendNotificationRequest(alert_id=alert.id, recipient_id=recipient.id)
        notification = (await admin.detection.SendNotification(request)).notification
        subject, message = expected_text(alert, camera.device_row.login)
        assert (notification.alert_id, notification.recipient_id, notification.subject, notification.message) == (
            alert.id,
            recipient.id,
            subject,
            message,
        )
        assert fake_http.telegram() == [{"chat_id": "3003", "text": f"{subject}\n{message}"}]
        got = (
            await admin.detection.GetNotification(pb.GetNotificationRequest(notification_id=notification.id))
        ).notification
        assert got == notification and await notifications(admin) == [notification]

        for alert_id, recipient_id in ((999_999, recipient.id), (alert.id, 999_999)):
            missing = pb.SendNotificationRequest(alert_id=alert_id, recipient_id=recipient_id)
            await expect_status(admin.detection.SendNotification(missing), Code.NOT_FOUND)
        await expect_status(camera.user.detection.SendNotification(request), Code.PERMISSION_DENIED)

        # Telegram down: UNAVAILABLE; Telegram refusing (unknown chat): FAILED_PRECONDITION. No row either way.
        fake_http.status, fake_http.body = 502, {"ok": False}
        await expect_status(admin.detection.SendNotification(request), Code.UNAVAILABLE)
        fake_http.status, fake_http.body = 400, {"ok": False, "description": "Bad Request: chat not found"}
        error = await expect_status(admin.detection.SendNotification(request), Code.FAILED_PRECONDITION)
        assert "chat not found" in error.details() and TOKEN not in error.details()
        assert await notifications(admin) == [notification]

        await admin.detection.DeleteNotification(pb.DeleteNotificationRequest(notification_id=notification.id))
        await expect_status(
            admin.detection.GetNotification(pb.GetNotificationRequest(notification_id=notification.id)), Code.NOT_FOUND
        )
        delete = pb.DeleteNotificationRequest(notification_id=notification.id)
        await expect_status(admin.detection.DeleteNotification(delete), Code.NOT_FOUND)


async def test_send_notification_without_token_is_failed_precondition(admin):
    camera = await new_camera(admin)
    alert = await my_alert(camera.device)
    recipient = await add_recipient(admin, camera.group_id, "1001")
    error = await expect_status(
        admin.detection.SendNotification(pb.SendNotificationRequest(alert_id=alert.id, recipient_id=recipient.id)),
        Code.FAILED_PRECONDITION,
    )
    assert "TELEGRAM_TOKEN" in error.details()
    assert await notifications(admin) == []


async def test_notifications_paging(server_factory, fake_http):
    server = await server_factory(TELEGRAM_TOKEN=TOKEN, TELEGRAM_BASE_URL=fake_http.url)
    async with admin_of(server) as admin:
        camera = await new_camera(admin)
        recipient = await add_recipient(admin, camera.group_id, "1001")
        alert = await my_alert(camera.device)
        await settled(server)
        request = pb.SendNotificationRequest(alert_id=alert.id, recipient_id=recipient.id)
        sent = [(await admin.detection.SendNotification(request)).notification for _ in range(2)]
        page = await admin.detection.ListNotifications(pb.ListNotificationsRequest(page_size=2))
        rest = await admin.detection.ListNotifications(
            pb.ListNotificationsRequest(page_size=2, page_token=page.next_page_token)
        )
        ids = [n.id for n in [*page.notifications, *rest.notifications]]
        assert len(ids) == 3 and ids == sorted(ids, reverse=True) and ids[:2] == [sent[1].id, sent[0].id]
        # Deleting the alert deletes its notifications.
        await admin.detection.DeleteAlert(pb.DeleteAlertRequest(alert_id=alert.id))
        assert await notifications(admin) == []


# --- optional integrations ----------------------------------------------------------------


def _settings(tmp_path, **env) -> Settings:
    return Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path), "JWT_SECRET": JWT_SECRET, **env}, env_file=None)


@pytest.mark.parametrize("variable, module", [("SENTRY_DSN", "sentry_sdk"), ("POSTHOG_KEY", "posthog")])
def test_an_integration_without_its_package_is_a_clear_error(tmp_path, monkeypatch, variable, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(ConfigError, match=variable):
        init_observability(_settings(tmp_path, **{variable: "https://key@example.invalid/1"}))


def test_no_integration_without_its_variable(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)
    monkeypatch.setitem(sys.modules, "posthog", None)
    observability = init_observability(_settings(tmp_path))
    assert not observability.sentry and observability.alert_listeners == []


async def test_sentry_and_posthog_are_enabled_by_their_variables(server_factory, monkeypatch):
    calls: list[tuple] = []
    sentry = types.SimpleNamespace(init=lambda **kwargs: calls.append(("sentry.init", kwargs)))

    class Client:
        def __init__(self, key):
            calls.append(("posthog", key))

        def capture(self, **kwargs):
            calls.append(("capture", kwargs["event"], kwargs["properties"]["new_event"]))

        def shutdown(self):
            calls.append(("shutdown",))

    monkeypatch.setitem(sys.modules, "sentry_sdk", sentry)
    monkeypatch.setitem(sys.modules, "posthog", types.SimpleNamespace(Posthog=Client))
    server = await server_factory(
        SENTRY_DSN="https://key@sentry.invalid/1", SENTRY_SERVER_NAME="node-1", POSTHOG_KEY="phc_key"
    )
    async with admin_of(server) as admin:
        camera = await new_camera(admin)
        await my_alert(camera.device)
    await server.stop(grace=0)
    assert calls == [
        ("sentry.init", {"dsn": "https://key@sentry.invalid/1", "server_name": "node-1"}),
        ("posthog", "phc_key"),
        ("capture", "alert-created", True),
        ("shutdown",),
    ]
