"""Keep secrets out of every log line, whatever level a deployment sets.

Libraries log what they handle: httpx logs each request's URL at INFO (webhook URLs hold
credentials, secret paths and ?token=; Telegram's holds the bot token), SQLAlchemy logs
result rows at DEBUG (password hashes, webhook URLs) and aiosqlite logs every statement
with its parameters at DEBUG. Levels cannot be trusted to hide them (an operator debugging
sets DEBUG everywhere), so filters on those loggers rewrite or drop such records. Statement
parameters are hidden at the source (`hide_parameters=True` in db/session.py).

`install()` is idempotent; the server calls it at assembly.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

__all__ = ["install", "origin"]


def origin(url: object) -> str:
    """Scheme and host[:port] of a URL: its user info, path and query may hold a secret."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<invalid URL>"
    host_port = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host_port}" if parts.scheme else "<URL>"


class _UrlsToOrigins(logging.Filter):
    """httpx: every URL argument of a record becomes its origin ("HTTP Request: POST
    https://api.telegram.org \"HTTP/1.1 200 OK\"")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(origin(arg) if _is_url(arg) else arg for arg in record.args)
        return True


def _is_url(value: object) -> bool:
    if type(value).__name__ == "URL":  # httpx.URL, without importing httpx here
        return True
    return isinstance(value, str) and value.startswith(("http://", "https://"))


class _NoResultRows(logging.Filter):
    """SQLAlchemy at DEBUG: drop result rows ("Row (3, 'cam-1', '$2b$12$...')"); statements stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Row "))


class _NoDebug(logging.Filter):
    """aiosqlite at DEBUG: "executing functools.partial(<execute>, 'INSERT ...', (parameters))"."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_FILTERS: dict[str, logging.Filter] = {
    "httpx": _UrlsToOrigins(),
    "sqlalchemy.engine.Engine": _NoResultRows(),
    "aiosqlite": _NoDebug(),
}


def install() -> None:
    for name, log_filter in _FILTERS.items():
        logger = logging.getLogger(name)
        if log_filter not in logger.filters:
            logger.addFilter(log_filter)
