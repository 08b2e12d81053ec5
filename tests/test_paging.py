"""Page tokens: every List RPC refuses any token it did not hand out with INVALID_ARGUMENT.

The List RPCs are found in the service descriptors (a request with a `page_token` field), so
a new List RPC is covered without touching this file. Issue 13 item 6: a token holding an id
past the signed 64-bit range overflowed the query parameter and answered INTERNAL.
"""

from __future__ import annotations

import base64

import grpc
import pytest

from pyrogrpc.domain.errors import InvalidArgument
from pyrogrpc.domain.paging import MAX_ID, decode_page_token, encode_page_token
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.helpers import Api, violated_fields

Code = grpc.StatusCode
SERVICES = {
    "AccessService": access_pb,
    "SetupService": setup_pb,
    "DetectionService": detection_pb,
}
LIST_RPCS = sorted(
    (service_name, method.name)
    for service_name, module in SERVICES.items()
    for method in module.DESCRIPTOR.services_by_name[service_name].methods
    if "page_token" in method.input_type.fields_by_name
)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_TOKENS = {
    "id past int64": b64(b"v1:9223372036854775808"),
    "id far past int64": b64(b"v1:" + b"9" * 40),
    "negative id": b64(b"v1:-1"),
    "zero": b64(b"v1:0"),
    "leading zero": b64(b"v1:012"),
    "plus sign": b64(b"v1:+12"),
    "spaces": b64(b"v1: 12 "),
    "underscore": b64(b"v1:1_2"),
    "arabic-indic digits": b64("v1:١٢".encode()),
    "no prefix": b64(b"12"),
    "other version": b64(b"v2:12"),
    "padded": b64(b"v1:12") + "=",
    "trailing bits": b64(b"v1:12")[:-1] + "B",
    "garbage": "garbage!",
    "not base64 at all": "%%%%",
    "over-long": encode_page_token(12) * 200,
    "huge": "A" * 100_000,
}


def test_list_rpcs_are_found():
    assert ("DetectionService", "ListAlerts") in LIST_RPCS and len(LIST_RPCS) >= 15


def test_tokens_round_trip_up_to_the_largest_id():
    for value in (1, 12, 2**31, MAX_ID):
        assert decode_page_token(encode_page_token(value)) == value
    assert decode_page_token("") is None


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_bad_tokens_are_invalid_argument(name):
    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(BAD_TOKENS[name])
    assert [v.field for v in raised.value.violations] == ["page_token"]


async def _call(admin: Api, service_name: str, rpc: str, **fields):
    stub = {"AccessService": admin.access, "SetupService": admin.setup, "DetectionService": admin.detection}[
        service_name
    ]
    request_class = getattr(SERVICES[service_name], f"{rpc}Request")
    return await getattr(stub, rpc)(request_class(**fields))


async def test_every_list_rpc_refuses_bad_tokens_with_invalid_argument(admin):
    wrong = []
    for service_name, rpc in LIST_RPCS:
        for name, token in BAD_TOKENS.items():
            try:
                await _call(admin, service_name, rpc, page_token=token)
                wrong.append(f"{rpc} {name}: OK")
            except grpc.aio.AioRpcError as error:
                if error.code() != Code.INVALID_ARGUMENT or violated_fields(error) != {"page_token"}:
                    wrong.append(f"{rpc} {name}: {error.code().name} {error.details()[:80]!r}")
    assert not wrong, "\n".join(wrong)


async def test_the_largest_id_is_a_valid_token_on_every_list_rpc(admin):
    # The top of the range must still reach the database (and match everything below it).
    groups = await admin.access.ListGroups(access_pb.ListGroupsRequest(page_token=encode_page_token(MAX_ID)))
    assert groups.groups
    for service_name, rpc in LIST_RPCS:
        try:
            await _call(admin, service_name, rpc, page_token=encode_page_token(MAX_ID))
        except grpc.aio.AioRpcError as error:
            # Some List RPCs need a parent (event, site, group) first; never the token.
            assert error.code() in (Code.NOT_FOUND, Code.INVALID_ARGUMENT), (rpc, error.code(), error.details())
            assert "page_token" not in violated_fields(error), rpc


async def test_total_size_is_the_whole_result_on_every_page_and_past_the_last(admin):
    """AIP-158 total_size: counted with the page's filters but not its keyset, on the first
    page, the next ones, a token past the last row, and an empty result."""
    user, user_row = await admin.new_user()
    _, device = await admin.new_device(user_row.id, lat=44.0, lon=4.0, azimuth=90.0)
    created = [
        (await admin.detection.CreateAlert(detection_pb.CreateAlertRequest(device_id=device.id))).alert
        for _ in range(5)
    ]
    pages, token = [], ""
    while True:
        page = await user.detection.ListAlerts(detection_pb.ListAlertsRequest(page_size=2, page_token=token))
        pages.append(([a.id for a in page.alerts], page.total_size))
        if not (token := page.next_page_token):
            break
    ids = [c.id for c in reversed(created)]
    assert pages == [(ids[0:2], 5), (ids[2:4], 5), (ids[4:], 5)]
    past = await user.detection.ListAlerts(
        detection_pb.ListAlertsRequest(page_size=2, page_token=encode_page_token(min(ids)))
    )
    assert (list(past.alerts), past.total_size, past.next_page_token) == ([], 5, "")
    later = detection_pb.ListAlertsRequest(page_size=2, created_after=created[3].create_time)
    assert (await user.detection.ListAlerts(later)).total_size == 2
    none_yet = detection_pb.ListAlertsRequest(created_before=created[0].create_time)
    assert (await user.detection.ListAlerts(none_yet)).total_size == 0
