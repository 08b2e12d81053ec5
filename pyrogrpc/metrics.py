"""Prometheus metrics of one server, exposed over HTTP on METRICS_PORT (0 = off).

Each `PyroServer` owns a `ServerMetrics` with its own `CollectorRegistry` (never the
process-global one): tests run several servers in one process, and a registry per server
keeps their counters apart. Counters and histograms are updated per call by
`api/observe.py`, and by the callbacks server.py gives domain services (media purged,
incident fusions: the domain never imports prometheus); values that already live elsewhere
(database pool, notification queue, watchers) are read at scrape time by `_LiveCollector`,
so the hot path pays nothing for them.

Names follow the usual gRPC server metrics (py-grpc-prometheus, go-grpc-prometheus), so
existing dashboards and alert rules work: `grpc_server_started_total`,
`grpc_server_handled_total`, `grpc_server_handling_seconds`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .domain.incidents import FUSION_OUTCOMES

logger = logging.getLogger("pyrogrpc.metrics")

# Seconds; from a heartbeat (~1 ms) to a large upload on a slow link (minutes).
HANDLING_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Seconds; a fusion job takes milliseconds, more while it waits for its group's lock.
FUSION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class LiveSources:
    """Read at scrape time. Each returns the current value; a failing source is skipped."""

    pools_in_use: Callable[[], dict[str, int]]  # pool name -> connections checked out
    watchers: Callable[[], int]
    notification_queue_depth: Callable[[], int]
    notification_jobs: Callable[[], dict[str, int]]  # outcome -> total (succeeded, failed, retried, dropped)


class _LiveCollector(Collector):
    def __init__(self, sources: LiveSources):
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        pools = GaugeMetricFamily(
            "pyrogrpc_db_pool_connections_in_use", "Database connections checked out of each pool", labels=["pool"]
        )
        for pool, in_use in self._read(self._sources.pools_in_use, {}).items():
            pools.add_metric([pool], in_use)
        yield pools
        yield GaugeMetricFamily(
            "pyrogrpc_watchers_connected",
            "WatchAlerts and WatchIncidents streams open on this server",
            value=self._read(self._sources.watchers, 0),
        )
        yield GaugeMetricFamily(
            "pyrogrpc_notification_queue_depth",
            "Notification jobs (Telegram, webhooks) waiting for a worker",
            value=self._read(self._sources.notification_queue_depth, 0),
        )
        jobs = CounterMetricFamily(
            "pyrogrpc_notification_jobs",
            "Notification jobs by outcome (failed = gave up after retries)",
            labels=["outcome"],
        )
        for outcome, total in self._read(self._sources.notification_jobs, {}).items():
            jobs.add_metric([outcome], total)
        yield jobs

    @staticmethod
    def _read(source, default):
        try:
            return source()
        except Exception:
            logger.warning("metrics source %s failed", getattr(source, "__name__", source), exc_info=True)
            return default


class ServerMetrics:
    """The metrics of one server and, once `serve()` ran, their HTTP endpoint."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter(
            "grpc_server_started_total", "RPCs started on the server", labels, registry=self.registry
        )
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, by status code",
            [*labels, "grpc_code"],
            registry=self.registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status (streams: their whole life)",
            labels,
            buckets=HANDLING_BUCKETS,
            registry=self.registry,
        )
        self.upload_bytes = Counter(
            "pyrogrpc_upload_received_bytes_total",
            "Media bytes received by UploadMedia (failed uploads too)",
            registry=self.registry,
        )
        self.uploads_in_flight = Gauge(
            "pyrogrpc_uploads_in_flight", "UploadMedia streams in progress", registry=self.registry
        )
        self.media_purged = Counter(
            "pyrogrpc_media_purged_total",
            "Media whose stored content this server deleted under MEDIA_RETENTION_DAYS",
            registry=self.registry,
        )
        self.incident_fusions = Counter(
            "pyrogrpc_incident_fusions_total",
            "Incident fusion jobs (one per alert, and the sweep's), by outcome",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in FUSION_OUTCOMES:  # every outcome from the start at 0: rate() needs a series
            self.incident_fusions.labels(outcome)
        self.incident_fusion_seconds = Histogram(
            "pyrogrpc_incident_fusion_seconds",
            "Time of one incident fusion job, from its start off the alert path to its commit and notifications",
            buckets=FUSION_BUCKETS,
            registry=self.registry,
        )
        self._http: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def fusion_done(self, outcome: str, seconds: float) -> None:
        self.incident_fusions.labels(outcome).inc()
        self.incident_fusion_seconds.observe(seconds)

    def watch(self, sources: LiveSources) -> None:
        self.registry.register(_LiveCollector(sources))

    def serve(self, host: str, port: int) -> int:
        """Expose /metrics on host:port in a thread (prometheus-client's own server); the bound port."""
        self._http, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.port = self._http.server_port
        logger.info("metrics on http://%s:%s/metrics", host, self.port)
        return self.port

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
