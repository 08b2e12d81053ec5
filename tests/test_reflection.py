"""Reflection v1 and v1alpha with the protos' comments, through real clients: grpcurl (v1alpha)
and `buf curl --reflect-protocol grpc-v1` (v1 only, no fallback)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from pyrogrpc.api.reflection import load_descriptor_set, v1_reflection_file

GRPCURL = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")
NPX = shutil.which("npx")


async def run(*command: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(subprocess.run, list(command), capture_output=True, text=True, timeout=timeout)


async def grpcurl(server, *args: str) -> subprocess.CompletedProcess:
    return await run(GRPCURL, "-plaintext", f"127.0.0.1:{server.port}", *args)


async def test_grpcurl_describe_method_shows_its_comment(server):
    result = await grpcurl(server, "describe", "pyronear.v1.AccessService.Login")
    assert result.returncode == 0, result.stderr
    assert "pyronear.v1.AccessService.Login is a method:" in result.stdout
    assert "// Exchanges a login and password" in result.stdout and "UNAUTHENTICATED" in result.stdout
    assert "rpc Login ( .pyronear.v1.LoginRequest ) returns ( .pyronear.v1.LoginResponse );" in result.stdout

    result = await grpcurl(server, "describe", "pyronear.v1.DetectionService")
    assert result.returncode == 0 and "// " in result.stdout and "rpc WatchAlerts" in result.stdout
    result = await grpcurl(server, "describe", "pyronear.v1.LoginRequest")
    assert result.returncode == 0 and "string password = 2;" in result.stdout
    # Files outside our protos (health) are served too, methods included.
    result = await grpcurl(server, "describe", "grpc.health.v1.Health.Check")
    assert result.returncode == 0, result.stderr
    result = await grpcurl(server, "describe", "pyronear.v1.NoSuchThing")
    assert result.returncode != 0 and "not found" in result.stderr.lower()


async def test_grpcurl_lists_both_reflection_versions(server):
    result = await grpcurl(server, "list")
    assert result.returncode == 0, result.stderr
    assert {
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.health.v1.Health",
        "pyronear.v1.AccessService",
        "pyronear.v1.SetupService",
        "pyronear.v1.DetectionService",
    } <= set(result.stdout.split())


@pytest.mark.skipif(NPX is None, reason="npx (for buf curl) is not installed")
async def test_reflection_v1_through_buf_curl(server, caplog):
    caplog.set_level(logging.INFO, logger="pyrogrpc.access")
    result = await run(
        NPX,
        "--yes",
        "@bufbuild/buf@1.75",
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        "--reflect-protocol",
        "grpc-v1",
        "--list-methods",
        f"http://127.0.0.1:{server.port}",
    )
    assert result.returncode == 0, result.stderr
    assert "pyronear.v1.AccessService/Login" in result.stdout.split()
    assert "grpc.reflection.v1.ServerReflection/ServerReflectionInfo" in result.stdout.split()
    # It really spoke v1 (no fallback with --reflect-protocol grpc-v1).
    deadline = asyncio.get_running_loop().time() + 20
    while True:  # the server logs a stream when it ends, maybe after the client exited
        methods = {record.method for record in caplog.records if record.name == "pyrogrpc.access"}
        if (
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" in methods
            or asyncio.get_running_loop().time() > deadline
        ):
            break
        await asyncio.sleep(0.05)
    assert "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" in methods
    assert "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo" not in methods


async def test_v1alpha_file_response_keeps_source_info(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="pyronear.v1.SetupService.Heartbeat")
        responses = [response async for response in stub.ServerReflectionInfo(iter([request]))]
    files = {
        file.name: file
        for file in map(
            descriptor_pb2.FileDescriptorProto.FromString, responses[0].file_descriptor_response.file_descriptor_proto
        )
    }
    assert {"pyronear/v1/setup_service.proto", "pyronear/v1/resources.proto"} <= set(files)
    comments = [
        location.leading_comments for location in files["pyronear/v1/setup_service.proto"].source_code_info.location
    ]
    assert any("Heartbeat" in comment or "heartbeat" in comment for comment in comments)


def test_descriptor_set_covers_every_proto_and_v1_mirrors_v1alpha():
    names = {file.name for file in load_descriptor_set().file}
    protos = {f"pyronear/v1/{path.name}" for path in Path("protos/pyronear/v1").glob("*.proto")}
    assert protos <= names
    v1 = v1_reflection_file()
    alpha = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(alpha)
    assert [(m.name, [(f.name, f.number, f.type) for f in m.field]) for m in v1.message_type] == [
        (m.name, [(f.name, f.number, f.type) for f in m.field]) for m in alpha.message_type
    ]
    assert all(".v1alpha." not in field.type_name for message in v1.message_type for field in message.field)
