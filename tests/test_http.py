"""The HTTP port through a real HTTP client (httpx): Connect JSON and binary, gRPC-Web, the
streams, errors with their google.rpc details, auth, limits, CORS, and the console page."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import socket
from urllib.parse import unquote

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2

from pyrogrpc.api.scopes import RPC_SCOPES
from pyrogrpc.config import ConfigError, Settings
from pyrogrpc.http.listener import _listening_socket
from pyrogrpc.server import SERVICE_NAMES
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import USER_PASSWORD, Api, tiny_jpeg, upload_media, violated_fields
from tests.http_helpers import (
    END_STREAM,
    bearer,
    detail,
    end_of_stream,
    envelope,
    grpc_web_reply,
    read_envelopes,
    split_envelopes,
    start_http_server,
)

TIMEOUT = 10.0
DASHBOARD = "https://dash.example.org"


@pytest.fixture
async def http_server(server_factory):
    return await start_http_server(server_factory, CORS_ORIGINS=f"{DASHBOARD}, http://localhost:3000")


@pytest.fixture
async def http(http_server):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_server.http_port}", timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
async def grpc_admin(http_server):
    async with Api.connect(http_server.port) as api:
        yield await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)


async def connect_json(http: httpx.AsyncClient, rpc: str, body: dict, token: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json", **(bearer(token) if token else {})}
    return await http.post(f"/pyronear.v1.{rpc}", content=json.dumps(body), headers=headers)


async def login(http: httpx.AsyncClient, login: str = ADMIN_LOGIN, password: str = ADMIN_PASSWORD) -> str:
    response = await connect_json(http, "AccessService/Login", {"login": login, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["accessToken"]


# --- Connect unary ---------------------------------------------------------------------


async def test_login_and_calls_over_connect_json(http, grpc_admin):
    response = await connect_json(http, "AccessService/Login", {"login": ADMIN_LOGIN, "password": ADMIN_PASSWORD})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["tokenType"] == "bearer" and body["scope"] == "SCOPE_ADMIN"
    token = body["accessToken"]
    me = await connect_json(http, "AccessService/GetMyUser", {}, token)
    assert me.json()["user"]["login"] == ADMIN_LOGIN
    # A write over HTTP is seen over gRPC: the same servicers and database behind both ports.
    created = await connect_json(http, "AccessService/CreateGroup", {"name": "from-http"}, token)
    assert created.status_code == 200, created.text
    group_id = int(created.json()["group"]["id"])
    assert (await grpc_admin.access.GetGroup(access_pb.GetGroupRequest(group_id=group_id))).group.name == "from-http"


async def test_connect_binary_unary(http):
    request = access_pb.LoginRequest(login=ADMIN_LOGIN, password=ADMIN_PASSWORD)
    response = await http.post(
        "/pyronear.v1.AccessService/Login",
        content=request.SerializeToString(),
        headers={"Content-Type": "application/proto"},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/proto"
    assert access_pb.LoginResponse.FromString(response.content).scope == resources_pb2.SCOPE_ADMIN


async def test_every_rpc_of_the_services_has_a_route(http_server, http):
    """Routes come from the descriptors: every RPC of the scope table answers, and the
    non-public ones refuse an anonymous caller before the servicer runs."""
    assert {path.split("/")[1] for path in RPC_SCOPES} == set(SERVICE_NAMES)
    streaming = {
        f"/{service.full_name}/{method.name}"
        for service in (
            access_pb.DESCRIPTOR.services_by_name["AccessService"],
            pb.DESCRIPTOR.services_by_name["DetectionService"],
        )
        for method in service.methods
        if method.client_streaming or method.server_streaming
    }
    assert "/pyronear.v1.DetectionService/WatchAlerts" in streaming
    for path in RPC_SCOPES:
        if path in streaming:
            response = await http.post(
                path, content=envelope(b"{}"), headers={"Content-Type": "application/connect+json"}
            )
            error = end_of_stream(split_envelopes(response.content)[-1][1]).get("error", {})
        else:
            response = await http.post(path, content=b"{}", headers={"Content-Type": "application/json"})
            error = response.json() if response.status_code != 200 else {}
        assert response.status_code != 404, path
        if RPC_SCOPES[path]:
            assert error.get("code") == "unauthenticated", path
    assert (await http.post("/pyronear.v1.AccessService/NoSuchRpc", content=b"{}")).status_code == 404


# --- errors, auth, limits --------------------------------------------------------------


async def test_errors_carry_the_same_details_as_grpc(http, grpc_admin):
    token = await login(http)
    missing = await connect_json(http, "DetectionService/GetEvent", {"eventId": "999999"}, token)
    assert missing.status_code == 404
    body = missing.json()
    assert body["code"] == "not_found"
    assert detail(body, error_details_pb2.ErrorInfo()).reason == "NOT_FOUND"
    invalid = await connect_json(http, "AccessService/CreateUser", {}, token)
    assert invalid.status_code == 400 and invalid.json()["code"] == "invalid_argument"
    violations = detail(invalid.json(), error_details_pb2.BadRequest()).field_violations
    # The same call over gRPC gives the same message and field violations.
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await grpc_admin.access.CreateUser(access_pb.CreateUserRequest())
    assert raised.value.details() == invalid.json()["message"]
    assert {v.field for v in violations} == violated_fields(raised.value) != set()


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "unauthenticated"),
        ({"Authorization": "Bearer not-a-token"}, "unauthenticated"),
        ({"Authorization": "Basic c3VwZXI6YWRtaW4="}, "unauthenticated"),
    ],
)
async def test_bad_credentials_are_refused(http, headers, code):
    response = await http.post(
        "/pyronear.v1.AccessService/GetMyUser", content=b"{}", headers={"Content-Type": "application/json", **headers}
    )
    assert response.status_code == 401 and response.json()["code"] == code
    assert detail(response.json(), error_details_pb2.ErrorInfo()).reason == "UNAUTHENTICATED"


async def test_wrong_password_and_wrong_scope(http, grpc_admin):
    wrong = await connect_json(http, "AccessService/Login", {"login": ADMIN_LOGIN, "password": "wrong-password"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthenticated"
    _, user = await grpc_admin.new_user()
    user_token = await login(http, user.login, USER_PASSWORD)
    refused = await connect_json(http, "AccessService/CreateGroup", {"name": "nope"}, user_token)
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert "may not call CreateGroup" in refused.json()["message"]


async def test_malformed_and_oversized_requests(http):
    token = await login(http)
    headers = {"Content-Type": "application/json", **bearer(token)}
    garbage = await http.post("/pyronear.v1.AccessService/GetMyUser", content=b"{not json", headers=headers)
    assert garbage.status_code == 400 and garbage.json()["code"] == "invalid_argument"
    wrong_type = await http.post("/pyronear.v1.DetectionService/GetEvent", content=b'{"eventId": "x"}', headers=headers)
    assert wrong_type.json()["code"] == "invalid_argument"
    huge = json.dumps({"name": "x" * (5 * 1024 * 1024)})
    too_big = await http.post("/pyronear.v1.AccessService/CreateGroup", content=huge, headers=headers)
    assert too_big.json()["code"] == "resource_exhausted"
    unknown_type = await http.post(
        "/pyronear.v1.AccessService/GetMyUser", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert unknown_type.status_code == 415


# --- gRPC-Web --------------------------------------------------------------------------


async def grpc_web(http: httpx.AsyncClient, rpc: str, request, token: str | None = None):
    headers = {"Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1", **(bearer(token) if token else {})}
    response = await http.post(f"/pyronear.v1.{rpc}", content=envelope(request.SerializeToString()), headers=headers)
    return grpc_web_reply(response)


async def test_grpc_web_unary_and_errors(http):
    reply = await grpc_web(
        http, "AccessService/Login", access_pb.LoginRequest(login=ADMIN_LOGIN, password=ADMIN_PASSWORD)
    )
    assert reply.status == 200 and reply.grpc_status == 0
    token = access_pb.LoginResponse.FromString(reply.messages[0]).access_token
    me = await grpc_web(http, "AccessService/GetMyUser", access_pb.GetMyUserRequest(), token)
    assert access_pb.GetMyUserResponse.FromString(me.messages[0]).user.login == ADMIN_LOGIN
    missing = await grpc_web(http, "DetectionService/GetEvent", pb.GetEventRequest(event_id=999999), token)
    assert missing.grpc_status == grpc.StatusCode.NOT_FOUND.value[0] and not missing.messages
    info = error_details_pb2.ErrorInfo()
    assert missing.rich_status.details[0].Unpack(info) and info.reason == "NOT_FOUND"
    anonymous = await grpc_web(http, "AccessService/GetMyUser", access_pb.GetMyUserRequest())
    assert anonymous.grpc_status == grpc.StatusCode.UNAUTHENTICATED.value[0]


async def test_native_grpc_on_the_http_port_is_told_where_to_go(http):
    response = await http.post(
        "/pyronear.v1.AccessService/Login", content=envelope(b""), headers={"Content-Type": "application/grpc"}
    )
    assert response.headers["grpc-status"] == str(grpc.StatusCode.UNIMPLEMENTED.value[0])
    assert "GRPC_PORT" in unquote(response.headers["grpc-message"])


# --- streams ---------------------------------------------------------------------------


async def watch_messages(http: httpx.AsyncClient, token: str, content_type: str, body: bytes):
    """Yields (flags, data) of a WatchAlerts response as they arrive."""
    headers = {"Content-Type": content_type, **bearer(token)}
    async with http.stream(
        "POST", "/pyronear.v1.DetectionService/WatchAlerts", content=body, headers=headers
    ) as response:
        assert response.status_code == 200
        async for item in read_envelopes(response.aiter_raw()):
            yield item


async def test_watch_alerts_over_connect_json(http, grpc_admin):
    user, user_row = await grpc_admin.new_user()
    _, device = await grpc_admin.new_device(user_row.id, lat=44.0, lon=4.0)
    token = await login(http, user_row.login, USER_PASSWORD)
    stream = watch_messages(http, token, "application/connect+json", envelope(b"{}"))
    async with asyncio.timeout(TIMEOUT):
        flags, first = await anext(stream)
        assert flags == 0 and "heartbeat" in json.loads(first)  # the stream is registered
        alert = (await grpc_admin.detection.CreateAlert(pb.CreateAlertRequest(device_id=device.id, azimuth=12.5))).alert
        async for _flags, data in stream:
            message = json.loads(data)
            if "alert" in message:
                break
    await stream.aclose()
    assert int(message["alert"]["id"]) == alert.id and message["alert"]["azimuth"] == 12.5
    assert message["resumeAfterAlertId"] == str(alert.id)


async def test_watch_alerts_over_grpc_web(http, grpc_admin):
    user, user_row = await grpc_admin.new_user()
    _, device = await grpc_admin.new_device(user_row.id, lat=44.0, lon=4.0, azimuth=90.0)
    token = await login(http, user_row.login, USER_PASSWORD)
    stream = watch_messages(
        http, token, "application/grpc-web+proto", envelope(pb.WatchAlertsRequest().SerializeToString())
    )
    async with asyncio.timeout(TIMEOUT):
        await anext(stream)  # heartbeat
        alert = (await grpc_admin.detection.CreateAlert(pb.CreateAlertRequest(device_id=device.id))).alert
        async for _flags, data in stream:
            message = pb.WatchAlertsResponse.FromString(data)
            if message.HasField("alert"):
                break
    await stream.aclose()
    assert message.alert.id == alert.id


async def test_watch_alerts_refuses_a_device_at_the_end_of_stream(http, grpc_admin):
    user, user_row = await grpc_admin.new_user()
    _, device = await grpc_admin.new_device(user_row.id)
    device_token = await login(http, device.login, USER_PASSWORD)
    frames = [item async for item in watch_messages(http, device_token, "application/connect+json", envelope(b"{}"))]
    assert len(frames) == 1 and frames[0][0] == END_STREAM
    error = end_of_stream(frames[0][1])["error"]
    assert error["code"] == "permission_denied"
    assert detail(error, error_details_pb2.ErrorInfo()).reason == "PERMISSION_DENIED"


async def test_upload_media_over_connect_client_streaming(http, grpc_admin):
    """Client streaming over HTTP/1.1: the whole enveloped request body, then the response."""
    user, user_row = await grpc_admin.new_user()
    device_api, device = await grpc_admin.new_device(user_row.id)
    media = (
        await device_api.detection.CreateMyMedia(pb.CreateMyMediaRequest(type=resources_pb2.MEDIA_TYPE_IMAGE))
    ).media
    data = tiny_jpeg(200_000)
    header = pb.UploadMediaHeader(media_id=media.id, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    messages = [pb.UploadMediaRequest(header=header)] + [
        pb.UploadMediaRequest(chunk=data[at : at + 65536]) for at in range(0, len(data), 65536)
    ]
    body = b"".join(envelope(message.SerializeToString()) for message in messages)
    token = await login(http, device.login, USER_PASSWORD)
    response = await http.post(
        "/pyronear.v1.DetectionService/UploadMedia",
        content=body,
        headers={"Content-Type": "application/connect+proto", **bearer(token)},
    )
    assert response.status_code == 200
    frames = split_envelopes(response.content)
    uploaded = pb.UploadMediaResponse.FromString(frames[0][1]).media
    assert uploaded.size_bytes == len(data) and uploaded.content_type == "image/jpeg"
    assert frames[-1][0] == END_STREAM and "error" not in end_of_stream(frames[-1][1])
    # A header that lies about the size: the same domain check and status as over gRPC.
    media2 = (
        await device_api.detection.CreateMyMedia(pb.CreateMyMediaRequest(type=resources_pb2.MEDIA_TYPE_IMAGE))
    ).media
    lying = pb.UploadMediaHeader(media_id=media2.id, size_bytes=10, sha256=hashlib.sha256(data).hexdigest())
    body = (
        envelope(pb.UploadMediaRequest(header=lying).SerializeToString())
        + body[len(envelope(messages[0].SerializeToString())) :]
    )
    refused = await http.post(
        "/pyronear.v1.DetectionService/UploadMedia",
        content=body,
        headers={"Content-Type": "application/connect+proto", **bearer(token)},
    )
    error = end_of_stream(split_envelopes(refused.content)[-1][1])["error"]
    assert error["code"] == "invalid_argument"


async def test_download_media_over_connect_server_streaming(http, grpc_admin):
    """How the console shows a picture in any storage (GetMediaUrl needs S3)."""
    user, user_row = await grpc_admin.new_user()
    device_api, _ = await grpc_admin.new_device(user_row.id)
    picture = tiny_jpeg(300_000)
    media = await upload_media(device_api, picture)
    token = await login(http, user_row.login, USER_PASSWORD)
    response = await http.post(
        "/pyronear.v1.DetectionService/DownloadMedia",
        content=envelope(json.dumps({"mediaId": str(media.id)}).encode()),
        headers={"Content-Type": "application/connect+json", **bearer(token)},
    )
    frames = split_envelopes(response.content)
    messages = [json.loads(data) for flags, data in frames if not flags & END_STREAM]
    assert messages[0]["media"]["contentType"] == "image/jpeg"
    assert b"".join(base64.b64decode(message.get("chunk", "")) for message in messages) == picture
    assert "error" not in end_of_stream(frames[-1][1])
    # Another group's user gets the same refusal as over gRPC.
    other, other_row = await grpc_admin.new_user()
    other_token = await login(http, other_row.login, USER_PASSWORD)
    refused = await http.post(
        "/pyronear.v1.DetectionService/DownloadMedia",
        content=envelope(json.dumps({"mediaId": str(media.id)}).encode()),
        headers={"Content-Type": "application/connect+json", **bearer(other_token)},
    )
    assert end_of_stream(split_envelopes(refused.content)[-1][1])["error"]["code"] == "not_found"


# --- CORS ------------------------------------------------------------------------------


async def test_cors_preflight_allows_only_the_listed_origins(http):
    request_headers = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, connect-protocol-version",
    }
    allowed = await http.options("/pyronear.v1.AccessService/Login", headers={"Origin": DASHBOARD, **request_headers})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == DASHBOARD
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers
    refused = await http.options(
        "/pyronear.v1.AccessService/Login", headers={"Origin": "https://evil.example", **request_headers}
    )
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    # The actual call from an allowed origin can read gRPC-Web's status headers.
    call = await http.post(
        "/pyronear.v1.AccessService/GetMyUser",
        content=envelope(b""),
        headers={"Origin": DASHBOARD, "Content-Type": "application/grpc-web+proto"},
    )
    assert call.headers["access-control-allow-origin"] == DASHBOARD
    assert "grpc-status" in call.headers["access-control-expose-headers"]


@pytest.mark.parametrize("origins", ["*", "https://*.example.org", "dash.example.org", "https://dash.example.org/path"])
def test_cors_origins_must_be_exact(tmp_path, origins):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path), "CORS_ORIGINS": origins}, env_file=None)


def test_http_settings(tmp_path):
    settings = Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path)}, env_file=None)
    assert settings.http_port == 8080 and settings.cors_origins == ()
    off = Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path), "HTTP_PORT": "0"}, env_file=None)
    assert off.http_port == 0


async def test_http_connections_have_tcp_nodelay():
    """asyncio sets TCP_NODELAY only on sockets created with IPPROTO_TCP; without it, every
    response written in two parts (headers, body) waited ~40 ms for a delayed ACK."""
    nodelay: list[int] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nodelay.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    listening = _listening_socket("127.0.0.1", 0)
    server = await asyncio.start_server(accepted, sock=listening)
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", listening.getsockname()[1])
        async with asyncio.timeout(TIMEOUT):
            while not nodelay:
                await asyncio.sleep(0.01)
        writer.close()
    assert nodelay == [1]


async def test_http_port_off_and_busy(server_factory, http_server):
    off = await server_factory()
    assert off.http_port is None
    with pytest.raises(RuntimeError, match="cannot listen for HTTP"):
        await server_factory(HTTP_PORT=str(http_server.http_port), HTTP_HOST="127.0.0.1")


# --- the console page ------------------------------------------------------------------


async def test_console_page_is_served(http):
    page = await http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "console.js" in page.text
    script = await http.get("/console/console.js")
    assert script.status_code == 200 and "WatchAlerts" in script.text
    assert (await http.get("/console/../config.py")).status_code == 404


async def test_upload_above_max_upload_bytes_is_refused_over_http(server_factory):
    server = await start_http_server(server_factory, MAX_UPLOAD_BYTES="1000")
    async with (
        Api.connect(server.port) as api,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http,
    ):
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        _, user_row = await admin.new_user()
        device_api, device = await admin.new_device(user_row.id)
        media_type = resources_pb2.MEDIA_TYPE_IMAGE
        media = (await device_api.detection.CreateMyMedia(pb.CreateMyMediaRequest(type=media_type))).media
        data = tiny_jpeg(2000)
        header = pb.UploadMediaHeader(media_id=media.id, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        body = envelope(pb.UploadMediaRequest(header=header).SerializeToString()) + envelope(
            pb.UploadMediaRequest(chunk=data).SerializeToString()
        )
        token = await login(http, device.login, USER_PASSWORD)
        response = await http.post(
            "/pyronear.v1.DetectionService/UploadMedia",
            content=body,
            headers={"Content-Type": "application/connect+proto", **bearer(token)},
        )
    error = end_of_stream(split_envelopes(response.content)[-1][1])["error"]
    assert error["code"] == "invalid_argument" and "1000" in error["message"]


async def test_stopping_the_server_ends_open_http_watch_streams(server_factory):
    server = await start_http_server(server_factory)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}", timeout=TIMEOUT) as http:
        token = await login(http)
        stream = watch_messages(http, token, "application/connect+json", envelope(b"{}"))
        async with asyncio.timeout(TIMEOUT):
            await anext(stream)  # heartbeat: the stream is registered
            stopping = asyncio.create_task(server.stop(grace=5))
            frames = [item async for item in stream]
            await stopping
    assert frames[-1][0] == END_STREAM
    assert end_of_stream(frames[-1][1])["error"]["code"] == "unavailable"


async def test_http_calls_show_in_the_metrics_and_access_log(server_factory, caplog):
    """The HTTP port records its calls like the gRPC port: same counters, same access log."""
    from tests.test_operations import eventually, free_port, sample, scrape

    metrics_port = free_port()
    server = await start_http_server(server_factory, METRICS_PORT=str(metrics_port), METRICS_HOST="127.0.0.1")
    caplog.set_level(logging.INFO, logger="pyrogrpc.access")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}", timeout=TIMEOUT) as client:
        token = await login(client)
        refused = await connect_json(
            client, "AccessService/Login", {"login": ADMIN_LOGIN, "password": "wrong-password"}
        )
        assert refused.status_code == 401
        assert (await connect_json(client, "AccessService/GetMyUser", {}, token)).status_code == 200
    login_labels = {"grpc_type": "unary", "grpc_service": "pyronear.v1.AccessService", "grpc_method": "Login"}

    async def counted():
        samples = await scrape(metrics_port)
        return (
            sample(samples, "grpc_server_handled_total", **login_labels, grpc_code="UNAUTHENTICATED") == 1 and samples
        )

    samples = await eventually(counted)
    assert samples, "the refused HTTP login was not counted"
    assert sample(samples, "grpc_server_handled_total", **login_labels, grpc_code="OK") == 1
    lines = [record.getMessage() for record in caplog.records if record.name == "pyrogrpc.access"]
    assert any(line.startswith("GetMyUser OK") and "scope=admin" in line and "peer=http" in line for line in lines), (
        lines
    )
