"""Server configuration, read once at start from the environment (and an optional `.env`).

Variable names are the seed's (pyro-api) so an existing `.env` keeps working. With no
database and no S3 setting the server runs embedded: SQLite and a media folder under one
data directory. A missing or contradictory setting raises `ConfigError` naming the variable,
so the process stops at start instead of failing on the first request.
"""

from __future__ import annotations

import math
import os
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from dotenv import dotenv_values


class ConfigError(ValueError):
    """A setting is missing, malformed or contradicts another one."""


MIN_JWT_SECRET_LENGTH = 32
# Estimated entropy a JWT_SECRET needs (see `estimated_entropy_bits`). A random secret of 32
# hex characters (128 bits) estimates at 96-125 bits; `openssl rand -hex 32` at ~240.
MIN_JWT_SECRET_BITS = 90

# Values shipped in this repository (examples, docs, test and bench fixtures), now or in the
# past: anyone can read them, so a server configured with one would accept forged admin
# tokens or an attacker's superadmin login. tests/test_shipped_secrets.py scans the repository
# and fails when a shipped value is missing here.
SHIPPED_PLACEHOLDERS = frozenset(
    {
        "change-me-to-a-long-random-string-of-48-characters",  # .env.example until issue 13
        "0123456789abcdef0123456789abcdef0123456789abcdef",  # docs/deployment.md until issue 13
        "test-secret-" + "x" * 40,  # tests/helpers.py until issue 13
        "bench-secret-" + "x" * 40,  # bench/common.py until issue 13
        "change-me-superadmin",  # .env.example and docs/deployment.md until issue 13
        "change-me-please",  # README's grpcurl session until issue 13
        "change-me-postgres",
        "change-me-minio",
    }
)
MAX_RETENTION_DAYS = 36500
# Settings that must never hold a shipped value (they give access to the API or its data).
_NO_PLACEHOLDER = ("JWT_SECRET", "SUPERADMIN_PASSWORD", "POSTGRES_PASSWORD", "S3_SECRET_KEY")


