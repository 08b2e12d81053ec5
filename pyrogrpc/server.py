"""Server assembly: builds every component from one `Settings` object (no import-time
globals), so tests start real in-process servers on free ports with their own settings.

Start-up order: database (migrated in embedded mode, otherwise checked), media storage
(a missing bucket stops the start, an unreachable storage starts NOT_SERVING), superadmin,
background queue, gRPC server with health and reflection, the storage sweeper and (with
MEDIA_RETENTION_DAYS) the media purger. Shutdown reverses it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import signal
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from pyronear.v1 import (
    access_service_pb2,
    access_service_pb2_grpc,
    detection_service_pb2,
    detection_service_pb2_grpc,
    setup_service_pb2,
    setup_service_pb2_grpc,
)

from . import log_safety
from .api.access import AccessServicer
from .api.auth import AuthInterceptor, CallAuthorizer
from .api.calls import CallsInFlight
from .api.detection import DetectionServicer
from .api.errors import ErrorInterceptor
from .api.observe import CallObserver, ObserveInterceptor
from .api.reflection import reflection_handlers
from .api.registration import GenericHandlersOnly
from .api.setup import SetupServicer
from .config import ConfigError, Settings
from .db import migrate
from .db.driver_statements import DriverStatements
from .db.notify_pg import INCIDENTS_CHANNEL, PgWakeups
from .db.session import create_engine, create_session_factory, ping
from .db.unit_of_work import unit_of_work_factory
from .domain.access_check import AccessCheck
from .domain.accounts import AccountService
from .domain.alert_webhooks import AlertWebhooks, IncidentWebhooks
from .domain.alerts import AlertService, DetectionRules
from .domain.bootstrap import ensure_superadmin
from .domain.devices import DeviceService
from .domain.fire_events import EventService
from .domain.incident_watch import IncidentWatchHub
from .domain.incidents import IncidentRules, IncidentService
from .domain.media import MediaService
from .domain.notification_targets import RecipientService, WebhookService
from .domain.notifications import IncidentNotifier, NotificationService
from .domain.poses import OcclusionMaskService, PoseService
from .domain.retention import MediaPurger
from .domain.security import PasswordHasher, TokenService
from .domain.send_alert import DetectionSender
from .domain.sites import InstallationService, SiteService
from .domain.upload_limits import UploadSlots
from .domain.watch import AlertWatchHub, WatchTuning
from .http import ConnectRoutes, HttpListener, build_http_app
from .metrics import LiveSources, ServerMetrics
from .notify import BackgroundQueue
from .notify.channels import Channels
from .observability import init_observability
from .storage import LocalStorage, MediaStorage, S3Storage, StorageMissing, StorageUnavailable
from .tracing import init_tracing

logger = logging.getLogger("pyrogrpc.server")

SERVICE_NAMES = (
    access_service_pb2.DESCRIPTOR.services_by_name["AccessService"].full_name,
    setup_service_pb2.DESCRIPTOR.services_by_name["SetupService"].full_name,
    detection_service_pb2.DESCRIPTOR.services_by_name["DetectionService"].full_name,
)

# Longest wait for cancelled handlers to finish their clean-up (see stop()). It usually takes
# milliseconds; a storage or database slower than this is failing, and we stop anyway.
CLEAN_UP_SECONDS = 30.0

_MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024

_SERVER_OPTIONS = [
    # Cameras on rural links ping to keep NAT mappings open; accept their pings.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", _MAX_RECEIVE_MESSAGE_BYTES),
    # No BDP probing: with it, gRPC grows each stream's HTTP/2 receive window to megabytes, and
    # a client that sends fast then stalls leaves that much per stream buffered in the server
    # (30 stalled uploads: +140 MB RSS; without: +16 MB, see bench/upload_memory_bench.py).
    # Streams keep the 64 KiB default window: on a 50 ms link one upload runs at ~1.3 MB/s.
    ("grpc.http2.bdp_probe", 0),
]


# PostgreSQL connections of one process: transactions 10 (+5 overflow), one-statement units
# through SQLAlchemy 6 (+3), the camera's statements on the driver 6, LISTEN and NOTIFY 2: 32.
_AUTOCOMMIT_POOL_SIZE = 6
_DRIVER_POOL_SIZE = 6


def _checked_out(engine) -> int:
    """Connections of an async engine's pool lent out right now (0 for pools that do not count)."""
    checkedout = getattr(engine.sync_engine.pool, "checkedout", None)
    return int(checkedout()) if callable(checkedout) else 0


