"""Test helpers for the HTTP port: a server with it on a free port, and the Connect / gRPC-Web
framing written out from the protocol specifications (so the tests check the wire, not a
client library that shares the server's code)."""

from __future__ import annotations

import base64
import json
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from google.protobuf.message import Message
from google.rpc import status_pb2

from pyrogrpc.server import PyroServer

END_STREAM = 0x02  # Connect streaming: the last envelope holds the end-of-stream JSON
TRAILERS = 0x80  # gRPC-Web: the last frame holds the trailers as HTTP/1 header lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def start_http_server(server_factory, **extra_env: str) -> PyroServer:
    """A server with its HTTP port on (retries once if another process took the free port)."""
    for attempt in range(3):
        try:
            return await server_factory(HTTP_PORT=str(free_port()), **extra_env)
        except RuntimeError as error:
            if "cannot listen for HTTP" not in str(error) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def envelope(data: bytes, flags: int = 0) -> bytes:
    return struct.pack(">BI", flags, len(data)) + data


def split_envelopes(body: bytes) -> list[tuple[int, bytes]]:
    frames, at = [], 0
    while at < len(body):
        flags, length = struct.unpack(">BI", body[at : at + 5])
        frames.append((flags, body[at + 5 : at + 5 + length]))
        at += 5 + length
    return frames


async def read_envelopes(lines: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """Envelopes of a streamed response body, as they arrive."""
    buffer = b""
    async for chunk in lines:
        buffer += chunk
        while len(buffer) >= 5:
            flags, length = struct.unpack(">BI", buffer[:5])
            if len(buffer) < 5 + length:
                break
            yield flags, buffer[5 : 5 + length]
            buffer = buffer[5 + length :]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def detail_types(error_json: dict) -> list[str]:
    return [detail["type"] for detail in error_json.get("details", [])]


def detail(error_json: dict, message: Message) -> Message:
    """The detail of `message`'s type in a Connect JSON error, decoded into `message`."""
    name = message.DESCRIPTOR.full_name
    for item in error_json.get("details", []):
        if item["type"] == name:
            message.ParseFromString(base64.b64decode(item["value"] + "=="))
            return message
    raise AssertionError(f"no {name} detail in {error_json}")


@dataclass
class GrpcWebReply:
    status: int
    headers: httpx.Headers
    messages: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def grpc_status(self) -> int:
        return int(self.trailers.get("grpc-status", self.headers.get("grpc-status", "-1")))

    @property
    def rich_status(self) -> status_pb2.Status:
        raw = self.trailers.get("grpc-status-details-bin") or self.headers.get("grpc-status-details-bin") or ""
        return status_pb2.Status.FromString(base64.b64decode(raw + "=="))


def grpc_web_reply(response: httpx.Response) -> GrpcWebReply:
    reply = GrpcWebReply(response.status_code, response.headers)
    for flags, data in split_envelopes(response.content):
        if flags & TRAILERS:
            for line in data.decode().split("\r\n"):
                if line:
                    name, _, value = line.partition(":")
                    reply.trailers[name.strip().lower()] = value.strip()
        else:
            reply.messages.append(data)
    return reply


def end_of_stream(data: bytes) -> dict:
    return json.loads(data or b"{}")
