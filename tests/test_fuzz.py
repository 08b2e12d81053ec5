"""Fuzzing: random but well-typed requests for every RPC, and garbage on the wire.

Requests are generated from the message descriptors (huge strings, negative/NaN/inf
numbers, empty fields, unknown enum values, ids of any group, random field masks and
page tokens) and sent as an admin, a user and a device of the fixture world of
test_authorization_matrix. Whatever the input, the server must answer with a
deliberate status: never INTERNAL or UNKNOWN, and nothing logged as "unexpected error".

Two inputs are aimed at on purpose because random text almost never hits them (issue 13):
page tokens that decode to an id outside the signed 64-bit range or in a non-canonical
spelling, on every List RPC; and deeply nested JSON on every field whose contract says
"JSON text" (found in the .proto comments, so a new JSON field is fuzzed too).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import os
import re
import socket
import string
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor as pb_descriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyrogrpc.domain.errors import InvalidArgument
from pyrogrpc.domain.paging import decode_page_token
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.helpers import Api, violated_fields
from tests.test_authorization_matrix import (  # noqa: F401  (module-scoped fixtures)
    ALL_METHODS,
    BUILDERS,
    MATRIX,
    fake_telegram,
    invoke,
    module_database,
    module_server,
    world,
)

Code = grpc.StatusCode
FieldDescriptor = pb_descriptor.FieldDescriptor

FUZZ_IDENTITIES = ("admin", "user", "device")
# WatchAlerts never ends and UploadMedia takes a stream: both are fuzzed by their own tests.
UNARY_REQUEST_RPCS = sorted(
    rpc for rpc, method in ALL_METHODS.items() if not method.client_streaming and rpc != "DetectionService.WatchAlerts"
)
MAX_EXAMPLES = int(os.environ.get("PYROGRPC_FUZZ_EXAMPLES", "25"))
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


# --- strategies from descriptors --------------------------------------------------------------

INT64_EDGES = [0, -1, 1, 2**31 - 1, 2**31, 2**63 - 1, -(2**63)]
NASTY_TEXT = [
    "",
    " ",
    "\x00",
    "é" * 300,
    "x" * 70_000,
    "../../etc/passwd",
    "' OR 1=1 --",
    "create_alert",
    "%s%n",
    "\ud7ff",
]


def huge_text() -> st.SearchStrategy[str]:
    return st.builds(lambda char, n: char * n, st.characters(codec="utf-8"), st.integers(0, 100_000))


def text_values() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=40), st.sampled_from(NASTY_TEXT), huge_text())


def _b64(text: str, padded: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(text.encode()).decode()
    return encoded if padded else encoded.rstrip("=")


ID_EDGES = [0, 1, -1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**63) - 1, 10**40]


def v1_tokens() -> st.SearchStrategy[str]:
    """Tokens in the API's own format "v1:<id>" (base64url): ids past int64, negative, zero,
    and spellings of valid ids the API never makes (sign, zeros, spaces, padding)."""
    ids = st.one_of(st.sampled_from(ID_EDGES), st.integers(-(2**70), 2**70))
    spelled = st.builds(
        lambda n, fmt: fmt.format(n), ids, st.sampled_from(["{}", "+{}", "0{}", " {}", "{} ", "{:_}", "{:e}"])
    )
    return st.one_of(
        st.builds(lambda text, padded: _b64(f"v1:{text}", padded), spelled, st.booleans()),
        st.builds(lambda text: _b64(f"v1:{text}"), st.text(alphabet="0123456789+-_ .e\u0660\u0661", max_size=25)),
        st.builds(lambda n, times: _b64(f"v1:{n}") * times, ids, st.integers(2, 5_000)),  # over-long
    )


def page_tokens() -> st.SearchStrategy[str]:
    encoded = st.binary(max_size=60).map(lambda raw: base64.urlsafe_b64encode(raw).decode())
    json_like = st.builds(
        lambda key, value: base64.urlsafe_b64encode(f'{{"{key}": {value}}}'.encode()).decode(),
        st.sampled_from(["id", "after", "k", ""]),
        st.sampled_from(["1", "-1", "null", '"x"', "1e400", "[]", "99999999999999999999"]),
    )
    return st.one_of(st.just(""), st.text(max_size=30), encoded, json_like, v1_tokens())


# --- JSON fields: found in the contract's comments ------------------------------------------------

PROTO_DIR = Path(__file__).resolve().parent.parent / "protos" / "pyronear" / "v1"
_FIELD_LINE = re.compile(r"^\s*(?:optional\s+)?string\s+(\w+)\s*=\s*\d+;")


def json_fields() -> frozenset[str]:
    """Names of the string fields whose .proto comment says they carry JSON text."""
    names: set[str] = set()
    for proto in PROTO_DIR.glob("*.proto"):
        comment: list[str] = []
        for line in proto.read_text().splitlines():
            if line.strip().startswith("//"):
                comment.append(line)
                continue
            match = _FIELD_LINE.match(line)
            if match and "JSON text" in " ".join(comment):
                names.add(match.group(1))
            comment = []
    return frozenset(names)


JSON_FIELDS = json_fields()


def nested_json() -> st.SearchStrategy[str]:
    """Deep nesting (json.loads raises RecursionError near 1000 levels), balanced or not."""
    shapes = {
        "array": lambda d: "[" * d + "]" * d,
        "object": lambda d: '{"a":' * d + "1" + "}" * d,
        "mixed": lambda d: '[{"a":' * d + "1" + "}]" * d,
        "in a box": lambda d: "[[" + "[" * d + "0" + "]" * d + ",0,1,1,1]]",
        "unbalanced": lambda d: "[" * d,
    }
    depths = st.one_of(st.sampled_from([999, 1000, 1001, 5000, 100_000]), st.integers(1, 3000))
    return st.builds(lambda shape, depth: shapes[shape](depth), st.sampled_from(sorted(shapes)), depths)


def json_texts() -> st.SearchStrategy[str]:
    numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**70), 2**70))
    leaves = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=10))
    any_json = st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=6), st.dictionaries(st.text(max_size=5), children, max_size=4)
        ),
        max_leaves=30,
    )
    boxes = st.lists(st.lists(st.one_of(st.floats(-0.5, 1.5), st.integers(-2, 2)), max_size=7), max_size=8)
    return st.one_of(nested_json(), any_json.map(json.dumps), boxes.map(json.dumps), text_values())


def id_values(world_ids: list[int]) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(world_ids), st.sampled_from(INT64_EDGES), st.integers(-(2**63), 2**63 - 1))


def float_values() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(
            [0.0, -0.0, 90.0, -90.0, 180.0, 360.0, 1e308, -1e308, float("nan"), float("inf"), float("-inf")]
        ),
    )


def timestamps() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "seconds": st.one_of(st.integers(-(2**40), 2**40), st.integers(0, 4_102_444_800)),
            "nanos": st.integers(-5, 2 * 10**9),
        }
    )


def scalar(field: FieldDescriptor, world_ids: list[int]) -> st.SearchStrategy:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        if field.name == "page_token":
            return page_tokens()
        return json_texts() if field.name in JSON_FIELDS else text_values()
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=200)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return float_values() if kind == FieldDescriptor.TYPE_DOUBLE else st.floats(width=32, allow_nan=True)
    if kind == FieldDescriptor.TYPE_ENUM:
        # Proto3 enums are open: unknown numbers reach the server as they are.
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), st.integers(-3, 50))
    if kind in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
        return st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, -1, 1, 50, 1000, 1001]))
    if kind in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return id_values(world_ids)
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    return st.integers(0, 2**64 - 1)


def field_masks(target: pb_descriptor.Descriptor | None) -> st.SearchStrategy[dict]:
    names = [f.name for f in target.fields] if target else []
    path = st.one_of(st.sampled_from(names or ["name"]), st.text(alphabet=string.ascii_lowercase + "._", max_size=20))
    return st.fixed_dictionaries({"paths": st.lists(path, max_size=4)})


def message_values(
    descriptor: pb_descriptor.Descriptor, world_ids: list[int], depth: int = 0
) -> st.SearchStrategy[dict]:
    """A dict of field values for `descriptor` (every field may be left unset)."""
    if descriptor.full_name == "google.protobuf.Timestamp":
        return timestamps()
    strategies = {}
    # The resource an update_mask refers to is the request's message field of the same name.
    resource = next(
        (
            f.message_type
            for f in descriptor.fields
            if f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.full_name.startswith("pyronear.")
        ),
        None,
    )
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.full_name == "google.protobuf.FieldMask":
                value = field_masks(resource)
            elif depth >= 2:
                continue
            else:
                value = message_values(field.message_type, world_ids, depth + 1)
        else:
            value = scalar(field, world_ids)
        if field.is_repeated:
            value = st.lists(value, max_size=3)
        strategies[field.name] = st.one_of(st.none(), value)
    return st.fixed_dictionaries(strategies).map(lambda values: {k: v for k, v in values.items() if v is not None})


def build(message_class, values: dict):
    """Instantiate a message from nested dicts; values Python refuses to set are left out."""
    message = message_class()
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        repeated = field.is_repeated
        try:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                if repeated:
                    container = getattr(message, name)
                    for item in value:
                        container.add().CopyFrom(build(type(container.add()), item))
                        del container[-1]
                else:
                    getattr(message, name).CopyFrom(build(type(getattr(message, name)), value))
            elif repeated:
                getattr(message, name).extend(value)
            else:
                setattr(message, name, value)
        except (ValueError, TypeError, OverflowError):
            pass  # e.g. a lone surrogate in a string cannot even be serialized client-side
    return message


def request_class(rpc: str):
    service, _ = rpc.split(".")
    module = {"AccessService": access_pb, "SetupService": setup_pb, "DetectionService": detection_pb}[service]
    return getattr(module, ALL_METHODS[rpc].input_type.name)


# --- log capture --------------------------------------------------------------------------------


class ErrorRecords(logging.Handler):
    """Collects ERROR records of the servicers ("unexpected error" comes with INTERNAL)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        taken = [
            f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else f"{r.name}: {r.getMessage()}"
            for r in self.records
        ]
        self.records.clear()
        return taken