def _malloc_trim() -> None:
    """Hand freed heap pages back to the system (glibc keeps them otherwise: an upload burst
    would leave the RSS high for good). A no-op where libc has no malloc_trim (musl, macOS)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def build_storage(settings: Settings) -> MediaStorage:
    if settings.s3 is None:
        return LocalStorage(settings.media_dir, media_folder=settings.media_folder)
    s3 = settings.s3
    return S3Storage(
        bucket=s3.bucket_name,
        endpoint_url=s3.endpoint_url,
        region=s3.region,
        access_key=s3.access_key,
        secret_key=s3.secret_key,
        media_folder=settings.media_folder,
        proxy_url=s3.proxy_url,
        create_bucket=s3.create_bucket,
    )


class PyroServer:
    """One pyrogrpc server process: `await start()`, then `port`, then `await stop()`."""

    def __init__(
        self,
        settings: Settings,
        *,
        health_interval_seconds: float = 5.0,
        access_recheck_seconds: float = 10.0,
        watch_tuning: WatchTuning = WatchTuning(),
        span_exporter: object | None = None,
    ):
        self.settings = settings
        self.health_interval_seconds = health_interval_seconds
        log_safety.install()  # before any component can log a URL, a row or a statement
        self._build_database(settings)
        self._build_adapters(settings)
        self._build_use_cases(settings, access_recheck_seconds, watch_tuning)
        self._build_observation(settings, span_exporter)
        # gRPC surface: the server itself is built by start().
        self.health = health.aio.HealthServicer()
        self.calls = CallsInFlight()
        self.port: int | None = None
        self.generated_superadmin_password: str | None = None
        self._server: grpc.aio.Server | None = None
        self._http: HttpListener | None = None
        self.http_port: int | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        self._purge_task: asyncio.Task[None] | None = None
        self._incident_task: asyncio.Task[None] | None = None
        self._storage_ok = True
        self._health_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # --- assembly, in dependency order --------------------------------------------------

    def _build_database(self, settings: Settings) -> None:
        """Engines and the two kinds of unit of work (domain/ports.py's UnitOfWorkFactory)."""
        self.engine = create_engine(settings.database_url)
        # Units of work of one statement: autocommit on PostgreSQL; on SQLite, where
        # self.engine is the one writer connection, their reads go to WAL readers (db/session.py).
        # On PostgreSQL the camera's statements have a pool of their own (below): this one and
        # it are smaller, so that a process still opens at most 32 connections (docs/deployment.md).
        self._single_statement_engine = create_engine(
            settings.database_url,
            pool_size=_AUTOCOMMIT_POOL_SIZE,
            autocommit=not settings.is_sqlite,
            sqlite_readers=settings.is_sqlite,
        )
        # Commits that change cached tables (accesses, webhooks, recipients) tell their caches.
        self._tables_changed: list[Callable[[frozenset[str]], None]] = []
        sessions = create_session_factory(self.engine, on_commit=self._on_commit)
        single_statement_sessions = (
            create_session_factory(self.engine, on_commit=self._on_commit, sqlite_readers=self._single_statement_engine)
            if settings.is_sqlite
            else create_session_factory(self._single_statement_engine, on_commit=self._on_commit)
        )
        # On PostgreSQL the camera's one-statement units run their statements on psycopg
        # directly (db/driver_statements.py: a third of a Heartbeat's CPU).
        self.driver_statements = (
            None
            if settings.is_sqlite
            else DriverStatements(
                settings.database_url, self.engine.dialect, size=_DRIVER_POOL_SIZE, on_commit=self._on_commit
            )
        )
        # Units in a transaction run their Core statements on the session's own connection.
        self.uow = unit_of_work_factory(sessions, self.driver_statements, in_transaction=True)
        self.single_statement_uow = unit_of_work_factory(single_statement_sessions, self.driver_statements)

    def _build_adapters(self, settings: Settings) -> None:
        """Media storage, outbound channels (Telegram, webhooks), the background queue."""
        self.storage = build_storage(settings)
        self.channels = Channels(telegram_token=settings.telegram_token, telegram_base_url=settings.telegram_base_url)
        self.queue = BackgroundQueue()
        # Incident fusion jobs, apart from notifications (a Telegram outage must not hold
        # fusion back); one worker: this replica fuses one event at a time anyway (group lock).
        self.incident_jobs = BackgroundQueue(max_size=10_000, workers=1)
        self.observability = init_observability(settings)
        # Wake-ups between replicas: PostgreSQL LISTEN/NOTIFY; one SQLite process needs none.
        postgres = self.engine.dialect.name == "postgresql"
        self._remote_wakeups = PgWakeups(settings.database_url) if postgres else None
        self._incident_wakeups = PgWakeups(settings.database_url, channel=INCIDENTS_CHANNEL) if postgres else None

    def _build_use_cases(self, settings: Settings, access_recheck_seconds: float, watch_tuning: WatchTuning) -> None:
        """The domain's services, each given the ports it needs."""
        uow, single = self.uow, self.single_statement_uow
        self.hasher = PasswordHasher(
            rounds=settings.bcrypt_rounds, threads=settings.bcrypt_threads, nice=settings.bcrypt_nice
        )
        self.tokens = TokenService(
            settings.jwt_secret,
            user_lifetime=timedelta(minutes=settings.user_token_minutes),
            device_lifetime=timedelta(days=settings.device_token_days),
        )
        # Every call's token against its account's row (re-read every access_recheck_seconds,
        # at once after this process's own changes): a deleted or changed account's tokens stop.
        self.access_check = AccessCheck(single, recheck_seconds=access_recheck_seconds)
        self.accounts = AccountService(uow, self.hasher, self.tokens)
        # SetupService
        self.devices = DeviceService(uow, self.hasher, single_statement_uow=single)
        self.sites = SiteService(uow)
        self.installations = InstallationService(uow)
        self.webhooks = WebhookService(uow)
        self.recipients = RecipientService(uow)
        self.poses = PoseService(uow)
        self.masks = OcclusionMaskService(uow)
        # DetectionService. Uploads in progress, per device and in all (each holds buffers and a
        # staged object).
        self.upload_slots = UploadSlots(settings.max_uploads_per_device, settings.max_uploads_total)
        self.media = MediaService(
            uow,
            self.storage,
            single_statement_uow=single,
            max_upload_bytes=settings.max_upload_bytes,
            url_lifetime=timedelta(seconds=settings.media_url_expire_seconds),
            upload_slots=self.upload_slots,
            upload_idle_seconds=settings.upload_idle_seconds,
            retention_days=settings.media_retention_days,
        )
        # Retention (MEDIA_RETENTION_DAYS, 0 = keep forever): one replica at a time purges,
        # the holder of a lease named after this server instance.
        self.media_purger = (
            MediaPurger(
                uow,
                self.storage,
                retention=timedelta(days=settings.media_retention_days),
                batch_size=settings.media_purge_batch_size,
                holder=f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:12]}",
                on_purged=self._count_purged,
            )
            if settings.media_retention_days
            else None
        )
        self.events = EventService(uow)
        self.notifications = NotificationService(uow, self.channels.telegram)
        # Every hub read is one statement (wake-up query, replay page, horizon check): no
        # transaction needed, so on PostgreSQL each costs one round trip instead of three.
        self.watch_hub = AlertWatchHub(
            single, remote=self._remote_wakeups, accounts=self.access_check, tuning=watch_tuning
        )
        # WatchIncidents: the same hub over incident_changes, woken by this process's commits of
        # change rows (tables_changed) and by other replicas on its own NOTIFY channel.
        self.incident_watch_hub = IncidentWatchHub(
            single, remote=self._incident_wakeups, accounts=self.access_check, tuning=watch_tuning
        )
        self._tables_changed.append(self.incident_watch_hub.tables_changed)
        # Told of every committed alert, after the commit: webhooks, metrics, live watchers.
        alert_webhooks = AlertWebhooks(uow, self.queue, self.channels.webhooks)
        # Incidents: fused after each alert's commit, off the alert path (domain/incidents.py).
        # Told when an incident opens and when it first gets a position: Telegram recipients
        # and "incident" webhooks, once per incident (not once per camera).
        link = settings.incident_link_template
        notifier = IncidentNotifier(uow, self.queue, self.channels.telegram, link_template=link)
        incident_webhooks = IncidentWebhooks(uow, self.queue, self.channels.webhooks, link_template=link)
        self.incidents = IncidentService(
            uow,
            self.incident_jobs,
            rules=IncidentRules(
                window=timedelta(seconds=settings.incident_window_seconds),
                range_m=settings.incident_range_m,
                merge_distance_m=settings.incident_merge_distance_m,
            ),
            listeners=[notifier, incident_webhooks],
            on_fusion=self._count_fusion,
            single_statement_uow=single,
        )
        self.alerts = AlertService(
            uow,
            single_statement_uow=single,
            relaxation=timedelta(seconds=settings.alert_relaxation_seconds),
            rules=DetectionRules(
                max_boxes=settings.max_alert_boxes,
                iou_threshold=settings.event_iou_threshold,
                capture_skew=timedelta(seconds=settings.capture_time_skew_seconds),
                max_capture_age=timedelta(seconds=settings.max_capture_age_seconds),
            ),
            listeners=[alert_webhooks, *self.observability.alert_listeners, self.watch_hub],
            event_activity=self.incidents,
        )
        self.sender = DetectionSender(self.alerts, self.media)  # SendAlert: upload + alert in one call
        self._tables_changed += [
            self.access_check.tables_changed,
            notifier.tables_changed,
            alert_webhooks.tables_changed,
            incident_webhooks.tables_changed,
        ]

    def _build_observation(self, settings: Settings, span_exporter: object | None) -> None:
        """Metrics (when METRICS_PORT is set), the access log and tracing, fed by ObserveInterceptor."""
        self.metrics = ServerMetrics() if settings.metrics_port else None
        if self.metrics is not None:
            self.metrics.watch(self._live_metric_sources())
        self.call_observer = CallObserver(self.metrics)
        # Spans per RPC and per SQL statement when OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test
        # passes an exporter); None otherwise, and then nothing of OpenTelemetry is imported.
        engines = [self.engine, self._single_statement_engine]
        self.tracing = init_tracing(settings.otel_endpoint, engines, exporter=span_exporter)
        if self.tracing is not None and self.driver_statements is not None:
            self.driver_statements.statement_span = self.tracing.statement_span

    def _live_metric_sources(self) -> LiveSources:
        second = "sqlite_readers" if self.settings.is_sqlite else "autocommit"
        engines = {"main": self.engine, second: self._single_statement_engine}
        driver = self.driver_statements

        def pools_in_use() -> dict[str, int]:
            in_use = {name: _checked_out(engine) for name, engine in engines.items()}
            if driver is not None:
                in_use["driver"] = driver.in_use()
            return in_use

        return LiveSources(
            pools_in_use=pools_in_use,
            watchers=lambda: self.watch_hub.watcher_count + self.incident_watch_hub.watcher_count,
            notification_queue_depth=lambda: self.queue.depth,
            notification_jobs=lambda: {
                "succeeded": self.queue.stats.succeeded,
                "failed": self.queue.stats.failed,
                "retried": self.queue.stats.retried,
                "dropped": self.queue.stats.dropped,
            },
        )

    def _servicers(self) -> list[tuple[ServiceDescriptor, object, Callable[[Any, Any], None]]]:
        """Each service's servicer, given the use cases it calls, built once: the gRPC and the
        HTTP port serve the same ones."""
        setup = SetupServicer(
            devices=self.devices,
            sites=self.sites,
            installations=self.installations,
            webhooks=self.webhooks,
            recipients=self.recipients,
            poses=self.poses,
            masks=self.masks,
            online_window=timedelta(seconds=self.settings.device_online_seconds),
        )
        detection = DetectionServicer(
            media=self.media,
            events=self.events,
            alerts=self.alerts,
            notifications=self.notifications,
            watch=self.watch_hub,
            sender=self.sender,
            incidents=self.incidents,
            incident_watch=self.incident_watch_hub,
        )
        return [
            (
                access_service_pb2.DESCRIPTOR.services_by_name["AccessService"],
                AccessServicer(self.accounts),
                access_service_pb2_grpc.add_AccessServiceServicer_to_server,
            ),
            (
                setup_service_pb2.DESCRIPTOR.services_by_name["SetupService"],
                setup,
                setup_service_pb2_grpc.add_SetupServiceServicer_to_server,
            ),
            (
                detection_service_pb2.DESCRIPTOR.services_by_name["DetectionService"],
                detection,
                detection_service_pb2_grpc.add_DetectionServiceServicer_to_server,
            ),
        ]

    def _on_commit(self, tables: frozenset[str]) -> None:
        for changed in self._tables_changed:
            changed(tables)

    async def start(self) -> None:
        await self._prepare_database()
        await self._prepare_storage()
        result = await ensure_superadmin(
            self.uow,
            self.hasher,
            login=self.settings.superadmin_login,
            password=self.settings.superadmin_password,
            group_name=self.settings.superadmin_group,
        )
        self.generated_superadmin_password = result.generated_password
        await self.queue.start()
        await self.incident_jobs.start()
        await self.watch_hub.start()
        await self.incident_watch_hub.start()
        self._server = grpc.aio.server(
            interceptors=[
                ObserveInterceptor(self.call_observer, self.tracing),  # outermost: sees every call's final status
                ErrorInterceptor(self.calls),
                AuthInterceptor(self.tokens, self.access_check),
            ],
            options=_SERVER_OPTIONS,
        )
        services = GenericHandlersOnly(self._server)
        servicers = self._servicers()
        for _, servicer, add_to_server in servicers:
            add_to_server(servicer, services)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, services)
        # Reflection v1 and v1alpha, serving the protos' comments (see api/reflection.py).
        services.add_generic_rpc_handlers(reflection_handlers((*SERVICE_NAMES, health.SERVICE_NAME)))
        self.port = self._server.add_insecure_port(f"{self.settings.grpc_host}:{self.settings.grpc_port}")
        if not self.port:
            raise RuntimeError(f"cannot listen on {self.settings.grpc_host}:{self.settings.grpc_port}")
        await self._server.start()
        if self.metrics is not None:
            try:
                self.metrics.serve(self.settings.metrics_host, self.settings.metrics_port)
            except OSError as error:
                await self._server.stop(0)
                raise RuntimeError(
                    f"cannot expose metrics on {self.settings.metrics_host}:{self.settings.metrics_port} ({error}); "
                    "set METRICS_PORT to a free port, or 0 to turn metrics off"
                ) from None
        await self._set_health(self._storage_ok)
        self._stopping.clear()
        self._health_task = asyncio.create_task(self._watch_health(self._storage_ok), name="pyrogrpc-health")
        self._sweep_task = asyncio.create_task(self._sweep_staged_uploads(), name="pyrogrpc-upload-sweep")
        if self.media_purger is not None:
            self._purge_task = asyncio.create_task(self._purge_expired_media(self.media_purger), name="pyrogrpc-purge")
        self._incident_task = asyncio.create_task(self._sweep_incidents(), name="pyrogrpc-incident-sweep")
        if self.settings.http_port:
            try:
                await self._start_http([(service, servicer) for service, servicer, _ in servicers])
            except BaseException:
                await self.stop(grace=0)  # e.g. the HTTP port is taken: nothing half-started stays
                raise
        logger.info(
            "pyrogrpc serving on port %s (%s)", self.port, "embedded" if self.settings.embedded else "postgresql"
        )

    async def _start_http(self, servicers: list[tuple[ServiceDescriptor, object]]) -> None:
        routes = ConnectRoutes(
            servicers,
            CallAuthorizer(self.tokens, self.access_check),
            self.calls,
            record_call=self.call_observer.finished_over_http,  # same metrics and access log as gRPC
        )
        app = build_http_app(routes, cors_origins=self.settings.cors_origins, read_max_bytes=_MAX_RECEIVE_MESSAGE_BYTES)
        self._http = HttpListener(
            app, self.settings.http_host, self.settings.http_port, reuse_port=self.settings.reuse_port
        )
        self.http_port = await self._http.start()

    async def _prepare_database(self) -> None:
        if self.settings.embedded:
            # One process owns an embedded database, so it may migrate it itself.
            await migrate.upgrade_async(self.settings.database_url)
        else:
            await migrate.check_current(self.engine)

    async def _prepare_storage(self) -> None:
        """A missing bucket is a set-up error: refuse to start (the CLI exits 2). An unreachable
        storage may come back: start NOT_SERVING and let the health probe follow it."""
        try:
            await self.storage.prepare()
        except StorageMissing as error:
            await self.storage.close()
            raise ConfigError(
                f"{error}: create the bucket named by BUCKET_NAME, or set S3_CREATE_BUCKET=true to let the server create it"
            ) from None
        except StorageUnavailable as error:
            self._storage_ok = False
            logger.warning("media storage unreachable at start (NOT_SERVING until it is back): %s", error)

    async def _sweep_staged_uploads(self) -> None:
        """Remove staged uploads a killed process left behind (temp files, pending multipart
        uploads), at start and every upload_sweep_interval_seconds. Only those older than
        upload_sweep_age_seconds: younger ones may be live uploads of this or another replica."""
        age = timedelta(seconds=self.settings.upload_sweep_age_seconds)
        while True:
            try:
                swept = await self.storage.sweep_staged(age)
                if swept:
                    logger.info("removed %d abandoned staged upload(s) older than %s", swept, age)
            except Exception as error:  # noqa: BLE001 - storage down: the next round retries
                logger.warning("could not sweep abandoned uploads: %s", error)
            try:
                await asyncio.wait_for(self._stopping.wait(), self.settings.upload_sweep_interval_seconds)
                return
            except TimeoutError:
                pass

    async def _purge_expired_media(self, purger: MediaPurger) -> None:
        """Purge the content of expired media at start and every media_purge_interval_seconds
        (domain/retention.py; the lease lets one replica at a time do it)."""
        while True:
            try:
                await purger.purge(self._stopping)
            except Exception as error:  # noqa: BLE001 - database down: the next round retries
                logger.warning("retention: purge pass failed (%s); the next one retries", type(error).__name__)
            try:
                await asyncio.wait_for(self._stopping.wait(), self.settings.media_purge_interval_seconds)
                return
            except TimeoutError:
                pass

    def _count_purged(self, count: int) -> None:
        if self.metrics is not None:
            self.metrics.media_purged.inc(count)

    def _count_fusion(self, outcome: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.fusion_done(outcome, seconds)

    async def _sweep_incidents(self) -> None:
        """Every incident_sweep_seconds: close the incidents not seen for the window, and fuse
        the recent camera events in no incident (a fusion job lost to a crash or a full queue)."""
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), self.settings.incident_sweep_seconds)
                return
            except TimeoutError:
                pass
            try:
                closed, fused = await self.incidents.sweep()
                if closed or fused:
                    logger.info("incident sweep: %d closed, %d unfused event(s) fused", closed, fused)
            except Exception as error:  # noqa: BLE001 - database down: the next round retries
                logger.warning("incident sweep failed: %s", error)

    async def _set_health(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, status)

    async def _watch_health(self, serving: bool) -> None:
        """Probe the database and the media storage; NOT_SERVING while either is unreachable,
        SERVING again once both are back. Also returns the memory of ended uploads to the system."""
        uploads_ended = 0
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), self.health_interval_seconds)
                return
            except TimeoutError:
                pass
            timeout = max(1.0, self.health_interval_seconds)
            failures = []
            for name, probe in (("database", lambda: ping(self.engine)), ("media storage", self.storage.ping)):
                try:
                    await asyncio.wait_for(probe(), timeout=timeout)
                except Exception as error:  # noqa: BLE001 - any failure means "not serving"
                    failures.append(f"{name}: {error}")
            ok = not failures
            if self.upload_slots.ended != uploads_ended:
                uploads_ended = self.upload_slots.ended
                await asyncio.to_thread(_malloc_trim)
            if ok != serving:
                serving = ok
                await self._set_health(ok)
                if ok:
                    logger.info("database and media storage reachable again")
                else:
                    logger.warning("not serving: %s unreachable", "; ".join(failures))

    async def stop(self, grace: float = 5.0) -> None:
        if self._health_task:
            # Let a probe in flight finish instead of cancelling it: on SQLite a cancelled probe
            # leaves SQLAlchemy a task closing its connection in the background, and a loop that
            # closes meanwhile (asyncio.run, a test's loop) waits for that task forever.
            self._stopping.set()
            await self._health_task
        if self._sweep_task:
            self._stopping.set()
            await self._sweep_task
        if self._purge_task:
            self._stopping.set()
            await self._purge_task  # ends after its current batch
        if self._incident_task:
            self._stopping.set()
            await self._incident_task
        if self._server:
            await self.health.enter_graceful_shutdown()
        # Watch streams never end by themselves: end them now with UNAVAILABLE (clients resume
        # elsewhere) instead of holding the whole grace period; unary calls still drain.
        await asyncio.gather(self.watch_hub.stop(), self.incident_watch_hub.stop())
        # Both ports drain their calls at once, within the same grace period.
        await asyncio.gather(
            *([self._server.stop(grace)] if self._server else []), *([self._http.stop(grace)] if self._http else [])
        )
        # Handlers cancelled at the end of the grace period may still be cleaning up (an upload
        # finishing its commit): the storage and the database stay open for them.
        if (self._server or self._http) and not await self.calls.wait_idle(CLEAN_UP_SECONDS):
            logger.warning("stopping with %d call(s) still running after %ss", self.calls.running, CLEAN_UP_SECONDS)
        if self.metrics is not None:
            self.metrics.close()
        await self.incident_jobs.stop()
        await self.queue.stop()
        await self.channels.aclose()
        self.observability.shutdown()
        if self.tracing is not None:
            self.tracing.shutdown()  # flushes the spans still batched
        await self.storage.close()
        self.hasher.close()
        await self.engine.dispose()
        await self._single_statement_engine.dispose()
        if self.driver_statements is not None:
            await self.driver_statements.close()

    async def wait_for_termination(self) -> None:
        assert self._server is not None
        await self._server.wait_for_termination()


async def serve(settings: Settings, on_ready: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then drain in-flight calls and stop. `on_ready` is called
    once the server serves (`serve --workers` tells its supervisor)."""
    server = PyroServer(settings)
    await server.start()
    # Start-up objects (modules, protobuf descriptors, ORM mappers) never die: freezing them and
    # collecting less often removes the ~0.2 s full-collection pauses that set the WatchAlerts p99.
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    if server.generated_superadmin_password:
        print(
            f"\n  Superadmin created: login {settings.superadmin_login!r}, password "
            f"{server.generated_superadmin_password!r}\n  (shown once; set SUPERADMIN_PASSWORD to choose it)\n",
            flush=True,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if on_ready is not None:
        on_ready()
    await stop.wait()
    logger.info("shutting down")
    await server.stop()