@dataclass(frozen=True)
class S3Settings:
    bucket_name: str
    endpoint_url: str | None
    region: str | None
    access_key: str | None
    secret_key: str | None
    proxy_url: str
    create_bucket: bool = False  # S3_CREATE_BUCKET: create a missing bucket at start instead of refusing to start


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    jwt_secret: str
    s3: S3Settings | None
    media_folder: str = ""
    grpc_port: int = 50051
    grpc_host: str = "[::]"
    superadmin_login: str = "superadmin"
    superadmin_password: str | None = None
    superadmin_group: str = "admins"
    bcrypt_rounds: int = 12
    bcrypt_threads: int = 0  # BCRYPT_THREADS: password checks in parallel; 0 = one per core
    bcrypt_nice: int = 10  # BCRYPT_NICE: priority of those threads (0 = the event loop's)
    user_token_minutes: int = 60
    device_token_days: int = 365
    alert_relaxation_seconds: int = 1800
    # Camera contract (issue 15): alert boxes, event grouping by IoU, capture times, liveness.
    max_alert_boxes: int = 20
    event_iou_threshold: float = 0.0
    capture_time_skew_seconds: int = 60
    max_capture_age_seconds: int = 86400
    device_online_seconds: int = 300
    # Incidents (issue 16): events of several cameras fused where their cones cross.
    incident_window_seconds: int = 1800  # events active this recently fuse; an incident unseen this long closes
    incident_range_m: float = 30_000.0  # how far from its tower a cone reaches
    incident_merge_distance_m: float = 2_000.0  # incidents with positions closer than this merge
    incident_sweep_seconds: int = 30  # how often overdue incidents close and unfused events are fused
    incident_link_template: str | None = None  # e.g. "https://platform.example/incidents/{incident_id}"
    max_upload_bytes: int = 20 * 1024 * 1024
    media_url_expire_seconds: int = 3600
    # Uploads in progress, per device and in all: each holds up to one S3 part in memory.
    max_uploads_per_device: int = 2
    max_uploads_total: int = 32
    upload_idle_seconds: int = 30  # a stream that sends nothing this long is cut
    upload_sweep_age_seconds: int = 3600  # staged uploads older than this are debris of a crash
    upload_sweep_interval_seconds: int = 600
    # Retention (pyro-api #117): stored content of media older than this many days whose event
    # is not labelled wildfire smoke is deleted, the row kept with its purge_time. 0 = keep forever.
    media_retention_days: int = 0
    media_purge_interval_seconds: int = 3600
    media_purge_batch_size: int = 100  # media per batch: one read, their deletes, one UPDATE
    telegram_token: str | None = None
    telegram_base_url: str = "https://api.telegram.org"
    sentry_dsn: str | None = None
    sentry_server_name: str | None = None
    posthog_key: str | None = None
    # Operations: Prometheus endpoint (METRICS_PORT 0 = off) and log line format.
    metrics_port: int = 9464
    metrics_host: str = "0.0.0.0"
    log_format: str = "text"
    otel_endpoint: str | None = None  # OTEL_EXPORTER_OTLP_ENDPOINT: tracing on (the `tracing` extra)
    # --- HTTP port (Connect, gRPC-Web, console; pyrogrpc/http) ---
    http_port: int = 8080  # 0 = no HTTP listener
    http_host: str = "[::]"
    cors_origins: tuple[str, ...] = ()
    # Set by `serve --workers N` (pyrogrpc/workers.py), not from the environment: the HTTP
    # port is shared with the other workers (SO_REUSEPORT; the gRPC port always allows it).
    reuse_port: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded(self) -> bool:
        """Embedded = SQLite; such a server migrates its own database on start."""
        return self.is_sqlite

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env") -> Settings:
        """Build settings from `environ` (default: os.environ) over the values of `env_file`."""
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        return _parse(values)