@pytest.fixture(scope="module")
def server_errors():
    handler = ErrorRecords()
    logger = logging.getLogger("pyrogrpc.api")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


FORBIDDEN = {Code.INTERNAL, Code.UNKNOWN}


# --- descriptor-driven requests -------------------------------------------------------------------


def callers(rpc: str) -> list[str]:
    """Identities that get past the scope check (the matrix covers the refusals)."""
    allowed = [i for i in FUZZ_IDENTITIES if MATRIX[rpc][i] is not Code.PERMISSION_DENIED]
    return allowed or list(FUZZ_IDENTITIES)


@functools.cache
def request_strategy(rpc: str, world_ids: tuple[int, ...]) -> st.SearchStrategy:
    cls = request_class(rpc)
    return message_values(cls.DESCRIPTOR, list(world_ids)).map(lambda values: build(cls, values))


# --- page tokens on every List RPC, nested JSON on every JSON field ----------------------------
# These run before the random requests below, which may delete the world's rows they build on
# (an event, a site, the device): each outcome here depends on the token or the JSON only.

LIST_RPCS = sorted(rpc for rpc, method in ALL_METHODS.items() if "page_token" in method.input_type.fields_by_name)
JSON_FIELD_RPCS = sorted(
    (rpc, name)
    for rpc, method in ALL_METHODS.items()
    for name in method.input_type.fields_by_name
    if name in JSON_FIELDS
)


