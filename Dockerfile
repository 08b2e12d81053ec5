# pyrogrpc server image. Build: docker build -t pyrogrpc .   Run: see docker-compose.yml.
FROM python:3.11-slim

# PYROGRPC_MIGRATIONS_DIR: a non-editable install has no source tree around
# site-packages, so pyrogrpc.db.migrate is told where the Alembic scripts are.
# PYROGRPC_DATA_DIR: used in embedded mode only (no DATABASE_URL / POSTGRES_*).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYROGRPC_MIGRATIONS_DIR=/app/migrations \
    PYROGRPC_DATA_DIR=/data \
    GRPC_PORT=50051 \
    HTTP_PORT=8080

WORKDIR /app

# grpcio, psycopg and bcrypt ship manylinux wheels: no compiler needed. The install is
# not editable and the sources are removed after it, so only the installed package runs.
# The observability extra (sentry-sdk, posthog) makes SENTRY_DSN / POSTHOG_KEY in .env work.
COPY pyproject.toml README.md ./
COPY pyrogrpc/ pyrogrpc/
COPY generated/ generated/
RUN pip install ".[observability]" && rm -rf build *.egg-info pyrogrpc generated

COPY migrations/ migrations/

RUN useradd --system --uid 10001 --home-dir /data --create-home pyrogrpc
USER pyrogrpc
VOLUME ["/data"]

EXPOSE 50051
EXPOSE 8080
EXPOSE 9464

# gRPC health check of this very server: exit 0 when SERVING. Docker reads any other
# code as unhealthy; `|| exit 1` maps "unreachable" (3) to Docker's documented 1.
HEALTHCHECK --interval=15s --timeout=10s --start-period=20s --retries=3 \
    CMD pyrogrpc health --server "localhost:${GRPC_PORT}" --connect-timeout 5 --timeout 5 || exit 1

CMD ["pyrogrpc", "serve"]
