"""WatchIncidents through a real channel: every incident change once and in order, resume
without gap or duplicate, two replicas, groups, slow readers, late commits, refused callers,
the resuming client and the CLI.

Changes come from CreateMyAlert (fusion records them, domain/incidents.py) where the test is
about the whole path, and straight from the repository (`uow.incidents.record_change`, the
call fusion makes) where it needs an exact number of changes in one transaction. What a
stream must deliver is read from the incident_changes table itself.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import grpc
import psycopg
import pytest
from sqlalchemy import text

from pyrogrpc.cli import main as cli_main
from pyrogrpc.client import AsyncPyroClient, watch_incidents
from pyrogrpc.domain.watch import WatchTuning
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2 as res
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import USER_PASSWORD, Api, violated_fields
from tests.test_alerts import new_camera
from tests.test_incidents import EAST, FIRE, WEST, distance, first_tower, look_at, tower_in
from tests.watch_helpers import TIMEOUT, Stream, ends_with, is_postgres, libpq_url, until

Code = grpc.StatusCode
Kind = pb.IncidentChange.Kind


# --- helpers -------------------------------------------------------------------------


def watch(client: Api, after: int | None = None) -> Stream:
    request = pb.WatchIncidentsRequest() if after is None else pb.WatchIncidentsRequest(after_change_id=after)
    return Stream(client.detection.WatchIncidents(request))


async def started(stream: Stream) -> int:
    """Wait for the opening heartbeat (the watcher is registered); its resume point."""
    first = await stream.get()
    assert first is not grpc.aio.EOF and first.HasField("heartbeat") and first.heartbeat.server_time.seconds > 0
    return first.resume_after_change_id


class Changes:
    """The changes a stream delivered, read in the background once it started; checks each
    message's resume point. `start`: the opening heartbeat's resume point."""

    def __init__(self, stream: Stream, start: int):
        self.stream = stream
        self.start = start
        self.received: list[pb.IncidentChange] = []
        self.error: grpc.aio.AioRpcError | None = None
        self.resume = start
        self._task = asyncio.create_task(self._collect())

    @classmethod
    async def open(cls, stream: Stream) -> Changes:
        return cls(stream, await started(stream))

    async def _collect(self) -> None:
        try:
            while (message := await self.stream.get(timeout=3600)) is not grpc.aio.EOF:
                if message.HasField("change"):
                    assert message.resume_after_change_id == message.change.change_id
                    self.received.append(message.change)
                self.resume = message.resume_after_change_id
        except grpc.aio.AioRpcError as error:
            self.error = error

    @property
    def ids(self) -> list[int]:
        return [change.change_id for change in self.received]

    def cancel(self) -> None:
        self.stream.cancel()
        self._task.cancel()


async def table_ids(server, *, after: int = 0, group_id: int | None = None) -> list[int]:
    """incident_changes ids (of a group), ascending: what a stream must deliver."""
    query = "SELECT id FROM incident_changes WHERE id > :after"
    params: dict = {"after": after}
    if group_id is not None:
        query += " AND group_id = :group_id"
        params["group_id"] = group_id
    async with server.engine.connect() as connection:
        return list((await connection.execute(text(query + " ORDER BY id"), params)).scalars())


async def delivers_the_table(server, changes: Changes, *, after: int, group_id: int | None, at_least: int) -> None:
    """Wait until the stream delivered exactly the table's changes after `after` (at least
    `at_least` of them: fusion runs after the alert's commit), in order, none twice."""

    async def same() -> bool:
        expected = await table_ids(server, after=after, group_id=group_id)
        return len(expected) >= at_least and changes.ids == expected

    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while not await same():
        assert changes.error is None, changes.error
        assert asyncio.get_running_loop().time() < deadline, (
            f"stream {changes.ids} != table {await table_ids(server, after=after, group_id=group_id)}"
        )
        await asyncio.sleep(0.05)


