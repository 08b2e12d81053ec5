"""No usable secret ships with the repository (issue 13, item 1).

`cp .env.example .env` used to give a JWT_SECRET anyone could read, and a token signed with
it got SCOPE_ADMIN. The server now refuses (exit 2, naming the variable) every JWT_SECRET or
SUPERADMIN_PASSWORD written in a file of the repository, and a JWT_SECRET with too little
entropy. This module scans the repository's files, so a value added to a doc later is caught.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pyrogrpc.config import SHIPPED_PLACEHOLDERS, ConfigError, Settings, check_jwt_secret, estimated_entropy_bits

ROOT = Path(__file__).resolve().parents[1]
# `NAME=value`, `NAME: value`, `"NAME": "value"`; a value starting with `$` or `{` (shell,
# compose or f-string interpolation) or written as code (`secrets.token_hex(32)`, a variable) is not a literal.
_ASSIGNMENT = re.compile(r"""\b(JWT_SECRET|SUPERADMIN_PASSWORD)["']?[ \t]*[:=][ \t]*["']?([^\s"'`]+)""")
_NOT_A_LITERAL = re.compile(r"^(\$|\{|[A-Za-z_][A-Za-z0-9_.]*(\(|,|\)|$))")
_OLD_ENV_EXAMPLE_SECRET = "change-me-to-a-long-random-string-of-48-characters"


def shipped_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode == 0:
        names = [name for name in listed.stdout.decode().split("\0") if name]
    else:  # not a git checkout (e.g. an unpacked archive): every file but the tool folders
        names = [
            str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and not {".git", ".venv"} & set(p.parts)
        ]
    this_file = str(Path(__file__).relative_to(ROOT))  # its samples of the scanner are literals on purpose
    return [
        ROOT / name
        for name in names
        if not name.startswith("generated/") and name != this_file and (ROOT / name).is_file()
    ]


def literal_assignments(text: str) -> list[tuple[str, str]]:
    found = []
    for name, value in _ASSIGNMENT.findall(text):
        value = value.rstrip(",;)}")
        if value and not _NOT_A_LITERAL.match(value) and value != "...":
            found.append((name, value))
    return found


def shipped_values() -> dict[tuple[str, str], Path]:
    values: dict[tuple[str, str], Path] = {}
    for path in shipped_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # binary files
        for assignment in literal_assignments(text):
            values.setdefault(assignment, path)
    return values


def test_the_scanner_finds_literals_and_skips_code_and_interpolation():
    sample = (
        "JWT_SECRET=abc123-literal\n"
        "  JWT_SECRET: yaml-literal\n"
        '{"SUPERADMIN_PASSWORD": "dict-literal"}\n'
        "JWT_SECRET=$(openssl rand -hex 32)\n"
        "JWT_SECRET: ${JWT_SECRET:?set it}\n"
        'f"SUPERADMIN_PASSWORD={password}"\n'
        "JWT_SECRET = secrets.token_hex(32)\n"
        '"JWT_SECRET": JWT_SECRET,\n'
    )
    assert literal_assignments(sample) == [
        ("JWT_SECRET", "abc123-literal"),
        ("JWT_SECRET", "yaml-literal"),
        ("SUPERADMIN_PASSWORD", "dict-literal"),
    ]


def test_every_secret_written_in_the_repository_is_refused(tmp_path):
    for (name, value), path in shipped_values().items():
        env = {"PYROGRPC_DATA_DIR": str(tmp_path), name: value}
        with pytest.raises(ConfigError, match=name):
            Settings.from_env(env, env_file=None)
        assert value in SHIPPED_PLACEHOLDERS or name == "JWT_SECRET", f"{name}={value} in {path} is not refused"


@pytest.mark.parametrize("value", sorted(SHIPPED_PLACEHOLDERS))
@pytest.mark.parametrize("name", ["JWT_SECRET", "SUPERADMIN_PASSWORD", "POSTGRES_PASSWORD", "S3_SECRET_KEY"])
def test_known_placeholders_are_refused(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"{name} is a placeholder"):
        Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path), name: value}, env_file=None)


@pytest.mark.parametrize(
    "secret",
    [
        "test-secret-" + "y" * 40,  # padded: ~70 bits
        "ab" * 32,  # a pattern: 64 bits
        "passwordpasswordpasswordpassword",
        "s" * 64,
        secrets.token_hex(15),  # 30 characters: too short, whatever its entropy
    ],
)
def test_guessable_jwt_secrets_are_refused(secret):
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        check_jwt_secret(secret)


@pytest.mark.parametrize(
    "secret", [secrets.token_hex(16), secrets.token_hex(32), secrets.token_urlsafe(24), secrets.token_urlsafe(48)]
)
def test_generated_jwt_secrets_are_accepted(secret):
    check_jwt_secret(secret)
    assert estimated_entropy_bits(secret) >= 90


def test_a_guessable_generated_key_file_is_refused(tmp_path):
    (tmp_path / "jwt_secret").write_text("x" * 48 + "\n")
    with pytest.raises(ConfigError, match="jwt_secret"):
        Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path)}, env_file=None)


@pytest.mark.parametrize("password", ["short", "é" * 37])
def test_an_unusable_superadmin_password_stops_the_start(tmp_path, password):
    with pytest.raises(ConfigError, match="SUPERADMIN_PASSWORD"):
        Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path), "SUPERADMIN_PASSWORD": password}, env_file=None)


def test_env_example_and_compose_carry_no_usable_secret():
    example = (ROOT / ".env.example").read_text()
    for name in ("JWT_SECRET", "SUPERADMIN_PASSWORD", "POSTGRES_PASSWORD", "S3_SECRET_KEY"):
        assert not re.search(rf"^{name}=\S", example, re.MULTILINE), f".env.example sets {name}"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = compose["x-pyrogrpc-environment"]
    # compose stops with this message when .env lacks the secret (no default, no fallback).
    assert environment["JWT_SECRET"].startswith("${JWT_SECRET:?") and "openssl rand" in environment["JWT_SECRET"]


def test_serve_with_the_copied_env_example_exits_2_naming_jwt_secret(tmp_path):
    """`cp .env.example .env && pyrogrpc serve`, without the documented secret step."""
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("JWT_", "POSTGRES_", "DATABASE_", "S3_"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "pyrogrpc", "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "JWT_SECRET" in result.stderr


def test_serve_refuses_the_old_env_example_secret(tmp_path):
    env = {**os.environ, "PYROGRPC_DATA_DIR": str(tmp_path / "data"), "JWT_SECRET": _OLD_ENV_EXAMPLE_SECRET}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "pyrogrpc", "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "JWT_SECRET is a placeholder" in result.stderr
