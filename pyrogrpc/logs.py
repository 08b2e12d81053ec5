"""Log set-up of the `pyrogrpc` command: plain text lines, or one JSON object per line.

LOG_FORMAT=json gives every line (access log included) as a JSON object with `time`,
`level`, `logger` and `message`, plus the structured fields a line carries (the access
log's method, code, duration_ms, principal_id, scope, group_id, peer). python-json-logger
does the encoding, escaping included, so a hostile value cannot forge a line.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """One stderr handler in the chosen format on the root logger (replacing the one a
    previous call added). Like `logging.basicConfig`, it adds none when someone else
    (an embedding application, pytest) already put handlers there."""
    root = logging.getLogger()
    for old in [handler for handler in root.handlers if getattr(handler, "pyrogrpc", False)]:
        root.removeHandler(old)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
        handler.pyrogrpc = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