async def new_incident(server, group_id: int) -> int:
    now = datetime.now(UTC)
    async with server.uow() as uow:
        incident = await uow.incidents.create(group_id=group_id, status="open", start_time=now, last_seen_time=now)
        await uow.incidents.record_change(incident.id, group_id, "opened", now)
        await uow.commit()
        return incident.id


async def record(server, incident_id: int, group_id: int, kinds: list[str]) -> None:
    """Record changes of an incident in one transaction, as fusion does."""
    async with server.uow() as uow:
        for kind in kinds:
            await uow.incidents.record_change(incident_id, group_id, kind, datetime.now(UTC))
        await uow.commit()


async def sighting(admin: Api, camera) -> None:
    """A new device of the camera's group sends its first alert: a new event, hence an incident
    change once fusion ran (opened, or event_added when its cone crosses another's)."""
    device, _ = await admin.new_device(camera.user_id, lat=44.0, lon=4.0, azimuth=90.0, angle_of_view=60.0)
    await device.detection.CreateMyAlert(pb.CreateMyAlertRequest(azimuth=90.0))


# --- order, resume ---------------------------------------------------------------------


async def test_changes_arrive_once_in_order_with_the_incident(server, admin):
    camera = await new_camera(admin)
    changes = await Changes.open(watch(camera.user))
    start = changes.start
    incident = await new_incident(server, camera.group_id)
    await record(server, incident, camera.group_id, ["event_added", "positioned", "position_changed", "closed"])
    await delivers_the_table(server, changes, after=start, group_id=camera.group_id, at_least=5)
    assert [change.kind for change in changes.received] == [
        Kind.KIND_OPENED,
        Kind.KIND_EVENT_ADDED,
        Kind.KIND_POSITIONED,
        Kind.KIND_POSITION_CHANGED,
        Kind.KIND_CLOSED,
    ]
    first = changes.received[0]
    assert first.incident.id == incident and first.incident.group_id == camera.group_id
    assert first.incident.status == res.INCIDENT_STATUS_OPEN and first.change_time.seconds > 0
    changes.cancel()


async def test_changes_made_by_alerts_arrive_and_resume_replays_exactly_the_missed_ones(server, admin):
    camera = await new_camera(admin)
    changes = await Changes.open(watch(camera.user))
    start = changes.start
    for _ in range(2):
        await sighting(admin, camera)
    await delivers_the_table(server, changes, after=start, group_id=camera.group_id, at_least=2)
    assert changes.received[0].incident.event_ids  # the incident as fusion made it
    resume = changes.ids[-1]
    changes.cancel()
    # Disconnected: more changes happen.
    for _ in range(2):
        await sighting(admin, camera)
    missed = await Changes.open(watch(camera.user, resume))
    assert missed.start == resume
    await delivers_the_table(server, missed, after=resume, group_id=camera.group_id, at_least=2)
    # ... and then live.
    await sighting(admin, camera)
    await delivers_the_table(server, missed, after=resume, group_id=camera.group_id, at_least=3)
    missed.cancel()


async def test_two_towers_stream_opened_event_added_then_positioned(server, admin):
    west = await first_tower(admin, WEST)
    east = await tower_in(admin, west, EAST)
    changes = await Changes.open(watch(west.user))
    await look_at(west.device, WEST, FIRE)
    await delivers_the_table(server, changes, after=changes.start, group_id=west.group_id, at_least=1)
    await look_at(east, EAST, FIRE)
    await delivers_the_table(server, changes, after=changes.start, group_id=west.group_id, at_least=3)
    opened, added, positioned = changes.received[:3]
    assert [opened.kind, added.kind, positioned.kind] == [
        Kind.KIND_OPENED,
        Kind.KIND_EVENT_ADDED,
        Kind.KIND_POSITIONED,
    ]
    assert opened.incident.id == added.incident.id == positioned.incident.id
    located = positioned.incident
    assert located.HasField("lat") and distance((located.lat, located.lon), FIRE) < 300
    assert len(located.cones) == 2 and located.status == res.INCIDENT_STATUS_OPEN
    changes.cancel()