def test_the_targeted_inputs_cover_the_contract():
    assert "DetectionService.ListAlerts" in LIST_RPCS and len(LIST_RPCS) >= 15
    assert ("DetectionService.CreateMyAlert", "localization") in JSON_FIELD_RPCS
    assert ("DetectionService.CreateAlert", "localization") in JSON_FIELD_RPCS


def _is_api_token(token: str) -> bool:
    try:
        return decode_page_token(token) is not None
    except InvalidArgument:
        return False


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("rpc", LIST_RPCS)
@FUZZ_SETTINGS
@given(token=st.one_of(v1_tokens(), page_tokens()))
async def test_page_tokens_on_every_list_rpc(world, server_errors, rpc, token):
    """A token the API could have made lists; any other is INVALID_ARGUMENT on page_token."""
    identity = "admin" if MATRIX[rpc]["admin"] is None else "user"
    request = BUILDERS[rpc](world, identity)
    request.page_token = token
    try:
        await invoke(world.clients[identity], rpc, request)
        assert not token or _is_api_token(token), f"{rpc} accepted page_token {token[:80]!r}"
    except grpc.aio.AioRpcError as error:
        assert error.code() == Code.INVALID_ARGUMENT and not _is_api_token(token), (
            f"{rpc} page_token {token[:80]!r} -> {error.code().name} {error.details()[:200]!r}"
        )
        assert violated_fields(error) == {"page_token"}, (rpc, token[:80])
    assert server_errors.take() == []


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("rpc, field", JSON_FIELD_RPCS)
@FUZZ_SETTINGS
@given(text=json_texts())
async def test_json_fields_never_internal(world, server_errors, rpc, field, text):
    identity = callers(rpc)[0]
    request = BUILDERS[rpc](world, identity)
    setattr(request, field, text)
    try:
        await invoke(world.clients[identity], rpc, request)
    except grpc.aio.AioRpcError as error:
        assert error.code() not in FORBIDDEN, (
            f"{rpc}.{field} {text[:80]!r} -> {error.code().name} {error.details()[:200]!r}"
        )
        if "[[[" in text or "{" in text:  # deeper than a list of boxes, or not a list at all
            assert error.code() == Code.INVALID_ARGUMENT and field in violated_fields(error), (rpc, text[:80])
    else:
        assert "[[[" not in text and "{" not in text, f"{rpc}.{field} accepted {text[:80]!r}"
    assert server_errors.take() == []


