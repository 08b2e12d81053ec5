"""The console page in a real headless browser (Debian's chromium driven by Playwright): sign
in, see alerts sent by cameras over gRPC appear live with their picture, acknowledge one
event and label another (LabelEvent), each checked through gRPC.

`.ci/run` installs chromium; the test skips only where it is missing and cannot be installed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import USER_PASSWORD, Api, upload_media
from tests.http_helpers import start_http_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000


def _skip_reason() -> str | None:
    if CHROMIUM.exists():
        return None
    if os.environ.get("PYROGRPC_NO_CHROMIUM"):  # set by .ci/run when installing it failed
        return f"no chromium: {os.environ['PYROGRPC_NO_CHROMIUM']}"
    if os.environ.get("CI"):
        pytest.fail(".ci/run should have installed /usr/bin/chromium", pytrace=False)
    return "needs Debian's chromium at /usr/bin/chromium: apt-get install -y chromium (.ci/run installs it)"


@pytest.fixture(autouse=True)
def _needs_chromium():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def test_console_shows_new_alerts_live_and_acknowledges_and_labels_events(server_factory, browser, tmp_path):
    server = await start_http_server(server_factory)
    page = await browser.new_page(viewport={"width": 1100, "height": 700})
    page.set_default_timeout(TIMEOUT_MS)
    # A real JPEG (the browser must be able to draw it): a screenshot of a coloured page.
    await page.set_content("<body style='margin:0;background:#e8710a'></body>")
    picture = await page.screenshot(type="jpeg", clip={"x": 0, "y": 0, "width": 160, "height": 120})

    async with Api.connect(server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        _, user = await admin.new_user()
        camera, device = await admin.new_device(user.id, lat=44.5, lon=4.25, azimuth=120.0)
        media = await upload_media(camera, picture)
        other_camera, _ = await admin.new_device(user.id, lat=44.6, lon=4.3, azimuth=200.0)
        other_media = await upload_media(other_camera, picture)

        await page.goto(f"http://127.0.0.1:{server.http_port}/")
        await page.fill("#login", user.login)
        await page.fill("#password", "wrong password")
        await page.click("#login-form button[type=submit]")
        await page.wait_for_function("document.getElementById('login-error').textContent.length > 0")
        await page.fill("#password", USER_PASSWORD)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_selector("#status.live")
        await page.evaluate("window.notReloaded = true")

        alert = (await camera.detection.CreateMyAlert(pb.CreateMyAlertRequest(media_id=media.id))).alert

        item = page.locator(f"#alerts li[data-alert-id='{alert.id}']")
        await item.wait_for()
        image = item.locator("img")
        await image.wait_for()
        await page.wait_for_function(
            f"document.querySelector(\"#alerts li[data-alert-id='{alert.id}'] img\").naturalWidth > 0"
        )
        assert (await image.get_attribute("src")).startswith("blob:")  # embedded storage: DownloadMedia
        event = page.locator(f"#events li[data-event-id='{alert.event_id}']")
        await event.wait_for()
        await event.locator("button.ack").click()
        await page.wait_for_selector(f"#events li.acknowledged[data-event-id='{alert.event_id}']")

        # A second camera's alert opens another event: label it without acknowledging first.
        second = (await other_camera.detection.CreateMyAlert(pb.CreateMyAlertRequest(media_id=other_media.id))).alert
        assert second.event_id != alert.event_id
        labelled = page.locator(f"#events li[data-event-id='{second.event_id}']")
        await labelled.wait_for()
        assert await labelled.locator("button.ack").count() == 1 and "labelled" not in await labelled.inner_text()
        await labelled.locator("button.label[data-label='EVENT_LABEL_WILDFIRE_SMOKE']").click()
        done = page.locator(f"#events li.acknowledged.labelled[data-event-id='{second.event_id}']")
        await done.wait_for()
        assert "labelled wildfire smoke · acknowledged" in await done.inner_text()
        assert await done.locator("button.ack").count() == 0  # labelling acknowledged it
        pressed = done.locator("button.label[aria-pressed='true']")
        assert await pressed.get_attribute("data-label") == "EVENT_LABEL_WILDFIRE_SMOKE"
        if os.environ.get("PYROGRPC_CONSOLE_SCREENSHOT"):
            await page.screenshot(path=os.environ["PYROGRPC_CONSOLE_SCREENSHOT"], full_page=True)
        assert await page.evaluate("window.notReloaded === true")

        user_api = await api.login(user.login, USER_PASSWORD)
        acknowledged = (await user_api.detection.GetEvent(pb.GetEventRequest(event_id=alert.event_id))).event
        assert acknowledged.is_acknowledged and acknowledged.label == resources_pb2.EVENT_LABEL_UNSPECIFIED
        stored = (await user_api.detection.GetEvent(pb.GetEventRequest(event_id=second.event_id))).event
        assert stored.label == resources_pb2.EVENT_LABEL_WILDFIRE_SMOKE and stored.is_acknowledged
        assert stored.labeled_by_user_id == user.id
    await page.screenshot(path=str(tmp_path / "console.png"))