@pytest.mark.watch_tuning(batch_size=3)
async def test_replay_from_zero_pages_through_the_history(server, admin):
    camera = await new_camera(admin)
    incident = await new_incident(server, camera.group_id)
    await record(server, incident, camera.group_id, ["event_added"] * 7)
    changes = await Changes.open(watch(camera.user, 0))
    assert changes.start == 0
    await delivers_the_table(server, changes, after=0, group_id=camera.group_id, at_least=8)
    changes.cancel()


# --- replicas --------------------------------------------------------------------------


async def test_every_change_once_in_order_across_two_replicas_with_resume(server_factory):
    # B hears of A's commits only through NOTIFY: its safety poll is too slow for the test.
    a = await server_factory()
    if not is_postgres(a):
        pytest.skip("the embedded SQLite mode is one process")
    b = await server_factory(watch_tuning=WatchTuning(safety_poll_seconds=60))
    async with Api.connect(a.port) as on_a, Api.connect(b.port) as on_b:
        admin_a = await on_a.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        camera = await new_camera(admin_a)
        user_b = on_b.with_token(camera.user.token)
        changes = await Changes.open(watch(user_b))
        start = changes.start
        for _ in range(3):
            await sighting(admin_a, camera)  # alerts, fusion and change rows all on A
        await delivers_the_table(a, changes, after=start, group_id=camera.group_id, at_least=3)
        resume = changes.ids[-1]
        changes.cancel()
        for _ in range(2):
            await sighting(admin_a, camera)
        # Resume on the other replica: exactly the missed changes, then live ones.
        resumed = await Changes.open(watch(camera.user, resume))  # on A now
        await delivers_the_table(a, resumed, after=resume, group_id=camera.group_id, at_least=2)
        await sighting(admin_a, camera)
        await delivers_the_table(a, resumed, after=resume, group_id=camera.group_id, at_least=3)
        resumed.cancel()


async def test_a_change_committed_after_a_later_one_is_not_skipped(server, admin):
    if not is_postgres(server):
        pytest.skip("SQLite serializes writers: ids always commit in order")
    camera = await new_camera(admin)
    incident = await new_incident(server, camera.group_id)
    changes = await Changes.open(watch(camera.user))
    start = changes.start
    insert = "INSERT INTO incident_changes (incident_id, group_id, kind, change_time) VALUES (%s, %s, %s, now())"
    with psycopg.connect(libpq_url(server)) as late:
        late.execute(insert, (incident, camera.group_id, "event_added"))  # id N, not committed yet
        await record(server, incident, camera.group_id, ["positioned"])  # id N+1, committed first
        await asyncio.sleep(0.3)  # the hub holds N+1 while N may still commit
        assert changes.ids == []
        late.commit()
    await delivers_the_table(server, changes, after=start, group_id=camera.group_id, at_least=2)
    assert [change.kind for change in changes.received] == [Kind.KIND_EVENT_ADDED, Kind.KIND_POSITIONED]
    changes.cancel()


# --- groups, callers, back-pressure ----------------------------------------------------


async def test_users_see_only_their_group_and_admins_see_all(server, admin):
    mine, theirs = await new_camera(admin), await new_camera(admin)
    own, everything = await Changes.open(watch(mine.user)), await Changes.open(watch(admin))
    start, admin_start = own.start, everything.start
    other = await new_incident(server, theirs.group_id)
    await sighting(admin, mine)
    await new_incident(server, mine.group_id)
    await delivers_the_table(server, own, after=start, group_id=mine.group_id, at_least=2)
    await delivers_the_table(server, everything, after=admin_start, group_id=None, at_least=3)
    assert other not in {change.incident.id for change in own.received}
    assert all(change.incident.group_id == mine.group_id for change in own.received)
    # Replays are filtered too.
    replay = await Changes.open(watch(mine.user, 0))
    await delivers_the_table(server, replay, after=0, group_id=mine.group_id, at_least=2)
    for changes in (own, everything, replay):
        changes.cancel()