# --- random requests on every RPC ----------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("rpc", UNARY_REQUEST_RPCS)
@FUZZ_SETTINGS
@given(data=st.data())
async def test_random_requests_never_internal(world, server_errors, rpc, data):
    identity = data.draw(st.sampled_from(callers(rpc)), label="identity")
    request = data.draw(request_strategy(rpc, tuple(sorted(set(world.ids.values())))), label="request")
    try:
        await invoke(world.clients[identity], rpc, request)
    except grpc.aio.AioRpcError as error:
        assert error.code() not in FORBIDDEN, f"{rpc} as {identity} -> {error.code().name} {error.details()[:200]!r}"
    logged = server_errors.take()
    assert not logged, f"{rpc} as {identity}: the server logged {logged}"


# --- UploadMedia: random streams ----------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="module")
@FUZZ_SETTINGS
@given(data=st.data())
async def test_random_upload_streams_never_internal(world, server_errors, data):
    ids = sorted(set(world.ids.values()))
    header = data.draw(
        message_values(detection_pb.UploadMediaHeader.DESCRIPTOR, ids).map(
            lambda values: build(detection_pb.UploadMediaHeader, values)
        ),
        label="header",
    )
    head = data.draw(st.sampled_from([b"", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBPVP8 "]))
    chunks = data.draw(st.lists(st.binary(max_size=70_000), max_size=4), label="chunks")
    messages = (
        [detection_pb.UploadMediaRequest(header=header)] if data.draw(st.booleans(), label="header first") else []
    )
    messages += [detection_pb.UploadMediaRequest(chunk=head + chunk) for chunk in chunks]
    if data.draw(st.booleans(), label="second header"):
        messages.insert(data.draw(st.integers(0, len(messages))), detection_pb.UploadMediaRequest(header=header))
    identity = data.draw(st.sampled_from(["admin", "device"]), label="identity")
    try:
        await world.clients[identity].detection.UploadMedia(iter(messages), timeout=20)
    except grpc.aio.AioRpcError as error:
        # When the server answers early (e.g. INVALID_ARGUMENT on a bad header) while the client
        # still writes, grpc-python's client may report its own failed write instead of the
        # server's status: a client-side INTERNAL, with nothing logged by the server.
        client_write_failed = "execute_batch" in (error.debug_error_string() or "")
        assert error.code() not in FORBIDDEN or client_write_failed, (
            f"UploadMedia as {identity} -> {error.code().name} {error.details()[:200]!r}"
        )
    logged = server_errors.take()
    assert not logged, f"UploadMedia as {identity}: the server logged {logged}"


# --- garbage on the wire ----------------------------------------------------------------------------

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


async def _still_serves(world) -> None:
    response = await world.clients["admin"].access.ListGroups(access_pb.ListGroupsRequest(), timeout=5)
    assert response.groups


@pytest.mark.asyncio(loop_scope="module")
async def test_garbage_bytes_and_bogus_http2_do_not_hurt_the_server(module_server, world, server_errors):
    payloads = [
        os.urandom(8192),
        HTTP2_PREFACE + os.urandom(4096),
        # a well-formed SETTINGS frame, then a HEADERS frame full of noise
        HTTP2_PREFACE
        + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        + b"\x00\x01\x00\x01\x05\x00\x00\x00\x01"
        + os.urandom(256),
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(512),  # a TLS ClientHello on the plain port
    ]
    for payload in payloads:
        reader, writer = await asyncio.open_connection("127.0.0.1", module_server.port)
        writer.write(payload)
        await writer.drain()
        try:
            await asyncio.wait_for(reader.read(65536), 2)  # GOAWAY and/or close
        except (TimeoutError, ConnectionError):
            pass
        writer.close()
        await _still_serves(world)
    with socket.create_connection(("127.0.0.1", module_server.port)) as half_open:
        half_open.sendall(HTTP2_PREFACE[:10])  # and leave it hanging
        await _still_serves(world)
    assert server_errors.take() == []


def _raw_unary(client: Api, rpc: str):
    service, name = rpc.split(".")
    return client.channel.unary_unary(
        f"/pyronear.v1.{service}/{name}", request_serializer=None, response_deserializer=None
    )


@pytest.mark.asyncio(loop_scope="module")
async def test_malformed_protobuf_body_is_invalid_argument_and_server_keeps_serving(world, server_errors):
    admin = world.clients["admin"]
    metadata = (("authorization", f"Bearer {admin.token}"),)
    for body in (b"\x08", b"\x0a\xff\xff\xff\xff\x0f", b"\x12\x05ab", b"\xff" * 64):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _raw_unary(admin, "SetupService.GetSite")(body, metadata=metadata, timeout=5)
        # grpc alone would answer UNKNOWN here; api/errors.py turns undecodable bytes into INVALID_ARGUMENT.
        assert raised.value.code() == Code.INVALID_ARGUMENT, raised.value
        assert "not a valid protobuf message" in raised.value.details()
    await _still_serves(world)
    assert server_errors.take() == []


@pytest.mark.asyncio(loop_scope="module")
async def test_malformed_message_inside_an_upload_stream_is_invalid_argument(world, server_errors):
    admin = world.clients["admin"]
    upload = admin.channel.stream_unary(
        "/pyronear.v1.DetectionService/UploadMedia", request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await upload(
            iter([b"\xff" * 32, b"\x12\x03abc"]), metadata=(("authorization", f"Bearer {admin.token}"),), timeout=5
        )
    assert raised.value.code() == Code.INVALID_ARGUMENT, raised.value
    await _still_serves(world)
    assert server_errors.take() == []


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    "rpc",
    ["AccessService.Login", "SetupService.UpdateSite", "DetectionService.CreateAlert", "DetectionService.ListAlerts"],
)
@FUZZ_SETTINGS
@given(body=st.binary(max_size=300))
async def test_random_protobuf_bytes(world, server_errors, rpc, body):
    admin = world.clients["admin"]
    try:
        await _raw_unary(admin, rpc)(body, metadata=(("authorization", f"Bearer {admin.token}"),), timeout=10)
    except grpc.aio.AioRpcError as error:
        assert error.code() not in FORBIDDEN, f"{rpc}: {error.code().name} {error.details()!r}"
    assert server_errors.take() == []
