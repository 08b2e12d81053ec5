"""Tests for pyrogrpc.notify: background queue, Telegram, webhooks, templates.

HTTP tests talk to a real local server (ThreadingHTTPServer in a thread) whose
answers each test programs, so status handling and timeouts are exercised
end to end through httpx.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pyrogrpc.notify import (
    TEMPLATE_FIELDS,
    BackgroundQueue,
    DeliveryError,
    TelegramSender,
    WebhookPoster,
    render_template,
    validate_template,
)

TOKEN = "123456789:AAH-secret_token_XYZ"
# Deadline of waits for a condition (a queue drained, a job started): generous, so a loaded
# machine never fails them; they return as soon as the condition holds.
WAIT = 30


# --------------------------------------------------------------------------- fake HTTP server


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: object = field(default_factory=lambda: {"ok": True, "result": {}})
    delay: float = 0.0


class FakeServer:
    """Records requests; answers with the programmed Answers in order (then the default)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.answers: list[Answer] = []
        self.default = Answer()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with fake._lock:
                    fake.requests.append(
                        Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    answer = fake.answers.pop(0) if fake.answers else fake.default
                if answer.delay:
                    time.sleep(answer.delay)
                data = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # client gave up (timeout test)
                    pass

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


@pytest.fixture
def unused_port() -> int:
    """A port with nothing listening: connecting gets 'connection refused'."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def full_text(exc: BaseException | None) -> str:
    """Repr of an exception and of everything chained to it (cause, context).

    Source lines of the traceback are left out: the test's own code holds the secret.
    """
    if exc is None:
        return ""
    return repr(exc) + "".join(traceback.format_exception_only(exc)) + full_text(exc.__cause__ or exc.__context__)


# --------------------------------------------------------------------------- queue


class Flaky:
    """A job that fails `failures` times with `error`, then succeeds."""

    def __init__(self, failures: int, error: BaseException | None = None):
        self.failures = failures
        self.error = error or RuntimeError("boom")
        self.calls: list[float] = []

    async def __call__(self) -> None:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise self.error


def fast_queue(**kwargs) -> BackgroundQueue:
    params = dict(max_attempts=3, backoff_seconds=0.01, attempt_timeout_seconds=1.0)
    params.update(kwargs)
    return BackgroundQueue(**params)


@pytest.mark.asyncio
async def test_submit_returns_immediately_and_job_runs_off_the_caller():
    queue = fast_queue()
    await queue.start()
    started, release, done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_job() -> None:
        started.set()
        await release.wait()
        done.set()

    t0 = time.monotonic()
    assert queue.submit(slow_job, name="slow") is True
    assert time.monotonic() - t0 < 0.05
    await asyncio.wait_for(started.wait(), WAIT)
    assert not done.is_set()  # the caller is free while the job is still running
    release.set()
    await asyncio.wait_for(queue.join(), WAIT)
    assert done.is_set()
    assert queue.stats.succeeded == 1
    await queue.stop()


@pytest.mark.asyncio
async def test_retries_with_exponential_backoff_then_succeeds():
    queue = fast_queue(backoff_seconds=0.05)
    await queue.start()
    job = Flaky(failures=2)
    queue.submit(job, name="flaky")
    await asyncio.wait_for(queue.join(), WAIT)
    assert len(job.calls) == 3
    first_gap, second_gap = job.calls[1] - job.calls[0], job.calls[2] - job.calls[1]
    assert first_gap >= 0.045
    assert second_gap >= 0.095  # doubled
    assert (queue.stats.succeeded, queue.stats.retried, queue.stats.failed) == (1, 2, 0)
    await queue.stop()


@pytest.mark.asyncio
async def test_permanent_delivery_error_is_not_retried(caplog):
    queue = fast_queue()
    await queue.start()
    job = Flaky(failures=99, error=DeliveryError("chat not found", permanent=True))
    with caplog.at_level(logging.ERROR, logger="pyrogrpc.notify"):
        queue.submit(job, name="tg")
        await asyncio.wait_for(queue.join(), WAIT)
    assert len(job.calls) == 1
    assert (queue.stats.failed, queue.stats.retried) == (1, 0)
    assert "chat not found" in caplog.text and "'tg'" in caplog.text
    await queue.stop()


@pytest.mark.asyncio
async def test_transient_delivery_error_is_retried_up_to_max_attempts(caplog):
    queue = fast_queue(max_attempts=3)
    await queue.start()
    job = Flaky(failures=99, error=DeliveryError("HTTP 503"))
    with caplog.at_level(logging.WARNING, logger="pyrogrpc.notify"):
        queue.submit(job, name="tg")
        await asyncio.wait_for(queue.join(), WAIT)
    assert len(job.calls) == 3
    assert (queue.stats.failed, queue.stats.retried, queue.stats.succeeded) == (1, 2, 0)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "pyrogrpc.notify"]
    assert len(errors) == 1 and "after 3 attempts" in errors[0].getMessage()
    await queue.stop()


@pytest.mark.asyncio
async def test_failing_job_counted_as_failed_and_later_jobs_still_run():
    queue = fast_queue(workers=1, max_attempts=2)
    await queue.start()
    ran: list[str] = []

    async def ok(label: str) -> None:
        ran.append(label)

    queue.submit(Flaky(failures=99), name="bad")
    queue.submit(lambda: ok("after"), name="good")
    await asyncio.wait_for(queue.join(), WAIT)
    assert ran == ["after"]
    assert (queue.stats.failed, queue.stats.succeeded) == (1, 1)
    await queue.stop()


@pytest.mark.asyncio
async def test_full_queue_refuses_without_blocking(caplog):
    queue = fast_queue(workers=1, max_size=2)
    await queue.start()
    started, release = asyncio.Event(), asyncio.Event()

    async def blocker() -> None:
        started.set()
        await release.wait()

    async def noop() -> None:
        pass

    assert queue.submit(blocker, name="blocker")
    await asyncio.wait_for(started.wait(), WAIT)  # the worker holds it; the queue is empty again
    assert queue.submit(noop, name="a") and queue.submit(noop, name="b")
    with caplog.at_level(logging.WARNING, logger="pyrogrpc.notify"):
        assert queue.submit(noop, name="overflow") is False
    assert queue.stats.dropped == 1
    assert "overflow" in caplog.text and "full" in caplog.text
    release.set()
    await asyncio.wait_for(queue.join(), WAIT)
    assert queue.stats.succeeded == 3
    await queue.stop()


@pytest.mark.asyncio
async def test_stop_drains_queued_jobs_then_refuses_new_ones():
    queue = fast_queue(workers=2)
    await queue.start()
    finished: list[int] = []

    def make(i: int):
        async def job() -> None:
            await asyncio.sleep(0.05)
            finished.append(i)

        return job

    for i in range(6):
        assert queue.submit(make(i), name=f"job{i}")
    await queue.stop(drain_timeout_seconds=2)
    assert sorted(finished) == list(range(6))
    assert queue.stats.succeeded == 6
    assert queue.submit(make(99), name="late") is False
    assert queue.stats.dropped == 1


@pytest.mark.asyncio
async def test_stop_cancels_after_drain_timeout():
    queue = fast_queue(workers=1, attempt_timeout_seconds=30)
    await queue.start()
    cancelled = asyncio.Event()

    async def hang() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def never_reached() -> None:
        raise AssertionError("should have been dropped")

    queue.submit(hang, name="hang")
    queue.submit(never_reached, name="queued")
    await asyncio.sleep(0.01)
    t0 = time.monotonic()
    await queue.stop(drain_timeout_seconds=0.2)
    assert 0.15 <= time.monotonic() - t0 < 5.0  # the drain timeout, plus a loaded machine's slack
    assert cancelled.is_set()
    assert queue.stats.dropped == 2  # the in-flight job and the queued one
    assert queue.stats.succeeded == queue.stats.failed == 0
    await asyncio.wait_for(queue.join(), WAIT)  # nothing left unaccounted for


@pytest.mark.asyncio
async def test_hung_attempt_is_cut_at_timeout_and_retried():
    queue = fast_queue(attempt_timeout_seconds=0.1)
    await queue.start()
    calls: list[str] = []
    cancelled = asyncio.Event()

    async def hangs_once() -> None:
        calls.append("call")
        if len(calls) == 1:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise

    t0 = time.monotonic()
    queue.submit(hangs_once, name="hangs-once")
    await asyncio.wait_for(queue.join(), WAIT)
    assert time.monotonic() - t0 < 1.0
    assert cancelled.is_set()
    assert len(calls) == 2
    assert (queue.stats.succeeded, queue.stats.retried) == (1, 1)
    await queue.stop()


@pytest.mark.asyncio
async def test_always_hanging_job_fails_after_max_attempts(caplog):
    queue = fast_queue(attempt_timeout_seconds=0.05, max_attempts=2)
    await queue.start()
    calls: list[int] = []

    async def hang() -> None:
        calls.append(1)
        await asyncio.sleep(30)

    with caplog.at_level(logging.ERROR, logger="pyrogrpc.notify"):
        queue.submit(hang, name="hang")
        await asyncio.wait_for(queue.join(), WAIT)
    assert len(calls) == 2
    assert (queue.stats.failed, queue.stats.retried) == (1, 1)
    assert "timed out after 0.05s" in caplog.text
    await queue.stop()


@pytest.mark.asyncio
async def test_exceptions_never_escape_a_worker():
    loop = asyncio.get_running_loop()
    unhandled: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    queue = fast_queue(workers=1, max_attempts=1)
    await queue.start()

    def not_a_coroutine():  # returns None: awaiting it raises TypeError
        return None

    def raises_on_call():
        raise ValueError("raised before any await")

    async def leaks_cancelled() -> None:  # e.g. an inner task got cancelled
        raise asyncio.CancelledError()

    async def raises_key_error() -> None:
        raise KeyError("x")

    ran = asyncio.Event()

    async def last() -> None:
        ran.set()

    for i, job in enumerate([not_a_coroutine, raises_on_call, leaks_cancelled, raises_key_error]):
        assert queue.submit(job, name=f"bad{i}")
    queue.submit(last, name="last")
    await asyncio.wait_for(queue.join(), WAIT)
    assert ran.is_set()
    assert (queue.stats.failed, queue.stats.succeeded) == (4, 1)
    assert all(not task.done() for task in queue._workers)  # the worker survived
    await queue.stop()
    assert unhandled == []


# --------------------------------------------------------------------------- telegram


@pytest.mark.asyncio
async def test_telegram_sends_message_to_bot_api(server):
    sender = TelegramSender(TOKEN, base_url=server.url)
    try:
        await sender.send_message("-100123", "Fire on site A")
    finally:
        await sender.aclose()
    [request] = server.requests
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.json() == {"chat_id": "-100123", "text": "Fire on site A"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "pyrogrpc"


@pytest.mark.asyncio
async def test_telegram_400_is_permanent_and_hides_token(server):
    server.default = Answer(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    sender = TelegramSender(TOKEN, base_url=server.url)
    with pytest.raises(DeliveryError) as info:
        await sender.send_message("42", "hi")
    await sender.aclose()
    assert info.value.permanent is True
    assert info.value.status_code == 400
    assert "400" in str(info.value) and "chat not found" in str(info.value)
    assert TOKEN not in full_text(info.value)
    assert TOKEN not in repr(sender)


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [429, 500, 503])
async def test_telegram_429_and_5xx_are_not_permanent(server, status):
    server.default = Answer(status, {"ok": False, "description": f"echo /bot{TOKEN}/sendMessage"})
    sender = TelegramSender(TOKEN, base_url=server.url)
    with pytest.raises(DeliveryError) as info:
        await sender.send_message("42", "hi")
    await sender.aclose()
    assert info.value.permanent is False
    assert str(status) in str(info.value)
    assert TOKEN not in full_text(info.value)  # even when the server echoes it back


@pytest.mark.asyncio
async def test_telegram_unreachable_is_not_permanent(unused_port):
    sender = TelegramSender(TOKEN, base_url=f"http://127.0.0.1:{unused_port}")
    with pytest.raises(DeliveryError) as info:
        await sender.send_message("42", "hi")
    await sender.aclose()
    assert info.value.permanent is False
    assert TOKEN not in full_text(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.asyncio
async def test_telegram_slow_server_times_out(server):
    server.default = Answer(delay=1.0)
    sender = TelegramSender(TOKEN, base_url=server.url, timeout_seconds=0.2)
    t0 = time.monotonic()
    with pytest.raises(DeliveryError) as info:
        await sender.send_message("42", "hi")
    await sender.aclose()
    assert time.monotonic() - t0 < 0.8
    assert info.value.permanent is False
    assert "timed out" in str(info.value)
    assert TOKEN not in full_text(info.value)


@pytest.mark.asyncio
async def test_telegram_200_without_ok_is_an_error(server):
    server.default = Answer(200, {"ok": False})
    sender = TelegramSender(TOKEN, base_url=server.url)
    with pytest.raises(DeliveryError) as info:
        await sender.send_message("42", "hi")
    await sender.aclose()
    assert info.value.permanent is False


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [200, 400])
async def test_telegram_deeply_nested_json_answer_is_a_delivery_error(server, status):
    # json.loads raises RecursionError (not a ValueError) on deep nesting: it must not escape.
    server.default = Answer(status, b"[" * 100_000 + b"]" * 100_000)
    sender = TelegramSender(TOKEN, base_url=server.url)
    with pytest.raises(DeliveryError) as info:
        await sender.send_message("42", "hi")
    await sender.aclose()
    assert info.value.permanent is (status == 400)


@pytest.mark.asyncio
async def test_telegram_token_masked_in_httpx_log(server, caplog):
    sender = TelegramSender(TOKEN, base_url=server.url)
    with caplog.at_level(logging.INFO, logger="httpx"):
        await sender.send_message("42", "hi")
    await sender.aclose()
    assert "HTTP Request: POST " + server.url in caplog.text  # httpx did log the request...
    assert TOKEN not in caplog.text and "sendMessage" not in caplog.text  # ...with scheme and host only


@pytest.mark.asyncio
async def test_telegram_uses_and_keeps_open_a_given_client(server):
    import httpx

    async with httpx.AsyncClient() as client:
        sender = TelegramSender(TOKEN, base_url=server.url, client=client)
        await sender.send_message("1", "a")
        await sender.aclose()
        assert not client.is_closed
        await sender.send_message("1", "b")  # still usable: the caller owns it
    assert [r.json()["text"] for r in server.requests] == ["a", "b"]
    assert all(r.headers["user-agent"] == "pyrogrpc" for r in server.requests)


# --------------------------------------------------------------------------- webhooks

ALERT = {
    "id": 17,
    "event_id": 3,
    "device_id": 9,
    "created_at": "2024-07-01T12:00:00Z",
    "bboxes": [[0.1, 0.2, 0.3, 0.4, 0.9]],
    "note": "forêt",
}


@pytest.mark.asyncio
async def test_webhook_posts_payload_as_json(server):
    poster = WebhookPoster()
    await poster.post_json(f"{server.url}/hooks/create_alert", ALERT)
    await poster.aclose()
    [request] = server.requests
    assert request.path == "/hooks/create_alert"
    assert request.json() == ALERT
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "pyrogrpc"


@pytest.mark.asyncio
async def test_webhook_500_is_retried_through_queue_and_delivered(server):
    server.answers = [Answer(500, {"error": "down"})]  # then the default 200
    poster = WebhookPoster(timeout_seconds=1)
    queue = fast_queue()
    await queue.start()
    assert queue.submit(lambda: poster.post_json(f"{server.url}/hook", ALERT), name="webhook")
    await asyncio.wait_for(queue.join(), 5)
    await queue.stop()
    await poster.aclose()
    assert len(server.requests) == 2
    assert all(r.json() == ALERT for r in server.requests)
    assert (queue.stats.succeeded, queue.stats.retried, queue.stats.failed) == (1, 1, 0)


@pytest.mark.asyncio
async def test_webhook_404_is_permanent_and_not_retried_by_queue(server):
    server.default = Answer(404, {"error": "no such hook"})
    poster = WebhookPoster()
    queue = fast_queue()
    await queue.start()
    queue.submit(lambda: poster.post_json(f"{server.url}/hook", ALERT), name="webhook")
    await asyncio.wait_for(queue.join(), 5)
    await queue.stop()
    await poster.aclose()
    assert len(server.requests) == 1
    assert (queue.stats.failed, queue.stats.retried) == (1, 0)


@pytest.mark.asyncio
async def test_webhook_errors_do_not_reveal_secret_url_path(server, unused_port):
    server.default = Answer(500, {"error": "boom"})
    poster = WebhookPoster(timeout_seconds=1)
    with pytest.raises(DeliveryError) as info:
        await poster.post_json(f"{server.url}/hooks/S3CRET?key=K3Y", ALERT)
    assert "500" in str(info.value) and "127.0.0.1" in str(info.value)
    assert "S3CRET" not in full_text(info.value) and "K3Y" not in full_text(info.value)
    with pytest.raises(DeliveryError) as info:
        await poster.post_json(f"http://127.0.0.1:{unused_port}/hooks/S3CRET", ALERT)
    assert info.value.permanent is False
    assert "S3CRET" not in full_text(info.value)
    await poster.aclose()


@pytest.mark.asyncio
async def test_webhook_bad_url_and_bad_payload_are_permanent():
    poster = WebhookPoster()
    with pytest.raises(DeliveryError) as info:
        await poster.post_json("ftp://example.invalid/hook", ALERT)
    assert info.value.permanent is True
    with pytest.raises(DeliveryError) as info:
        await poster.post_json("http://127.0.0.1:9/hook", {"when": object()})
    assert info.value.permanent is True and "JSON" in str(info.value)
    await poster.aclose()


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize(
    "template",
    [
        "",
        "no placeholders at all",
        "Fire at $device_name ($device_id) on $date",
        "${alert_id}/${event_id}: ${device_name}!",
        "costs $$5 for $device_name",
        " ".join(f"${name}" for name in TEMPLATE_FIELDS),
    ],
)
def test_valid_templates_pass(template):
    validate_template(template)


@pytest.mark.parametrize(
    "template, name", [("Fire at $site", "site"), ("id ${alertid}", "alertid"), ("$Device_name", "Device_name")]
)
def test_unknown_placeholder_rejected_with_its_name(template, name):
    with pytest.raises(ValueError, match=rf"unknown template placeholder \${name}\b"):
        validate_template(template)


@pytest.mark.parametrize(
    "template, shown",
    [("ends with $", "'$'"), ("${x", "'${x'"), ("${device_name", "'${device_name'"), ("$1 now", "'$1 now'")],
)
def test_bad_syntax_rejected_with_the_offending_text(template, shown):
    with pytest.raises(ValueError, match="invalid placeholder") as info:
        validate_template(template)
    assert shown in str(info.value)


def test_render_template_substitutes_values():
    values = {
        "alert_id": 17,
        "event_id": 3,
        "date": "2024-07-01 12:00 UTC",
        "device_id": 9,
        "device_name": "tower-1",
        "unused": "ignored",
    }
    text = render_template("[$event_id/${alert_id}] $device_name (#$device_id) at $date, $$0", values)
    assert text == "[3/17] tower-1 (#9) at 2024-07-01 12:00 UTC, $0"


def test_render_template_missing_value_raises():
    with pytest.raises(ValueError, match="device_name"):
        render_template("Fire at $device_name on $date", {"date": "today"})


def test_render_template_rejects_unknown_placeholder_even_with_a_value():
    with pytest.raises(ValueError, match=r"\$site"):
        render_template("Fire at $site", {"site": "A"})
