"""docs/incidents.md's grpcurl session runs as written against a real `pyrogrpc serve`.

Each `$ ` command of its console blocks runs in one bash session (variables carry over);
every output line the doc shows must come out. Fusion happens moments after an alert, so a
command whose output is not there yet is run again (polled) until it is or 30 s pass.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import wait_for_port

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "incidents.md"


def session() -> list[tuple[str, list[str]]]:
    text = DOC.read_text().split("## An incident's life with grpcurl", 1)[1].split("\n## ", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    for block in text.split("```console\n")[1:]:
        for line in block.split("\n```", 1)[0].splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif line.strip():
                steps[-1][1].append(line)
    return steps


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_incident_session_runs_as_written(tmp_path):
    tools = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    if shutil.which("grpcurl", path=tools) is None or shutil.which("jq", path=tools) is None:
        pytest.skip("grpcurl or jq is not installed")
    steps = session()
    assert len(steps) > 10 and steps[0][0].startswith("S=localhost:50051")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "POSTGRES_", "DATABASE_", "S3_"))}
    env.update(PATH=tools, SUPERADMIN_PASSWORD=secrets.token_urlsafe(16))
    server = subprocess.Popen(
        [sys.executable, "-m", "pyrogrpc", "serve"],
        cwd=tmp_path,
        env={**env, "GRPC_PORT": str(port), "HTTP_PORT": "0", "METRICS_PORT": "0", "PYROGRPC_DATA_DIR": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    shell = subprocess.Popen(
        ["bash"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert shell.stdin is not None and shell.stdout is not None

    def run(command: str) -> list[str]:
        marker = f"@@done-{time.monotonic_ns()}"
        shell.stdin.write(f"{command} 2>&1\necho {marker}\n")
        shell.stdin.flush()
        lines = []
        while (line := shell.stdout.readline().rstrip("\n")) != marker:
            lines.append(line)
        return lines

    try:
        wait_for_port(port, server)
        for command, expected in steps:
            command = command.replace("localhost:50051", f"localhost:{port}")
            deadline = time.monotonic() + 30
            while True:
                actual = run(command)
                missing = [line for line in expected if line not in actual]
                if not missing:
                    break
                # Only reads are run again: a create must not repeat.
                assert "List" in command or "Get" in command, f"{command!r}: missing {missing} in\n{actual}"
                assert time.monotonic() < deadline, f"{command!r}: missing {missing} in\n{actual}"
                time.sleep(0.1)
            if not expected:
                assert actual == [], f"{command!r} printed {actual}"
    finally:
        shell.kill()
        server.terminate()
        server.wait(timeout=60)
