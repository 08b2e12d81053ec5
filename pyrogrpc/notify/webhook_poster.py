"""Outbound webhooks: POST an alert as JSON to a configured URL.

Also home of ``send_json``, the one place that turns an HTTP exchange into
success or a classified DeliveryError; the Telegram sender reuses it, so both
adapters retry (or not) under the same rules. URLs never appear in error text:
webhook URLs often embed a secret (Slack- or Discord-style), and Telegram's
embeds the bot token.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx

from pyrogrpc.notify.errors import DeliveryError, error_for_status

__all__ = ["WebhookPoster", "send_json"]

USER_AGENT = "pyrogrpc"


async def send_json(
    client: httpx.AsyncClient,
    url: str,
    payload: object,
    *,
    what: str,
    timeout: float,
    secrets: Iterable[str] = (),
    detail_from_body: bool = False,
) -> httpx.Response:
    """POST ``payload`` as JSON; return the 2xx response or raise DeliveryError.

    ``detail_from_body`` adds the answer's reason to the error text; only for
    trusted APIs (Telegram), since an arbitrary server may echo our URL back.
    """
    secrets = [s for s in secrets if s]  # an empty secret would "match" everywhere
    # The DeliveryError is raised after the except blocks so the httpx exception
    # (which holds the request URL) is not kept as its __context__.
    failure: DeliveryError | None = None
    try:
        response = await client.post(url, json=payload, headers={"User-Agent": USER_AGENT}, timeout=timeout)
    except httpx.TimeoutException:
        failure = DeliveryError(f"{what} failed: timed out after {timeout:g}s")
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        failure = DeliveryError(f"{what} failed: bad URL ({_reason(exc, secrets)})", permanent=True)
    except httpx.HTTPError as exc:  # connection refused, reset, DNS, protocol errors
        failure = DeliveryError(f"{what} failed: {_reason(exc, secrets)}")
    except (TypeError, ValueError):
        # json.dumps refused the payload: a caller bug no retry will fix.
        failure = DeliveryError(f"{what} failed: payload is not JSON-serializable", permanent=True)
    if failure is not None:
        raise failure
    if not response.is_success:
        detail = _redact(_error_detail(response), secrets) if detail_from_body else ""
        raise error_for_status(what, response.status_code, detail)
    return response


class WebhookPoster:
    """Posts JSON payloads to webhook URLs."""

    def __init__(self, *, client: httpx.AsyncClient | None = None, timeout_seconds: float = 5.0):
        self._timeout = timeout_seconds
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()

    async def post_json(self, url: str, payload: dict) -> None:
        """POST ``payload`` to ``url``; raise DeliveryError on any failure."""
        what = f"webhook to {_origin(url)}"
        await send_json(self._client, url, payload, what=what, timeout=self._timeout)

    async def aclose(self) -> None:
        """Close the HTTP client if this poster created it."""
        if self._owns_client:
            await self._client.aclose()


def _origin(url: str) -> str:
    """Scheme and host[:port] only: the path, query and user info may hold a secret."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host_port = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host_port}"


def _error_detail(response: httpx.Response) -> str:
    """A short reason from the body: Telegram's "description", else the text."""
    try:
        body = response.json()
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        body = None
    if isinstance(body, dict) and body.get("description"):
        return str(body["description"])
    return " ".join(response.text.split())[:200]


def _reason(exc: Exception, secrets: list[str]) -> str:
    text = _redact(str(exc), secrets)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text
