"""WatchAlerts through a real channel: replay and live order, group isolation, heartbeats,
late (out-of-order) commits, replicas, slow readers, cancellation, and the resuming client."""

from __future__ import annotations

import asyncio
import gc
import json
import time

import grpc
import psycopg
import pytest
from google.protobuf import field_mask_pb2

from pyrogrpc.client import AsyncPyroClient
from pyrogrpc.client.watch import watch_alerts
from pyrogrpc.domain import watch as watch_module
from pyrogrpc.domain.localization import MAX_BOXES, MAX_LOCALIZATION_LENGTH
from pyrogrpc.domain.watch import WatchTuning
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import USER_PASSWORD, Api, TcpProxy, user_on_two_replicas, violated_fields
from tests.watch_helpers import TIMEOUT, Stream, ends_with, is_postgres, libpq_url, until

Code = grpc.StatusCode


# --- helpers -------------------------------------------------------------------------


class Camera:
    """A device of a new group, its owner's (user) client, and the admin to create alerts with."""

    def __init__(self, admin: Api, user: Api, user_login: str, device):
        self.admin, self.user, self.user_login, self.device = admin, user, user_login, device

    @classmethod
    async def new(cls, admin: Api) -> Camera:
        user, user_row = await admin.new_user()
        _, device = await admin.new_device(user_row.id, lat=44.0, lon=4.0, azimuth=90.0)
        return cls(admin, user, user_row.login, device)

    async def alert(self, **fields):
        request = pb.CreateAlertRequest(device_id=self.device.id, **fields)
        return (await self.admin.detection.CreateAlert(request)).alert


def watch(client: Api, after: int | None = None, **kwargs) -> Stream:
    request = pb.WatchAlertsRequest() if after is None else pb.WatchAlertsRequest(after_alert_id=after)
    return Stream(client.detection.WatchAlerts(request, **kwargs))


async def receive(stream: Stream, timeout: float = TIMEOUT) -> pb.WatchAlertsResponse:
    message = await stream.get(timeout)
    assert message is not grpc.aio.EOF, "stream ended"
    return message


async def next_alert(stream: Stream, timeout: float = TIMEOUT) -> pb.WatchAlertsResponse:
    """The next alert message, skipping heartbeats."""
    deadline = time.monotonic() + timeout
    while True:
        message = await receive(stream, max(0.01, deadline - time.monotonic()))
        if message.HasField("alert"):
            assert message.resume_after_alert_id == message.alert.id
            return message


async def alert_ids(stream: Stream, count: int, timeout: float = TIMEOUT) -> list[int]:
    return [(await next_alert(stream, timeout)).alert.id for _ in range(count)]


async def started(stream: Stream) -> int:
    """Wait for the opening heartbeat (the watcher is registered) and return its resume point."""
    first = await receive(stream)
    assert first.HasField("heartbeat") and first.heartbeat.server_time.seconds > 0
    return first.resume_after_alert_id


