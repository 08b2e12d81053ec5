"""No log line, at any level, carries a secret (issue 13, item 4).

httpx logged every webhook delivery at INFO with its full URL (user:password@, secret path,
?token=), and at DEBUG SQLAlchemy logged statement parameters and result rows holding
bcrypt hashes. Here every logger is raised to DEBUG, real flows run (logins, accounts,
devices, webhooks delivered and failing, a Telegram message), and the captured output is
searched for each secret planted.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

import grpc
import pytest

from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.helpers import ADMIN_LOGIN, ADMIN_PASSWORD, JWT_SECRET, Api, expect_status, tiny_jpeg, upload_media
from tests.test_alerts import my_alert
from tests.test_notifications import TOKEN as TELEGRAM_TOKEN
from tests.test_notifications import FakeHttp, add_recipient

USER_SECRET_PASSWORD = "pw-user-Zq8rT1"
DEVICE_SECRET_PASSWORD = "pw-device-Kp3vX9"
HOOK_USER_PASSWORD = "hookpass-Wm4s"
HOOK_PATH_SECRET = "T000/B000/hookpath-Yx7c"
HOOK_QUERY_TOKEN = "hooktoken-Rb2n"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # the message, args and any traceback


@pytest.fixture
def every_log_at_debug():
    """Root and every logger known so far at DEBUG (as a misconfigured deployment might set)."""
    capture = _Capture()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name)
        for name, value in logging.root.manager.loggerDict.items()
        if isinstance(value, logging.Logger)
    ]
    for name in (
        "httpx",
        "httpcore",
        "sqlalchemy.engine",
        "sqlalchemy.pool",
        "aiosqlite",
        "psycopg",
        "botocore",
        "grpc",
    ):
        loggers.append(logging.getLogger(name))
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(capture)
    yield capture
    logging.getLogger().removeHandler(capture)
    for logger, level in levels.items():
        logger.setLevel(level)


async def _poll(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def test_no_secret_reaches_any_log_at_debug(server_factory, every_log_at_debug):
    telegram, hooks, failing = FakeHttp(), FakeHttp(), FakeHttp()
    failing.status = 500
    try:
        server = await server_factory(TELEGRAM_TOKEN=TELEGRAM_TOKEN, TELEGRAM_BASE_URL=telegram.url)
        async with Api.connect(server.port) as api:
            admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
            group = await admin.create_group()
            user = await admin.create_user(group.id, password=USER_SECRET_PASSWORD)
            user_api = await api.login(user.login, USER_SECRET_PASSWORD)
            await admin.access.UpdateUserPassword(
                access_pb.UpdateUserPasswordRequest(user_id=user.id, password=USER_SECRET_PASSWORD + "2")
            )
            device = (
                await admin.setup.CreateDevice(
                    setup_pb.CreateDeviceRequest(
                        login="cam-logs",
                        password=DEVICE_SECRET_PASSWORD,
                        owner_id=user.id,
                        lat=44.0,
                        lon=4.0,
                        azimuth=10.0,
                    )
                )
            ).device
            camera = await api.login(device.login, DEVICE_SECRET_PASSWORD)
            # Refused calls log nothing secret either.
            await expect_status(api.login(device.login, "wrong-password"), grpc.StatusCode.UNAUTHENTICATED)
            await expect_status(api.access.GetMyUser(access_pb.GetMyUserRequest()), grpc.StatusCode.UNAUTHENTICATED)

            secret_part = f"{HOOK_PATH_SECRET}?token={HOOK_QUERY_TOKEN}"
            for fake in (hooks, failing):
                url = fake.url.replace("http://", f"http://hookuser:{HOOK_USER_PASSWORD}@") + f"/services/{secret_part}"
                await admin.setup.CreateWebhook(setup_pb.CreateWebhookRequest(callback="create_alert", url=url))
            await add_recipient(admin, group.id, "1001")
            media = await upload_media(camera, tiny_jpeg())
            alert = await my_alert(camera, media_id=media.id)
            await _poll(lambda: hooks.received and telegram.received and len(failing.received) >= 3)
            await server.incident_jobs.join()  # the incident's Telegram message is queued after its fusion
            await server.queue.join()
            assert hooks.received[0].body["id"] == alert.id
            assert hooks.received[0].path == f"/services/{secret_part}"
            tokens = [admin.token, user_api.token, camera.token]
        await server.stop(grace=0)
    finally:
        for fake in (telegram, hooks, failing):
            fake.close()

    output = "\n".join(every_log_at_debug.lines)
    assert "HTTP Request" in output or "webhook" in output  # the flows did log something
    planted = {
        "superadmin password": ADMIN_PASSWORD,
        "user password": USER_SECRET_PASSWORD,
        "device password": DEVICE_SECRET_PASSWORD,
        "JWT secret": JWT_SECRET,
        "Telegram bot token": TELEGRAM_TOKEN,
        "webhook URL password": HOOK_USER_PASSWORD,
        "webhook URL path": "hookpath-Yx7c",
        "webhook URL query token": HOOK_QUERY_TOKEN,
        "bcrypt hash": "$2b$",
        **{f"access token {i}": token.split(".")[2] for i, token in enumerate(tokens)},  # the signature part
    }
    leaks = {what: [line for line in output.splitlines() if secret in line][:2] for what, secret in planted.items()}
    leaks = {what: lines for what, lines in leaks.items() if lines}
    assert not leaks, f"secrets in the logs: {leaks}"
    assert not re.search(r"\$2[aby]\$\d\d\$", output)