async def test_bad_resume_point_devices_and_missing_tokens_are_refused(server, admin):
    error = await ends_with(watch(admin, -1), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"after_change_id"}
    camera = await new_camera(admin)
    await ends_with(watch(camera.device), Code.PERMISSION_DENIED)
    await ends_with(watch(admin.with_token(None)), Code.UNAUTHENTICATED)
    await ends_with(watch(admin.with_token("not-a-jwt")), Code.UNAUTHENTICATED)


@pytest.mark.watch_tuning(buffer_size=3)
async def test_a_reader_behind_by_more_than_the_buffer_is_dropped_and_resumes(server, admin):
    camera = await new_camera(admin)
    incident = await new_incident(server, camera.group_id)
    changes = await Changes.open(watch(camera.user))
    start = changes.start
    # Ten changes in one commit reach the hub in one batch: more than the stream may buffer.
    await record(server, incident, camera.group_id, ["event_added"] * 10)
    await until(lambda: changes.error is not None)
    assert changes.error.code() == Code.RESOURCE_EXHAUSTED
    assert "resume_after_change_id" in changes.error.details()
    assert server.incident_watch_hub.watcher_count == 0
    resume = changes.resume
    resumed = await Changes.open(watch(camera.user, resume))  # the replay reads the table: no buffer limit
    await delivers_the_table(server, resumed, after=resume, group_id=camera.group_id, at_least=10 - len(changes.ids))
    assert changes.ids + resumed.ids == await table_ids(server, after=start, group_id=camera.group_id)
    resumed.cancel()


async def test_streams_end_unavailable_when_the_server_stops(server_factory):
    server = await server_factory()
    async with Api.connect(server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        stream = watch(admin)
        await started(stream)
        await server.stop(grace=0)
        error = await ends_with(stream, Code.UNAVAILABLE)
        assert "resume_after_change_id" in error.details()


# --- Python client and CLI -------------------------------------------------------------


async def test_client_resumes_after_unavailable_without_gaps_or_duplicates(server, admin):
    camera = await new_camera(admin)
    incident = await new_incident(server, camera.group_id)
    received: list[int] = []
    stream = watch_incidents(camera.user.channel, camera.user.token, after_change_id=0, initial_backoff=0.05)

    async def consume():
        async for change in stream:
            received.append(change.change_id)

    consumer = asyncio.create_task(consume())
    try:
        await until(lambda: len(received) == 1)
        await server.incident_watch_hub.stop()  # the stream ends UNAVAILABLE
        await record(server, incident, camera.group_id, ["event_added", "positioned"])  # while disconnected
        await server.incident_watch_hub.start()
        await record(server, incident, camera.group_id, ["closed"])
        expected = await table_ids(server, group_id=camera.group_id)
        await until(lambda: len(received) >= len(expected) == 4)
        assert received == expected
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
    await until(lambda: server.incident_watch_hub.watcher_count == 0)


async def test_async_client_and_cli_watch_incidents(server, admin, capsys):
    camera = await new_camera(admin)
    incident = await new_incident(server, camera.group_id)
    await record(server, incident, camera.group_id, ["positioned"])
    address = f"127.0.0.1:{server.port}"
    login = (await admin.access.GetUser(access_pb.GetUserRequest(user_id=camera.user_id))).user.login
    # A refused token: the iterator logs in again once with the client's credentials.
    async with AsyncPyroClient(address, login=login, password=USER_PASSWORD, token="not-a-jwt") as client:
        changes = client.watch_incidents(after_change_id=0)
        first = await asyncio.wait_for(anext(changes), TIMEOUT)
        assert first.kind == Kind.KIND_OPENED and first.incident.id == incident
        await changes.aclose()
    capsys.readouterr()
    argv = ["incident", "watch", "--server", address, "--login", login, "--password", USER_PASSWORD]
    code = await asyncio.to_thread(cli_main, [*argv, "--after-change-id", "0", "--count", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["kind"] for line in lines] == ["KIND_OPENED", "KIND_POSITIONED"]
    assert lines[1]["incident"]["id"] == str(incident)  # int64 in JSON: a string
    await until(lambda: server.incident_watch_hub.watcher_count == 0)
