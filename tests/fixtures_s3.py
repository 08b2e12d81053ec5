"""A real S3 HTTP endpoint (moto in server mode) for storage tests.

Tests talk to it over loopback with the real boto3 stack, so retries,
timeouts, multipart and presigned URLs behave as against a real S3.
Import the fixture into a test module with
`from tests.fixtures_s3 import moto_s3_endpoint  # noqa: F401`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer


def s3_env(endpoint: str, bucket: str | None = None) -> dict[str, str]:
    """A server's S3 settings for `endpoint` (moto takes any credentials); a fresh bucket name by
    default, created by the server at start."""
    return {
        "S3_ENDPOINT_URL": endpoint,
        "BUCKET_NAME": bucket or f"media-{uuid.uuid4().hex[:12]}",
        "S3_ACCESS_KEY": "test",
        "S3_SECRET_KEY": "test",
        "S3_REGION": "us-east-1",
        "S3_CREATE_BUCKET": "true",  # a fresh bucket per server; tests of a missing bucket drop this
    }


def start_moto() -> tuple[ThreadedMotoServer, str]:
    """Start moto on a free loopback port; returns the server and its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


@pytest.fixture(scope="session")
def moto_s3_endpoint() -> Iterator[str]:
    server, url = start_moto()
    try:
        yield url
    finally:
        server.stop()