def _get(values: Mapping[str, str], name: str) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _int(values: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = _get(values, name)
    if raw is None:
        return default
    try:
        number = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{name} must be {bound}, got {number}")
    return number


def _fraction(values: Mapping[str, str], name: str, default: float) -> float:
    """A number in [0, 1) (an IoU threshold: 1 could never be exceeded)."""
    raw = _get(values, name)
    if raw is None:
        return default
    try:
        number = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not 0.0 <= number < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {number}")
    return number


def _database_url(values: Mapping[str, str], data_dir: Path) -> str:
    url = _get(values, "DATABASE_URL")
    pg = {
        name: _get(values, name)
        for name in ("POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_HOST", "POSTGRES_PORT")
    }
    if url and any(pg.values()):
        given = ", ".join(name for name, value in pg.items() if value)
        raise ConfigError(f"DATABASE_URL contradicts {given}: set either DATABASE_URL or the POSTGRES_* variables")
    if url:
        return normalize_database_url(url)
    if any(pg.values()):
        for required in ("POSTGRES_DB", "POSTGRES_USER"):
            if not pg[required]:
                raise ConfigError(f"{required} is required when other POSTGRES_* variables are set")
        port = _int(values, "POSTGRES_PORT", 5432, 1, 65535)
        password = f":{quote(pg['POSTGRES_PASSWORD'] or '', safe='')}" if pg["POSTGRES_PASSWORD"] else ""
        host = pg["POSTGRES_HOST"] or "localhost"
        return f"postgresql+psycopg://{quote(pg['POSTGRES_USER'] or '', safe='')}{password}@{host}:{port}/{pg['POSTGRES_DB']}"
    return f"sqlite+aiosqlite:///{data_dir / 'pyrogrpc.sqlite3'}"


def normalize_database_url(url: str) -> str:
    """Map the usual URL spellings onto the async drivers we ship (psycopg 3, aiosqlite)."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql+psycopg://", "sqlite+aiosqlite://")):
        return url
    raise ConfigError(f"DATABASE_URL must be a postgresql:// or sqlite:/// URL, got scheme {url.split(':', 1)[0]!r}")


def _bool(values: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = _get(values, name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _s3(values: Mapping[str, str]) -> S3Settings | None:
    names = ("S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_REGION", "S3_ENDPOINT_URL", "BUCKET_NAME", "S3_PROXY_URL")
    given = {name: _get(values, name) for name in names}
    if not any(given.values()):
        return None
    if not given["BUCKET_NAME"]:
        others = ", ".join(name for name, value in given.items() if value)
        raise ConfigError(f"BUCKET_NAME is required when S3 is configured ({others} set)")
    if bool(given["S3_ACCESS_KEY"]) != bool(given["S3_SECRET_KEY"]):
        missing = "S3_SECRET_KEY" if given["S3_ACCESS_KEY"] else "S3_ACCESS_KEY"
        raise ConfigError(f"{missing} is required: S3_ACCESS_KEY and S3_SECRET_KEY go together")
    for name in ("S3_ENDPOINT_URL", "S3_PROXY_URL"):
        url = given[name]
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"{name} must start with http:// or https://, got {given[name]!r}")
    return S3Settings(
        bucket_name=given["BUCKET_NAME"],
        endpoint_url=given["S3_ENDPOINT_URL"],
        region=given["S3_REGION"],
        access_key=given["S3_ACCESS_KEY"],
        secret_key=given["S3_SECRET_KEY"],
        proxy_url=given["S3_PROXY_URL"] or "",
        create_bucket=_bool(values, "S3_CREATE_BUCKET"),
    )


def estimated_entropy_bits(secret: str) -> float:
    """Length x Shannon entropy of the secret's own character frequencies: an upper bound of
    what the string can carry, low for repeated or padded text ("test-secret-xxxx...": 70)."""
    counts = Counter(secret)
    return -sum(n * math.log2(n / len(secret)) for n in counts.values())


def check_jwt_secret(secret: str, source: str = "JWT_SECRET") -> None:
    """Refuse a key anyone could guess: a value shipped in the repository, fewer than 32
    characters, or an estimated entropy under 90 bits. `source` names it in the error."""
    advice = "generate one with: openssl rand -hex 32"
    if secret in SHIPPED_PLACEHOLDERS:
        raise ConfigError(f"{source} is a placeholder published in the pyrogrpc repository: {advice}")
    if len(secret) < MIN_JWT_SECRET_LENGTH:
        raise ConfigError(f"{source} must be at least {MIN_JWT_SECRET_LENGTH} characters long: {advice}")
    bits = estimated_entropy_bits(secret)
    if bits < MIN_JWT_SECRET_BITS:
        raise ConfigError(
            f"{source} looks guessable (about {bits:.0f} bits of entropy, {MIN_JWT_SECRET_BITS} needed): {advice}"
        )


def _refuse_placeholders(values: Mapping[str, str]) -> None:
    for name in _NO_PLACEHOLDER:
        if _get(values, name) in SHIPPED_PLACEHOLDERS:
            raise ConfigError(f"{name} is a placeholder published in the pyrogrpc repository: choose your own value")


def _superadmin_password(values: Mapping[str, str]) -> str | None:
    """Checked here, not at the first request: the superadmin is created at start (bcrypt
    takes at most 72 bytes and stops at a NUL, so neither is ever accepted)."""
    from .domain.security import MAX_PASSWORD_BYTES, MIN_PASSWORD_LENGTH

    password = _get(values, "SUPERADMIN_PASSWORD")
    if password is not None and not (
        len(password) >= MIN_PASSWORD_LENGTH and len(password.encode()) <= MAX_PASSWORD_BYTES and "\x00" not in password
    ):
        raise ConfigError(
            f"SUPERADMIN_PASSWORD must be {MIN_PASSWORD_LENGTH} characters to {MAX_PASSWORD_BYTES} bytes, without NUL"
        )
    return password


def _jwt_secret(values: Mapping[str, str], data_dir: Path, embedded: bool) -> str:
    secret = _get(values, "JWT_SECRET")
    if secret:
        check_jwt_secret(secret)
        return secret
    if not embedded:
        # Replicas must share one key, so a server on PostgreSQL never invents its own.
        raise ConfigError("JWT_SECRET is required when the database is PostgreSQL")
    return load_or_create_secret(data_dir / "jwt_secret")


def load_or_create_secret(path: Path) -> str:
    """Read the embedded server's JWT key, creating it (mode 0600) on first start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        try:
            check_jwt_secret(secret, source=f"the JWT key in {path}")
        except ConfigError as error:
            raise ConfigError(f"{error} (or delete the file, or set JWT_SECRET)") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


def _parse(values: Mapping[str, str]) -> Settings:
    _refuse_placeholders(values)
    data_dir = Path(_get(values, "PYROGRPC_DATA_DIR") or ".pyrogrpc").expanduser().resolve()
    database_url = _database_url(values, data_dir)
    embedded = database_url.startswith("sqlite")
    if embedded:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = (_get(values, "BUCKET_MEDIA_FOLDER") or "").strip("/")
    if ".." in folder.split("/"):
        raise ConfigError("BUCKET_MEDIA_FOLDER must not contain '..'")
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        jwt_secret=_jwt_secret(values, data_dir, embedded),
        s3=_s3(values),
        media_folder=folder,
        grpc_port=_int(values, "GRPC_PORT", 50051, 0, 65535),
        grpc_host=_get(values, "GRPC_HOST") or "[::]",
        superadmin_login=_get(values, "SUPERADMIN_LOGIN") or "superadmin",
        superadmin_password=_superadmin_password(values),
        superadmin_group=_get(values, "SUPERADMIN_GROUP") or "admins",
        bcrypt_rounds=_int(values, "BCRYPT_ROUNDS", 12, 4, 16),
        bcrypt_threads=_int(values, "BCRYPT_THREADS", 0, 0, 256),
        bcrypt_nice=_int(values, "BCRYPT_NICE", 10, 0, 19),
        user_token_minutes=_int(values, "JWT_USER_EXPIRE_MINUTES", 60, 1),
        device_token_days=_int(values, "JWT_DEVICE_EXPIRE_DAYS", 365, 1),
        alert_relaxation_seconds=_int(values, "ALERT_RELAXATION_SECONDS", 1800, 0),
        max_alert_boxes=_int(values, "MAX_ALERT_BOXES", 20, 1, 1000),
        event_iou_threshold=_fraction(values, "EVENT_IOU_THRESHOLD", 0.0),
        capture_time_skew_seconds=_int(values, "CAPTURE_TIME_SKEW_SECONDS", 60, 0),
        max_capture_age_seconds=_int(values, "MAX_CAPTURE_AGE_SECONDS", 86400, 1),
        device_online_seconds=_int(values, "DEVICE_ONLINE_SECONDS", 300, 1),
        incident_window_seconds=_int(values, "INCIDENT_WINDOW_SECONDS", 1800, 1),
        incident_range_m=float(_int(values, "INCIDENT_RANGE_METERS", 30_000, 100, 200_000)),
        incident_merge_distance_m=float(_int(values, "INCIDENT_MERGE_DISTANCE_METERS", 2_000, 0, 100_000)),
        incident_sweep_seconds=_int(values, "INCIDENT_SWEEP_SECONDS", 30, 1),
        incident_link_template=_incident_link_template(values),
        max_upload_bytes=_int(values, "MAX_UPLOAD_BYTES", 20 * 1024 * 1024, 1),
        media_url_expire_seconds=_int(values, "MEDIA_URL_EXPIRE_SECONDS", 3600, 1, 7 * 24 * 3600),
        max_uploads_per_device=_int(values, "MAX_UPLOADS_PER_DEVICE", 2, 1),
        max_uploads_total=_int(values, "MAX_UPLOADS_TOTAL", 32, 1),
        upload_idle_seconds=_int(values, "UPLOAD_IDLE_SECONDS", 30, 1),
        upload_sweep_age_seconds=_int(values, "UPLOAD_SWEEP_AGE_SECONDS", 3600, 1),
        upload_sweep_interval_seconds=_int(values, "UPLOAD_SWEEP_INTERVAL_SECONDS", 600, 1),
        # Bounded: 100 years is "keep forever" spelled long, and a bigger value would overflow dates.
        media_retention_days=_int(values, "MEDIA_RETENTION_DAYS", 0, 0, MAX_RETENTION_DAYS),
        media_purge_interval_seconds=_int(values, "MEDIA_PURGE_INTERVAL_SECONDS", 3600, 1, 7 * 24 * 3600),
        media_purge_batch_size=_int(values, "MEDIA_PURGE_BATCH_SIZE", 100, 1, 10_000),
        telegram_token=_get(values, "TELEGRAM_TOKEN"),
        telegram_base_url=_get(values, "TELEGRAM_BASE_URL") or "https://api.telegram.org",
        sentry_dsn=_get(values, "SENTRY_DSN"),
        sentry_server_name=_get(values, "SENTRY_SERVER_NAME"),
        posthog_key=_get(values, "POSTHOG_KEY"),
        # Operations: metrics endpoint and log format.
        metrics_port=_int(values, "METRICS_PORT", 9464, 0, 65535),
        metrics_host=_get(values, "METRICS_HOST") or "0.0.0.0",
        log_format=_log_format(values),
        otel_endpoint=_get(values, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        **_http(values),
    )


def _incident_link_template(values: Mapping[str, str]) -> str | None:
    """INCIDENT_LINK_TEMPLATE: an http(s) URL with an {incident_id} placeholder, or unset."""
    template = _get(values, "INCIDENT_LINK_TEMPLATE")
    if template is None:
        return None
    if not template.startswith(("http://", "https://")) or "{incident_id}" not in template:
        raise ConfigError(
            "INCIDENT_LINK_TEMPLATE must be an http(s) URL holding {incident_id}, "
            "e.g. https://platform.example/incidents/{incident_id}"
        )
    try:
        template.format(incident_id=1)
    except (KeyError, IndexError, ValueError):
        raise ConfigError("INCIDENT_LINK_TEMPLATE may only hold the placeholder {incident_id}") from None
    return template


LOG_FORMATS = ("text", "json")


def _log_format(values: Mapping[str, str]) -> str:
    value = (_get(values, "LOG_FORMAT") or "text").lower()
    if value not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {value!r}")
    return value


def _http(values: Mapping[str, str]) -> dict:
    """HTTP_PORT (0 = off), HTTP_HOST, CORS_ORIGINS (comma-separated exact origins)."""
    origins = tuple(
        origin.strip().rstrip("/") for origin in (_get(values, "CORS_ORIGINS") or "").split(",") if origin.strip()
    )
    for origin in origins:
        # Browsers compare the whole origin; a wildcard would let any site's script use a token
        # it got hold of, so only exact origins are accepted.
        scheme, _, rest = origin.partition("://")
        if scheme not in ("http", "https") or not rest or "/" in rest or "*" in origin:
            raise ConfigError(f"CORS_ORIGINS must list exact origins like https://dash.example.org, got {origin!r}")
    return {
        "http_port": _int(values, "HTTP_PORT", 8080, 0, 65535),
        "http_host": _get(values, "HTTP_HOST") or _get(values, "GRPC_HOST") or "[::]",
        "cors_origins": origins,
    }
