"""The CLI walk-through of docs/operations.md runs as written against a fresh server, each
line in its own process with no terminal (new passwords come from the prompt, on stdin)."""

from __future__ import annotations

import asyncio
import csv
import os
import re
import secrets
import shlex
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
NEW_PASSWORD = "a-long-password-1"  # answered at every prompt (alice, cam-1)


def walkthrough() -> list[str]:
    text = DOC.read_text()
    section = text[text.index("## The `pyrogrpc` command line") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


async def test_operations_walkthrough_runs_as_written(server_factory, tmp_path):
    superadmin_password = secrets.token_hex(12)
    server = await server_factory(SUPERADMIN_PASSWORD=superadmin_password)
    env = {
        **os.environ,
        "SUPERADMIN_PASSWORD": superadmin_password,
        "PYRO_SERVER": f"127.0.0.1:{server.port}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for name in ("PYRO_LOGIN", "PYRO_PASSWORD"):
        env.pop(name, None)
    outputs: dict[str, str] = {}
    for line in walkthrough():
        if line.startswith("export "):
            for assignment in shlex.split(line)[1:]:
                name, value = assignment.split("=", 1)
                env[name] = value.replace("$SUPERADMIN_PASSWORD", env["SUPERADMIN_PASSWORD"])
            continue
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            line,
            cwd=tmp_path,
            env=env,
            start_new_session=True,  # no terminal: prompts read stdin
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(f"{NEW_PASSWORD}\n".encode()), 60)
        assert process.returncode == 0, f"{line}\n{err.decode()}"
        outputs[line] = out.decode()

    assert "sdis-07" in outputs["pyrogrpc group list"]
    assert "alice" in outputs["pyrogrpc user list --group-id 2"]
    assert "cam-1" in outputs["pyrogrpc device list --all"]
    assert (tmp_path / "frame-1.jpg").read_bytes() == (tmp_path / "frame.jpg").read_bytes()
    assert [row["id"] for row in csv.DictReader((tmp_path / "alerts.csv").open())] == ["1"]
    assert '"is_acknowledged":true' in outputs["pyrogrpc event get 1 --output json"]
    assert '"id":"1"' in outputs["pyrogrpc event triage"]  # acknowledged, not labelled yet
    assert '"label":"EVENT_LABEL_WILDFIRE_SMOKE"' in outputs["pyrogrpc event list --label wildfire"]
    assert '"box":{"x_max":0.3,"y_max":0.2}' in outputs["pyrogrpc mask list 1"]  # proto3 JSON leaves zeros out
    assert outputs["pyrogrpc health"].strip() == "SERVING"