async def nothing_more(stream: Stream, seconds: float = 0.5) -> None:
    """No alert within `seconds` (heartbeats allowed)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await stream.get(left)
        except TimeoutError:
            return
        assert message is not grpc.aio.EOF and message.HasField("heartbeat"), f"unexpected message {message}"


# --- order, replay, resume points ----------------------------------------------------


async def test_live_alerts_arrive_in_order_with_their_resume_points(admin):
    camera = await Camera.new(admin)
    before = await camera.alert()
    stream = watch(camera.user)
    assert await started(stream) == before.id  # unset: starts after the newest alert
    created = [(await camera.alert()).id for _ in range(3)]
    messages = [await next_alert(stream) for _ in created]
    assert [m.alert.id for m in messages] == created
    assert messages[0].alert.device_id == camera.device.id and messages[0].alert.lat == 44.0
    stream.cancel()


async def test_replay_from_zero_from_a_resume_point_and_then_live(admin):
    camera = await Camera.new(admin)
    old = [(await camera.alert()).id for _ in range(3)]
    everything, resumed = watch(camera.user, 0), watch(camera.user, old[0])
    assert await started(everything) == 0 and await started(resumed) == old[0]
    assert await alert_ids(everything, 3) == old
    assert await alert_ids(resumed, 2) == old[1:]
    new = (await camera.alert()).id
    assert await alert_ids(everything, 1) == [new] and await alert_ids(resumed, 1) == [new]
    await nothing_more(everything, 0.2)
    # A resume point ahead of everything: only later alerts.
    ahead = watch(camera.user, new + 1)
    assert await started(ahead) == new + 1
    skipped, later = (await camera.alert()).id, (await camera.alert()).id
    assert skipped == new + 1 and await alert_ids(ahead, 1) == [later]
    for stream in (everything, resumed, ahead):
        stream.cancel()


@pytest.mark.watch_tuning(batch_size=4)
async def test_replay_pages_through_long_histories(server, admin):
    camera = await Camera.new(admin)
    old = [(await camera.alert()).id for _ in range(10)]
    stream = watch(camera.user, 0)
    await started(stream)
    assert await alert_ids(stream, 10) == old
    stream.cancel()


async def test_users_see_only_their_group_and_admins_see_all(admin):
    mine, theirs = await Camera.new(admin), await Camera.new(admin)
    user_stream, admin_stream = watch(mine.user), watch(admin)
    await started(user_stream), await started(admin_stream)
    other = (await theirs.alert()).id
    own = (await mine.alert()).id
    assert await alert_ids(user_stream, 1) == [own]
    assert await alert_ids(admin_stream, 2) == [other, own]
    # Replays are filtered too.
    replay = watch(mine.user, 0)
    await started(replay)
    assert await alert_ids(replay, 1) == [own]
    await nothing_more(replay, 0.2)
    for stream in (user_stream, admin_stream, replay):
        stream.cancel()


async def test_invalid_resume_point_and_device_callers_are_refused(admin):
    error = await ends_with(watch(admin, -1), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"after_alert_id"}
    camera = await Camera.new(admin)
    device_client = await admin.login(camera.device.login, USER_PASSWORD)
    await ends_with(watch(device_client), Code.PERMISSION_DENIED)
    await ends_with(watch(admin.with_token(None)), Code.UNAUTHENTICATED)


@pytest.mark.watch_tuning(heartbeat_seconds=0.2)
async def test_heartbeats_keep_the_resume_point(server, admin):
    camera = await Camera.new(admin)
    stream = watch(camera.user)
    resume = await started(stream)
    start = time.monotonic()
    beats = [await receive(stream, 1.0) for _ in range(3)]
    assert all(b.HasField("heartbeat") and b.resume_after_alert_id == resume for b in beats)
    assert time.monotonic() - start < 1.5
    alert = await camera.alert()
    assert (await next_alert(stream)).alert.id == alert.id
    beat = await receive(stream, 1.0)
    assert beat.HasField("heartbeat") and beat.resume_after_alert_id == alert.id
    stream.cancel()


async def test_one_query_per_wakeup_whatever_the_number_of_watchers(server, admin):
    camera = await Camera.new(admin)
    streams = [watch(camera.user) for _ in range(20)]
    for stream in streams:
        await started(stream)
    queries = server.watch_hub.queries
    alert = await camera.alert()
    for stream in streams:
        assert await alert_ids(stream, 1) == [alert.id]
    assert server.watch_hub.queries - queries <= 2  # the alert's wake-up (a safety poll at most)
    for stream in streams:
        stream.cancel()


# --- late commits (PostgreSQL) ---------------------------------------------------------


def _insert_alert(connection: psycopg.Connection, alert) -> int:
    row = connection.execute(
        "INSERT INTO alerts (device_id, group_id, event_id, azimuth, lat, lon, localization, create_time)"
        " VALUES (%s, %s, %s, 1, 2, 3, '', now()) RETURNING id",
        (alert.device_id, alert.group_id, alert.event_id),
    ).fetchone()
    return row[0]


async def test_an_alert_committed_after_a_later_id_is_not_skipped(server, admin):
    if not is_postgres(server):
        pytest.skip("SQLite serializes writers: ids always commit in order")
    # Two devices: an open insert holds a key-share lock on its device row, which
    # CreateAlert of the same device would wait for.
    raw, camera = await Camera.new(admin), await Camera.new(admin)
    first = await raw.alert()  # gives the event the raw inserts join
    stream = watch(admin)
    await started(stream)
    with psycopg.connect(libpq_url(server)) as late, psycopg.connect(libpq_url(server)) as rolled_back:
        late_id = _insert_alert(late, first)  # id N, its transaction stays open
        on_time = (await asyncio.wait_for(camera.alert(), TIMEOUT)).id  # id N+1, committed first
        assert on_time == late_id + 1
        await nothing_more(stream, 0.5)  # N+1 is held while N may still commit
        late.commit()
        assert await alert_ids(stream, 2) == [late_id, on_time]
        # A rolled-back id is a permanent gap: the next alert goes out as soon as it is settled.
        lost = _insert_alert(rolled_back, first)
        rolled_back.rollback()
        next_id = (await asyncio.wait_for(camera.alert(), TIMEOUT)).id
        assert next_id == lost + 1
        start = time.monotonic()
        assert await alert_ids(stream, 1, timeout=2.0) == [next_id]
        assert time.monotonic() - start < 0.5
    stream.cancel()


async def test_replicas_see_each_others_alerts_and_survive_a_lost_listen_connection(server_factory):
    a = await server_factory(watch_tuning=WatchTuning(safety_poll_seconds=60))  # only NOTIFY wakes A in time
    if not is_postgres(a):
        pytest.skip("the embedded SQLite mode is one process")
    b = await server_factory()
    async with Api.connect(a.port) as on_a, Api.connect(b.port) as on_b:
        admin_a = await on_a.login("superadmin", "superadmin-password")
        admin_b = await on_b.login("superadmin", "superadmin-password")
        camera = await Camera.new(admin_b)
        stream = watch(admin_a)
        await started(stream)
        from_b = (await camera.alert()).id
        assert await alert_ids(stream, 1, timeout=2.0) == [from_b]
        # Kill A's LISTEN connection: it reconnects and catches up.
        with psycopg.connect(libpq_url(a), autocommit=True) as connection:
            connection.execute("SELECT pg_terminate_backend(%s)", (a.watch_hub._remote.listener_pid,))
        for _ in range(100):
            if a.watch_hub._remote.connects >= 2:
                break
            await asyncio.sleep(0.05)
        assert a.watch_hub._remote.connects >= 2
        again = (await camera.alert()).id
        assert await alert_ids(stream, 1, timeout=2.0) == [again]
        stream.cancel()


# --- back-pressure, cancellation, shutdown ---------------------------------------------


@pytest.mark.watch_tuning(buffer_size=3)
async def test_a_watcher_that_does_not_read_is_dropped_without_slowing_others(server, admin):
    camera = await Camera.new(admin)
    # The largest localization the contract allows: five boxes, padded with JSON whitespace.
    boxes = json.dumps([[0.1, 0.1, 0.9, 0.9, 0.5]] * MAX_BOXES)
    big = boxes + " " * (MAX_LOCALIZATION_LENGTH - len(boxes))
    # Without BDP probing the slow client's HTTP/2 window stays at 64 KiB, so a few dozen big
    # alerts are enough to block the server's writes (by default it grows to megabytes).
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=[("grpc.http2.bdp_probe", 0)]) as channel:
        slow = Api(channel, camera.user.token).detection.WatchAlerts(pb.WatchAlertsRequest())  # read by hand
        fast = watch(camera.user)
        assert (await slow.read()).HasField("heartbeat")
        await started(fast)
        created = []
        # 64 KiB of 2 KB alerts, then the 3 the hub buffers; the bound only stops a broken hub.
        while server.watch_hub.watcher_count > 1 and len(created) < 200:
            created.append((await camera.alert(localization=big)).id)
            assert await alert_ids(fast, 1) == created[-1:]
        assert server.watch_hub.watcher_count == 1  # the slow one is gone, the fast one served
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            while await slow.read() is not grpc.aio.EOF:
                pass
        assert raised.value.code() == Code.RESOURCE_EXHAUSTED
        assert "resume_after_alert_id" in raised.value.details()
    fast.cancel()


def watchers_in_memory() -> int:
    gc.collect()  # a finished RPC's task may keep its frames (and watcher) a moment longer
    return sum(isinstance(o, watch_module._Watcher) for o in gc.get_objects())


async def test_cancelled_streams_release_their_watchers_and_tasks(server, admin):
    hub = server.watch_hub
    for _ in range(5):  # warm up the channel and the server's lazily started tasks
        stream = watch(admin)
        await started(stream)
        stream.cancel()
    await asyncio.sleep(0.2)
    tasks = len(asyncio.all_tasks())
    for _ in range(300):  # one leaked watcher or task fails the test; 300 find a rare one
        stream = watch(admin)
        await started(stream)
        stream.cancel()
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if hub.watcher_count == 0 and len(asyncio.all_tasks()) <= tasks and not watchers_in_memory():
            break
        await asyncio.sleep(0.05)
    assert hub.watcher_count == 0
    assert len(asyncio.all_tasks()) <= tasks
    assert watchers_in_memory() == 0


async def test_streams_end_unavailable_when_the_hub_stops(server, admin):
    stream = watch(admin)
    await started(stream)
    await server.watch_hub.stop()
    error = await ends_with(stream, Code.UNAVAILABLE)
    assert "resume_after_alert_id" in error.details()
    await ends_with(watch(admin), Code.UNAVAILABLE)
    await server.watch_hub.start()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_streams_end_unavailable_while_the_database_is_lost_then_resume(server_factory, database_url):
    proxy = TcpProxy(5432)
    await proxy.start()
    server = await server_factory(DATABASE_URL=database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"))
    hub = server.watch_hub
    hub.safety_poll_seconds, hub.unavailable_after_seconds = 0.1, 0.5
    try:
        async with Api.connect(server.port) as api:
            admin = await api.login("superadmin", "superadmin-password")
            camera = await Camera.new(admin)
            stream = watch(admin)
            resume = await started(stream)
            await proxy.cut()
            error = await ends_with(stream, Code.UNAVAILABLE)
            assert "database" in error.details()
            await ends_with(watch(admin), Code.UNAVAILABLE)  # refused while the database is away
            await proxy.start()
            alert = await _eventually(camera.alert)  # the pool drops its dead connections first
            resumed = await _eventually(lambda: _opened(watch(admin, resume)))
            assert await alert_ids(resumed, 1) == [alert.id]
            resumed.cancel()
    finally:
        await proxy.cut()


async def _opened(stream: Stream) -> Stream:
    await started(stream)
    return stream


async def _eventually(call, attempts: int = 20):
    """`await call()`, retried while it fails UNAVAILABLE."""
    for _ in range(attempts - 1):
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            if error.code() != Code.UNAVAILABLE:
                raise
        await asyncio.sleep(0.1)
    return await call()


# --- Python client -------------------------------------------------------------------


async def test_client_resumes_after_unavailable_without_gaps_or_duplicates(server, admin):
    camera = await Camera.new(admin)
    first = (await camera.alert()).id
    received: list[int] = []
    stream = watch_alerts(admin.channel, admin.token, after_alert_id=0, initial_backoff=0.05)

    async def consume():
        async for alert in stream:
            received.append(alert.id)

    consumer = asyncio.create_task(consume())
    try:
        second = (await camera.alert()).id
        await until(lambda: received == [first, second])
        await server.watch_hub.stop()  # the stream ends UNAVAILABLE
        third = (await camera.alert()).id  # created while the client is disconnected
        await server.watch_hub.start()
        fourth = (await camera.alert()).id
        await until(lambda: len(received) >= 4)
        await asyncio.sleep(0.2)
        assert received == [first, second, third, fourth]
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
    await until(lambda: server.watch_hub.watcher_count == 0)


async def test_async_client_watches_with_its_token_keeper(server, admin):
    camera = await Camera.new(admin)
    first = (await camera.alert()).id
    # A refused token: the iterator logs in again once with the client's credentials.
    address = f"127.0.0.1:{server.port}"
    async with AsyncPyroClient(address, login=camera.user_login, password=USER_PASSWORD, token="not-a-jwt") as client:
        alerts = client.watch_alerts(after_alert_id=0)
        assert (await asyncio.wait_for(anext(alerts), TIMEOUT)).id == first
        second = (await camera.alert()).id
        assert (await asyncio.wait_for(anext(alerts), TIMEOUT)).id == second
        await alerts.aclose()
    await until(lambda: server.watch_hub.watcher_count == 0)


async def test_client_raises_errors_it_cannot_retry(admin):
    stream = watch_alerts(admin.channel, admin.token, after_alert_id=-5)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await anext(stream)
    assert raised.value.code() == Code.INVALID_ARGUMENT


# --- streams of revoked accounts -------------------------------------------------------


async def test_a_stream_ends_when_its_account_is_deleted_or_demoted_and_others_go_on(admin):
    camera = await Camera.new(admin)
    deleted_api, deleted_user = await admin.new_user(camera.device.group_id)
    demoted_api, demoted_admin = await admin.new_user(scope=resources_pb2.SCOPE_ADMIN)
    mate = await _opened(watch(camera.user))
    deleted = await _opened(watch(deleted_api))
    demoted = await _opened(watch(demoted_api))
    await admin.access.DeleteUser(access_pb.DeleteUserRequest(user_id=deleted_user.id))
    assert "no longer exists" in (await ends_with(deleted, Code.UNAUTHENTICATED)).details()
    demote = access_pb.UpdateUserRequest(
        user_id=demoted_admin.id,
        user=resources_pb2.User(scope=resources_pb2.SCOPE_USER),
        update_mask=field_mask_pb2.FieldMask(paths=["scope"]),
    )
    await admin.access.UpdateUser(demote)
    assert "scope or group changed" in (await ends_with(demoted, Code.UNAUTHENTICATED)).details()
    alert = await camera.alert()
    assert (await next_alert(mate)).alert.id == alert.id


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_stream_on_another_replica_ends_within_the_recheck_interval(server_factory, database_url):
    async with user_on_two_replicas(server_factory, access_recheck_seconds=0.3) as (admin, user, on_replica):
        stream = await _opened(watch(on_replica))
        await admin.access.DeleteUser(access_pb.DeleteUserRequest(user_id=user.id))
        await ends_with(stream, Code.UNAUTHENTICATED, timeout=3)


async def test_stop_during_account_checks_leaves_no_task_behind(server_factory):
    """The account check is nearly always querying here: stop() still ends the streams with
    UNAVAILABLE and leaves no task behind."""
    for _ in range(5):
        server = await server_factory(access_recheck_seconds=0.0005)
        async with Api.connect(server.port) as api:
            admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
            stream = await _opened(watch(admin))
            await asyncio.sleep(0.05)
            await server.stop(grace=0)
            await ends_with(stream, Code.UNAVAILABLE)
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        assert left == [], left
