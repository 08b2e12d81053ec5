"""Deployment files checked without a Docker engine: compose services, order, health checks,
variable names against the ones config.py reads, the Dockerfile's essentials, the docs' table."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Variables pyrogrpc reads outside config.py (where the image finds the Alembic scripts).
EXTRA_VARIABLES = {"PYROGRPC_MIGRATIONS_DIR"}
# Required by compose but never shipped: .env.example documents one step that generates them.
GENERATED_SECRETS = {"JWT_SECRET", "POSTGRES_PASSWORD", "S3_SECRET_KEY"}


def config_variables() -> set[str]:
    """Every environment variable name config.py reads (quoted upper-case names)."""
    source = (ROOT / "pyrogrpc" / "config.py").read_text()
    return set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', source))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """Instructions of the Dockerfile, continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [line.strip() for line in "\n".join(lines).replace("\\\n", " ").splitlines() if line.strip()]


def env_file_variables(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def test_config_variables_are_found():
    # Guards the regex: a few names config.py certainly reads.
    assert {
        "POSTGRES_DB",
        "S3_ACCESS_KEY",
        "BUCKET_NAME",
        "JWT_SECRET",
        "GRPC_PORT",
        "SUPERADMIN_PASSWORD",
    } <= config_variables()


def test_compose_has_the_stack_services(compose):
    assert set(compose["services"]) == {"pyrogrpc", "postgres", "minio", "createbuckets", "migrate"}
    assert compose["services"]["postgres"]["image"].startswith("postgres:15")
    assert compose["services"]["createbuckets"]["image"].startswith("minio/mc")
    assert compose["services"]["minio"]["image"].startswith("minio/minio")


def test_server_publishes_the_grpc_port(compose):
    server = compose["services"]["pyrogrpc"]
    assert any(str(port).endswith(":50051") for port in server["ports"])
    assert server["environment"]["GRPC_PORT"] == "50051"
    assert server["command"] == ["pyrogrpc", "serve"]


@pytest.mark.parametrize(("variable", "port"), [("HTTP_PORT", "8080"), ("METRICS_PORT", "9464")])
def test_server_publishes_the_http_and_metrics_ports(compose, dockerfile, variable, port):
    server = compose["services"]["pyrogrpc"]
    assert server["environment"][variable] == port
    assert any(str(published).endswith(f":{port}") for published in server["ports"])
    assert f"EXPOSE {port}" in dockerfile


def test_server_gets_the_time_to_stop_cleanly(compose):
    """Calls' grace plus the clean-up wait of PyroServer.stop() fit before Docker's SIGKILL."""
    from pyrogrpc.server import CLEAN_UP_SECONDS

    grace = compose["services"]["pyrogrpc"]["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) >= 5 + CLEAN_UP_SECONDS


def test_start_order(compose):
    services = compose["services"]
    conditions = {
        name: {dep: spec["condition"] for dep, spec in service.get("depends_on", {}).items()}
        for name, service in services.items()
    }
    assert conditions["pyrogrpc"] == {
        "postgres": "service_healthy",
        "migrate": "service_completed_successfully",
        "createbuckets": "service_completed_successfully",
    }
    assert conditions["migrate"] == {"postgres": "service_healthy"}
    assert conditions["createbuckets"] == {"minio": "service_healthy"}
    assert services["migrate"]["command"] == ["pyrogrpc", "migrate"]
    for one_shot in ("migrate", "createbuckets"):
        assert services[one_shot]["restart"] == "no"


def test_healthchecks(compose):
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["minio"]["healthcheck"]["test"]
    server_check = " ".join(services["pyrogrpc"]["healthcheck"]["test"])
    assert "pyrogrpc health" in server_check
    assert "mc mb --ignore-existing" in " ".join(services["createbuckets"]["command"])


def test_server_environment_uses_config_names(compose):
    known = config_variables() | EXTRA_VARIABLES
    for name in ("pyrogrpc", "migrate"):
        service = compose["services"][name]
        assert service["env_file"] == ".env"
        assert set(service["environment"]) <= known, set(service["environment"]) - known
    # The variables interpolated from .env into the other services are pyrogrpc's too.
    interpolated = set(re.findall(r"\$\{([A-Z_0-9]+)", (ROOT / "docker-compose.yml").read_text()))
    assert interpolated <= known, interpolated - known


def test_env_example_names_are_config_names():
    example = env_file_variables(ROOT / ".env.example")
    assert set(example) <= config_variables(), set(example) - config_variables()
    # What compose requires (`${NAME:?...}`) is in the example, or made by its documented step.
    required = set(re.findall(r"\$\{([A-Z_0-9]+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required <= set(example) | GENERATED_SECRETS, required - set(example) - GENERATED_SECRETS
    assert not GENERATED_SECRETS & set(example)  # a shipped value would be usable by anyone


def documented_env_step() -> str:
    """The one command at the top of .env.example that creates .env with fresh secrets."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#   cp .env.example .env"))
    end = next(i for i in range(start, len(lines)) if lines[i] == "#   EOF")
    return "\n".join(line[len("#   ") :] for line in lines[start : end + 1]) + "\n"


def test_the_documented_env_step_gives_a_configuration_the_server_accepts(tmp_path):
    from dotenv import dotenv_values

    from pyrogrpc.config import Settings

    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    subprocess.run(["bash", "-c", documented_env_step()], cwd=tmp_path, check=True)
    values = {k: v for k, v in dotenv_values(tmp_path / ".env").items() if v}
    assert set(values) >= GENERATED_SECRETS
    assert 8 <= len(values["S3_SECRET_KEY"]) <= 40  # MinIO's bounds of a root password
    settings = Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path / "data")}, env_file=tmp_path / ".env")
    assert settings.jwt_secret == values["JWT_SECRET"] and not settings.is_sqlite


def test_dockerfile_essentials(dockerfile):
    instructions = {line.split()[0].upper() for line in dockerfile}
    assert dockerfile[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in dockerfile if line.upper().startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert "EXPOSE 50051" in dockerfile
    healthcheck = next(line for line in dockerfile if line.upper().startswith("HEALTHCHECK"))
    assert "pyrogrpc health" in healthcheck
    assert dockerfile[-1] == 'CMD ["pyrogrpc", "serve"]'
    assert {"COPY", "RUN", "ENV"} <= instructions
    run_install = next(line for line in dockerfile if line.startswith("RUN pip install"))
    assert '".[observability]"' in run_install and "-e" not in run_install.split()  # SENTRY_DSN, POSTHOG_KEY work
    # The non-editable install finds the migrations through this variable.
    assert any("PYROGRPC_MIGRATIONS_DIR=/app/migrations" in line for line in dockerfile)
    assert "COPY migrations/ migrations/" in dockerfile


def test_dockerignore_keeps_what_the_image_needs():
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")
    }
    assert {".git", ".venv", ".env"} <= ignored
    assert not ignored & {"pyrogrpc", "generated", "migrations", "pyproject.toml", "README.md"}


def test_deployment_doc_lists_every_variable():
    doc = (ROOT / "docs" / "deployment.md").read_text()
    missing = {name for name in config_variables() | EXTRA_VARIABLES if f"`{name}`" not in doc}
    assert not missing, f"docs/deployment.md does not describe {sorted(missing)}"


def test_migrations_dir_can_be_overridden(tmp_path):
    """The image's non-editable install has no <repo>/migrations beside the package."""
    code = "from pyrogrpc.db.migrate import MIGRATIONS_DIR; print(MIGRATIONS_DIR)"
    env = {**os.environ, "PYROGRPC_MIGRATIONS_DIR": str(tmp_path)}
    overridden = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert overridden.stdout.strip() == str(tmp_path)
    env.pop("PYROGRPC_MIGRATIONS_DIR")
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert Path(default.stdout.strip()) == ROOT / "migrations"


# --- reproducible set-up (issue 13, item 13) -----------------------------------------------


def _check_generated(tree: Path) -> subprocess.CompletedProcess:
    """`make check-generated` in a copy of the stubs, with this venv's protoc (the install
    step is marked done with -o: it is not what is tested here)."""
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", f"PYTHON={sys.executable}", "check-generated"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_generated_ignores_version_banners_but_not_real_changes(tmp_path):
    tree = tmp_path / "repo"
    tree.mkdir()
    for name in ("Makefile", "pyproject.toml", "requirements.lock"):
        shutil.copy(ROOT / name, tree / name)
    for folder in ("protos", "generated"):
        shutil.copytree(ROOT / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert _check_generated(tree).returncode == 0

    # Another patch release of grpcio-tools / protoc writes other version banners: still up to date.
    grpc_stub = tree / "generated/pyronear/v1/access_service_pb2_grpc.py"
    grpc_stub.write_text(
        re.sub(r"GRPC_GENERATED_VERSION = '[^']*'", "GRPC_GENERATED_VERSION = '9.99.9'", grpc_stub.read_text())
    )
    messages = tree / "generated/pyronear/v1/resources_pb2.py"
    messages.write_text(
        re.sub(r"# Protobuf Python Version: \S+", "# Protobuf Python Version: 9.99.9", messages.read_text())
    )
    result = _check_generated(tree)
    assert result.returncode == 0, result.stdout + result.stderr

    # A real difference (a stub that no longer matches the protos) still fails.
    typed = tree / "generated/pyronear/v1/resources_pb2.pyi"
    typed.write_text(typed.read_text().replace("class Group(", "class Grouq(", 1))
    result = _check_generated(tree)
    assert result.returncode != 0 and "generated/ is stale" in result.stderr


def test_make_install_uses_the_hashed_lock():
    makefile = (ROOT / "Makefile").read_text()
    install = re.search(r"^\$\(INSTALLED\): (.*)\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert install and "requirements.lock" in install.group(1)
    recipe = install.group(2)
    assert "pip install -q --require-hashes -r requirements.lock" in recipe
    assert "--no-deps" in recipe  # the project itself adds nothing beyond the lock
    lock = (ROOT / "requirements.lock").read_text()
    pins = [line for line in lock.splitlines() if line and not line.startswith((" ", "#"))]
    assert pins and all("==" in line for line in pins)
    assert all("--hash=sha256:" in block for block in lock.split("==")[1:])
