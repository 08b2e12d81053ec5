"""`pyrogrpc serve --workers N`: N server processes on one host, one per core.

The workers share the gRPC port (gRPC servers set SO_REUSEPORT on Linux by default) and
the HTTP port (HttpListener sets it when `Settings.reuse_port`): the kernel spreads new
connections over them. They share the database and the media storage; WatchAlerts crosses
processes through PostgreSQL LISTEN/NOTIFY (db/notify_pg.py), as between replicas.

Worker i exposes its metrics on METRICS_PORT + i: each process has its own counters, and
Prometheus scrapes each port (summing counters over them is what multiprocess mode would
do, without its files and locks).

The supervisor starts worker 0 first (it creates the superadmin, and a start-up error shows
once), then the others; it exits non-zero, after stopping the rest, when a worker dies at
start-up or later (the orchestrator restarts the whole set). SIGTERM and SIGINT are passed
on to every worker, which drains its calls as a single server does.

Refused with SQLite: an embedded database belongs to one process (it migrates itself at
start, and SQLite has one writer at a time, so more processes would wait on its lock).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import multiprocessing
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection, wait

from .commands.common import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from .config import ConfigError, Settings

logger = logging.getLogger("pyrogrpc.workers")

START_TIMEOUT_SECONDS = 120.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse combinations that cannot work, before any process starts."""
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if workers == 1:
        return
    if settings.is_sqlite:
        raise ConfigError(
            "--workers > 1 needs PostgreSQL (set DATABASE_URL or POSTGRES_*): the embedded SQLite "
            "database belongs to one process"
        )
    if settings.grpc_port == 0:
        raise ConfigError("--workers > 1 needs a fixed GRPC_PORT: with port 0 each worker would get its own port")
    if settings.metrics_port and settings.metrics_port + workers - 1 > 65535:
        raise ConfigError("METRICS_PORT + workers - 1 exceeds 65535 (worker i uses METRICS_PORT + i)")


def worker_settings(settings: Settings, index: int) -> Settings:
    """Worker `index`'s settings: its own metrics port, the shared HTTP port."""
    metrics_port = settings.metrics_port + index if settings.metrics_port else 0
    return replace(settings, metrics_port=metrics_port, reuse_port=True)


def run_server(settings: Settings, on_ready: Callable[[], None] | None = None) -> int:
    """Run one server in this process until SIGTERM/SIGINT; the exit code."""
    from .db.migrate import SchemaOutdated
    from .server import serve

    try:
        asyncio.run(serve(settings, on_ready=on_ready))
        # Stopped: the loop's signal handlers are gone, and a late SIGTERM/SIGINT (a terminal's
        # Ctrl-C reaches the workers too) must not turn a clean exit into a death by signal.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)
    except (SchemaOutdated, ConfigError) as error:  # ConfigError: e.g. SENTRY_DSN set without sentry-sdk
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK


def _worker_main(settings: Settings, log_level: str, ready: Connection) -> None:
    """A worker process (spawned: a fresh interpreter, no gRPC state inherited)."""
    from .logs import configure_logging

    _stop_with_parent()
    configure_logging(log_level, settings.log_format)
    sys.exit(run_server(settings, on_ready=lambda: ready.send(True)))


class Supervisor:
    def __init__(self, settings: Settings, workers: int, log_level: str):
        self._settings = settings
        self._workers = workers
        self._log_level = log_level
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._stopping = False
        self._terminated: set[int] = set()

    def run(self) -> int:
        previous = {signum: signal.signal(signum, self._on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            failed = self._start()
            if failed is None and not self._stopping:
                logger.info("%d workers serving on port %s", self._workers, self._settings.grpc_port)
                failed = self._wait_any_exit()
            return self._stop_all(failed)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _start(self) -> int | None:
        """Start worker 0, wait until it serves, then the others; the exit code of a worker
        that died at start-up, else None."""
        for batch in ([0], list(range(1, self._workers))):
            waiting = {}
            for index in batch:
                if self._stopping:
                    return None
                receiver, sender = self._context.Pipe(duplex=False)
                process = self._context.Process(
                    target=_worker_main,
                    args=(worker_settings(self._settings, index), self._log_level, sender),
                    name=f"pyrogrpc-worker-{index}",
                )
                process.start()
                sender.close()
                self._processes.append(process)
                waiting[receiver] = process
            while waiting and not self._stopping:
                ready = wait([*waiting, *(p.sentinel for p in waiting.values())], timeout=START_TIMEOUT_SECONDS)
                if not ready:
                    logger.error("a worker did not start within %ss", START_TIMEOUT_SECONDS)
                    return EXIT_FAILURE
                for receiver, process in list(waiting.items()):
                    if receiver in ready and _received(receiver):
                        del waiting[receiver]
                    elif receiver in ready or process.sentinel in ready:  # pipe closed: it is exiting
                        process.join()
                        logger.error("%s exited at start-up with code %s", process.name, process.exitcode)
                        return process.exitcode or EXIT_FAILURE
        return None

    def _wait_any_exit(self) -> int | None:
        """Block until a worker exits; its exit code when nobody asked to stop, else None."""
        while not self._stopping:
            exited = wait([p.sentinel for p in self._processes], timeout=1.0)
            if exited and not self._stopping:
                process = next(p for p in self._processes if p.sentinel in exited)
                process.join()
                logger.error("%s exited with code %s: stopping the other workers", process.name, process.exitcode)
                return process.exitcode or EXIT_FAILURE
        return None

    def _on_signal(self, signum: int, _frame) -> None:
        self._stopping = True
        self._terminate()

    def _terminate(self) -> None:
        # One SIGTERM per worker: a second one, landing after the worker's event loop has closed
        # (its signal handlers gone), would kill it with the default action mid-exit.
        for process in self._processes:
            if process.is_alive() and process.pid is not None and process.pid not in self._terminated:
                self._terminated.add(process.pid)
                process.terminate()  # SIGTERM: the worker drains its calls, then exits

    def _stop_all(self, failed: int | None) -> int:
        self._terminate()
        codes = []
        for process in self._processes:
            process.join()
            codes.append(process.exitcode)
        if failed is not None:
            return failed
        # Asked to stop: each worker should have drained and exited 0.
        return EXIT_OK if all(code == 0 for code in codes) else EXIT_FAILURE


def _stop_with_parent() -> None:
    """Linux: SIGTERM this worker when the supervisor dies (even by SIGKILL), so no orphan
    keeps the port. Elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _received(receiver: Connection) -> bool:
    try:
        return bool(receiver.recv())
    except EOFError:
        return False
