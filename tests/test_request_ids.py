"""A request_id names ONE request: a retry of it returns the first result, another request
under the same request_id is ALREADY_EXISTS with ErrorInfo reason REQUEST_ID_REUSED and
writes nothing (issue 13 item 8: it used to return the first result with OK).

Every RPC whose request (or upload header) has a `request_id` is found in the service
descriptors and must have a case below.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import pytest
from google.rpc import error_details_pb2

from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2
from tests.helpers import Api, expect_status, rich_status, tiny_jpeg, tiny_png, upload_requests
from tests.test_alerts import new_camera
from tests.test_authorization_matrix import ALL_METHODS
from tests.test_upload import media_admin, media_server, stored_objects  # noqa: F401  (fixtures)

Code = grpc.StatusCode
WILDFIRE = resources_pb2.EVENT_TYPE_WILDFIRE
IMAGE, VIDEO = resources_pb2.MEDIA_TYPE_IMAGE, resources_pb2.MEDIA_TYPE_VIDEO
REASON = "REQUEST_ID_REUSED"


def _has_request_id(descriptor, depth: int = 0) -> bool:
    if "request_id" in descriptor.fields_by_name:
        return True
    return depth < 2 and any(
        f.message_type is not None and _has_request_id(f.message_type, depth + 1) for f in descriptor.fields
    )


RPCS_WITH_REQUEST_ID = sorted(rpc for rpc, method in ALL_METHODS.items() if _has_request_id(method.input_type))


def reason(error: grpc.aio.AioRpcError) -> str:
    info = error_details_pb2.ErrorInfo()
    status = rich_status(error)
    for detail in status.details if status else ():
        if detail.Unpack(info):
            return info.reason
    return ""


async def expect_reused(call: Awaitable) -> None:
    error = await expect_status(call, Code.ALREADY_EXISTS)
    assert reason(error) == REASON, error
    assert "request_id" in error.details()


# --- the unary creates ------------------------------------------------------------------


@dataclass
class Case:
    """`call(world, request_id, variant)`: variant 0 is the first request, others differ."""

    call: Callable[..., Awaitable]
    variants: int
    count: Callable[[Api], Awaitable[int]]  # rows the RPC creates, seen by the admin


async def _count_events(admin: Api) -> int:
    return len((await admin.detection.ListEvents(pb.ListEventsRequest(page_size=1000))).events)


async def _count_media(admin: Api) -> int:
    return len((await admin.detection.ListMedia(pb.ListMediaRequest(page_size=1000))).media)


async def _count_alerts(admin: Api) -> int:
    return len((await admin.detection.ListAlerts(pb.ListAlertsRequest(page_size=1000))).alerts)


EVENT_VARIANTS = [
    {"lat": 1.0, "lon": 2.0},
    {"lat": 1.5, "lon": 2.0},
    {"lat": 1.0, "lon": 2.0, "start_time": {"seconds": 1_700_000_000}},
]
ALERT_VARIANTS = [
    {"azimuth": 10.0, "lat": 44.0, "lon": 4.0},
    {"azimuth": 20.0, "lat": 44.0, "lon": 4.0},  # another azimuth (issue 13)
    {"azimuth": 10.0, "lat": 45.0, "lon": 5.0},  # another position (issue 13)
    {"azimuth": 10.0, "lat": 44.0, "lon": 4.0, "localization": "[[0.1,0.1,0.2,0.2,0.9]]"},
    {"lat": 44.0, "lon": 4.0},  # azimuth unset: the device's, which is not the same request
]


def _create_event(w, request_id: str, variant: int):
    fields = dict(EVENT_VARIANTS[variant])
    request = pb.CreateEventRequest(type=WILDFIRE, request_id=request_id, **fields)
    return w.camera.device.detection.CreateEvent(request)


def _create_my_media(w, request_id: str, variant: int):
    return w.camera.device.detection.CreateMyMedia(
        pb.CreateMyMediaRequest(type=[IMAGE, VIDEO][variant], request_id=request_id)
    )


def _create_my_alert(w, request_id: str, variant: int):
    request = pb.CreateMyAlertRequest(request_id=request_id, **ALERT_VARIANTS[variant])
    return w.camera.device.detection.CreateMyAlert(request)


def _create_alert(w, request_id: str, variant: int):
    if variant == len(ALERT_VARIANTS):  # the same fields for another device
        device_id, fields = w.other_device_id, ALERT_VARIANTS[0]
    else:
        device_id, fields = w.camera.device_row.id, ALERT_VARIANTS[variant]
    return w.admin.detection.CreateAlert(pb.CreateAlertRequest(device_id=device_id, request_id=request_id, **fields))


CASES = {
    "DetectionService.CreateEvent": Case(_create_event, len(EVENT_VARIANTS), _count_events),
    "DetectionService.CreateMyMedia": Case(_create_my_media, 2, _count_media),
    "DetectionService.CreateMyAlert": Case(_create_my_alert, len(ALERT_VARIANTS), _count_alerts),
    "DetectionService.CreateAlert": Case(_create_alert, len(ALERT_VARIANTS) + 1, _count_alerts),
}
UPLOAD = "DetectionService.UploadMedia"  # streamed: tested below, on both storages
SEND_ALERT = "DetectionService.SendAlert"  # streamed: tested below


def test_every_rpc_with_a_request_id_has_a_case():
    assert sorted([*CASES, UPLOAD, SEND_ALERT]) == RPCS_WITH_REQUEST_ID


@dataclass
class World:
    admin: Api
    camera: object
    other_device_id: int


async def _world(admin: Api) -> World:
    camera = await new_camera(admin)
    _, other = await admin.new_device(camera.user_id)
    return World(admin, camera, other.id)


def _response_value(response):
    return next(getattr(response, f.name) for f in response.DESCRIPTOR.fields)


@pytest.mark.parametrize("rpc", sorted(CASES))
async def test_a_reused_request_id_must_carry_the_same_request(admin, rpc):
    case, w = CASES[rpc], await _world(admin)
    first = _response_value(await case.call(w, "req-1", 0))
    assert _response_value(await case.call(w, "req-1", 0)) == first  # a retry: the first result
    rows = await case.count(admin)
    for variant in range(1, case.variants):
        await expect_reused(case.call(w, "req-1", variant))
    assert await case.count(admin) == rows  # nothing written
    assert _response_value(await case.call(w, "req-1", 0)) == first  # the key still replays
    # Another request_id is another request, as always.
    assert _response_value(await case.call(w, "req-2", 1)).id != first.id


async def test_concurrent_different_requests_under_one_request_id_create_one_alert(admin):
    w = await _world(admin)
    calls = [_create_my_alert(w, "race", variant % 2) for variant in range(6)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    alerts = [r.alert for r in results if not isinstance(r, Exception)]
    errors = [r for r in results if isinstance(r, Exception)]
    assert alerts and len({a.id for a in alerts}) == 1, results
    assert all(isinstance(e, grpc.aio.AioRpcError) and reason(e) == REASON for e in errors), errors
    expected_azimuth = alerts[0].azimuth
    assert len(errors) == sum(ALERT_VARIANTS[v % 2]["azimuth"] != expected_azimuth for v in range(6))
    assert await _count_alerts(admin) == 1


# --- UploadMedia: the header names the content ------------------------------------------------


async def _stall_after(*messages):
    """Send `messages`, then never end: the server must answer without reading more."""
    for message in messages:
        yield message
    await asyncio.Event().wait()


async def test_upload_retry_with_other_content_is_refused_unread_and_unstored(media_server, media_admin):
    camera = await new_camera(media_admin)
    device = camera.device
    media = (await device.detection.CreateMyMedia(pb.CreateMyMediaRequest(type=IMAGE))).media
    data = tiny_jpeg()
    first = (await device.detection.UploadMedia(upload_requests(media.id, data, request_id="up-1"))).media
    stored = await stored_objects(media_server)

    # The same upload again: the first result.
    assert (await device.detection.UploadMedia(upload_requests(media.id, data, request_id="up-1"))).media == first
    # Other bytes (so another size and sha256) under the same request_id: refused after the
    # header alone, whatever follows, and nothing stored.
    for other in (tiny_jpeg(), tiny_jpeg(1000), tiny_png()):
        header, *chunks = upload_requests(media.id, other, request_id="up-1")
        await expect_reused(device.detection.UploadMedia(_stall_after(header, *chunks[:1]), timeout=10))
    # The same bytes with another declared content type: another request too.
    header, *chunks = upload_requests(media.id, data, request_id="up-1")
    header.header.content_type = "image/png"
    await expect_reused(device.detection.UploadMedia(iter([header, *chunks]), timeout=10))
    # The same content declared for another media: that media is not uploaded, so it uploads.
    media_2 = (await device.detection.CreateMyMedia(pb.CreateMyMediaRequest(type=IMAGE))).media
    second = (await device.detection.UploadMedia(upload_requests(media_2.id, data, request_id="up-1"))).media
    assert second.sha256 == first.sha256 == hashlib.sha256(data).hexdigest()

    assert (await camera.user.detection.GetMedia(pb.GetMediaRequest(media_id=media.id))).media == first
    assert sorted(await stored_objects(media_server)) == sorted([*stored, second.bucket_key])
    # A different request_id on an uploaded media stays FAILED_PRECONDITION.
    await expect_status(
        device.detection.UploadMedia(upload_requests(media.id, data, request_id="up-2")), Code.FAILED_PRECONDITION
    )


# --- SendAlert: the alert and the picture's header -------------------------------------------


async def test_send_alert_retry_must_repeat_the_alert_and_the_picture(admin):
    from tests.test_camera import send_requests

    w = await _world(admin)
    device = w.camera.device
    data = tiny_jpeg()
    first = await device.detection.SendAlert(send_requests(data, request_id="send-1", **ALERT_VARIANTS[0]))
    again = await device.detection.SendAlert(send_requests(data, request_id="send-1", **ALERT_VARIANTS[0]))
    assert again.alert == first.alert and again.media == first.media  # a retry: the first result
    counts = (await _count_alerts(admin), await _count_media(admin))
    for variant in range(1, len(ALERT_VARIANTS)):  # another alert under the same request_id
        await expect_reused(
            device.detection.SendAlert(send_requests(data, request_id="send-1", **ALERT_VARIANTS[variant]))
        )
    # The same alert with another picture: refused after the header, nothing stored.
    await expect_reused(
        device.detection.SendAlert(send_requests(tiny_jpeg(1000), request_id="send-1", **ALERT_VARIANTS[0]))
    )
    assert (await _count_alerts(admin), await _count_media(admin)) == counts
