"""Configuration: embedded default, seed variable names, clear errors naming the variable."""

from __future__ import annotations

import secrets

import pytest

from pyrogrpc.config import ConfigError, Settings

SECRET = secrets.token_hex(32)


def settings(tmp_path, **env) -> Settings:
    return Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path), **env}, env_file=None)


def test_no_settings_is_embedded_sqlite_and_local_media(tmp_path):
    result = settings(tmp_path)
    assert result.embedded and result.database_url == f"sqlite+aiosqlite:///{tmp_path / 'pyrogrpc.sqlite3'}"
    assert result.s3 is None and result.media_dir == tmp_path / "media"
    assert result.grpc_port == 50051 and result.alert_relaxation_seconds == 1800
    assert result.max_upload_bytes == 20 * 1024 * 1024 and result.superadmin_group == "admins"


def test_postgres_variables_build_a_psycopg_url(tmp_path):
    result = settings(
        tmp_path,
        POSTGRES_DB="pyro",
        POSTGRES_USER="pyro",
        POSTGRES_PASSWORD="p@ss word",
        POSTGRES_HOST="db",
        JWT_SECRET=SECRET,
    )
    assert result.database_url == "postgresql+psycopg://pyro:p%40ss%20word@db:5432/pyro"
    assert not result.embedded


@pytest.mark.parametrize(
    "url, expected",
    [
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql://u@h:5433/d", "postgresql+psycopg://u@h:5433/d"),
    ],
)
def test_database_url_spellings(tmp_path, url, expected):
    assert settings(tmp_path, DATABASE_URL=url, JWT_SECRET=SECRET).database_url == expected


def test_s3_settings(tmp_path):
    result = settings(
        tmp_path,
        BUCKET_NAME="media",
        S3_ENDPOINT_URL="http://s3:9000",
        S3_ACCESS_KEY="a",
        S3_SECRET_KEY="b",
        S3_REGION="eu-west-3",
        S3_PROXY_URL="https://media.example.org",
        BUCKET_MEDIA_FOLDER="/alerts/",
    )
    assert result.s3.bucket_name == "media" and result.s3.proxy_url == "https://media.example.org"
    assert result.media_folder == "alerts"


def test_dotenv_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("GRPC_PORT=6000\nALERT_RELAXATION_SECONDS=60\n")
    result = Settings.from_env({"PYROGRPC_DATA_DIR": str(tmp_path), "GRPC_PORT": "7000"}, env_file=env_file)
    assert result.grpc_port == 7000 and result.alert_relaxation_seconds == 60


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"DATABASE_URL": "postgresql://u@h/d"}, "JWT_SECRET"),
        ({"DATABASE_URL": "postgresql://u@h/d", "POSTGRES_DB": "x", "JWT_SECRET": SECRET}, "DATABASE_URL"),
        ({"POSTGRES_PASSWORD": "x", "JWT_SECRET": SECRET}, "POSTGRES_DB"),
        ({"DATABASE_URL": "mysql://u@h/d", "JWT_SECRET": SECRET}, "DATABASE_URL"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"GRPC_PORT": "http"}, "GRPC_PORT"),
        ({"GRPC_PORT": "70000"}, "GRPC_PORT"),
        ({"S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b"}, "BUCKET_NAME"),
        ({"BUCKET_NAME": "m", "S3_ACCESS_KEY": "a"}, "S3_SECRET_KEY"),
        ({"BUCKET_NAME": "m", "S3_ENDPOINT_URL": "s3.example.org"}, "S3_ENDPOINT_URL"),
        ({"BUCKET_MEDIA_FOLDER": "../etc"}, "BUCKET_MEDIA_FOLDER"),
        ({"MAX_UPLOAD_BYTES": "0"}, "MAX_UPLOAD_BYTES"),
        ({"INCIDENT_WINDOW_SECONDS": "0"}, "INCIDENT_WINDOW_SECONDS"),
        ({"INCIDENT_RANGE_METERS": "10"}, "INCIDENT_RANGE_METERS"),
        ({"INCIDENT_LINK_TEMPLATE": "ftp://x/{incident_id}"}, "INCIDENT_LINK_TEMPLATE"),
        ({"INCIDENT_LINK_TEMPLATE": "https://platform.example/incidents"}, "INCIDENT_LINK_TEMPLATE"),
        ({"INCIDENT_LINK_TEMPLATE": "https://x/{incident_id}/{other}"}, "INCIDENT_LINK_TEMPLATE"),
    ],
)
def test_bad_or_contradictory_settings_name_the_variable(tmp_path, env, variable):
    with pytest.raises(ConfigError, match=variable):
        settings(tmp_path, **env)


def test_cli_reports_config_errors_with_exit_code_2(tmp_path, monkeypatch, capsys):
    from pyrogrpc.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/d")
    monkeypatch.delenv("JWT_SECRET", raising=False)
    assert main(["serve"]) == 2
    assert "JWT_SECRET" in capsys.readouterr().err


def test_camera_contract_settings(tmp_path):
    defaults = settings(tmp_path)
    assert (defaults.max_alert_boxes, defaults.event_iou_threshold, defaults.device_online_seconds) == (20, 0.0, 300)
    assert (defaults.capture_time_skew_seconds, defaults.max_capture_age_seconds) == (60, 86400)
    custom = settings(
        tmp_path,
        MAX_ALERT_BOXES="5",
        EVENT_IOU_THRESHOLD="0.25",
        DEVICE_ONLINE_SECONDS="60",
        CAPTURE_TIME_SKEW_SECONDS="0",
        MAX_CAPTURE_AGE_SECONDS="600",
    )
    assert (custom.max_alert_boxes, custom.event_iou_threshold, custom.device_online_seconds) == (5, 0.25, 60)
    assert (custom.capture_time_skew_seconds, custom.max_capture_age_seconds) == (0, 600)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("EVENT_IOU_THRESHOLD", "1"),
        ("EVENT_IOU_THRESHOLD", "-0.1"),
        ("EVENT_IOU_THRESHOLD", "nan"),
        ("EVENT_IOU_THRESHOLD", "half"),
        ("MAX_ALERT_BOXES", "0"),
        ("DEVICE_ONLINE_SECONDS", "0"),
        ("MAX_CAPTURE_AGE_SECONDS", "x"),
    ],
)
def test_bad_camera_contract_settings_name_the_variable(tmp_path, variable, value):
    with pytest.raises(ConfigError, match=variable):
        settings(tmp_path, **{variable: value})


def test_bcrypt_pool_settings(tmp_path):
    defaults = settings(tmp_path)
    assert (defaults.bcrypt_threads, defaults.bcrypt_nice) == (0, 10)  # 0: one thread per core
    custom = settings(tmp_path, BCRYPT_THREADS="3", BCRYPT_NICE="0")
    assert (custom.bcrypt_threads, custom.bcrypt_nice) == (3, 0)
    for variable, value in [("BCRYPT_THREADS", "-1"), ("BCRYPT_THREADS", "many"), ("BCRYPT_NICE", "20")]:
        with pytest.raises(ConfigError, match=variable):
            settings(tmp_path, **{variable: value})
