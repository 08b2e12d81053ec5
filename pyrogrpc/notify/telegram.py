"""Telegram Bot API sender for alert notifications.

Why a module of its own: the bot token sits in the request URL
(``/bot<token>/sendMessage``), so anything that prints the URL leaks a
credential. Errors never contain it (``send_json`` is given the token to
mask), and pyrogrpc.log_safety cuts httpx's own "HTTP Request: POST <url>" INFO
log line down to scheme and host.
"""

from __future__ import annotations

import httpx

from pyrogrpc import log_safety
from pyrogrpc.notify.errors import DeliveryError
from pyrogrpc.notify.webhook_poster import send_json

__all__ = ["TelegramSender"]


# httpx logs each request's URL at INFO: its filter keeps only scheme and host.
log_safety.install()


class TelegramSender:
    """Sends plain-text messages through the Telegram Bot API."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = "https://api.telegram.org",
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = 10.0,
    ):
        self._token = token
        self._url = f"{base_url.rstrip('/')}/bot{token}/sendMessage"
        self._timeout = timeout_seconds
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()

    def __repr__(self) -> str:  # keep the token out of debug output
        return f"<TelegramSender timeout={self._timeout:g}s>"

    async def send_message(self, chat_id: str, text: str) -> None:
        """Send ``text`` to ``chat_id``; raise DeliveryError on any failure."""
        what = f"telegram sendMessage to chat {chat_id}"
        response = await send_json(
            self._client,
            self._url,
            {"chat_id": chat_id, "text": text},
            what=what,
            timeout=self._timeout,
            secrets=[self._token],
            detail_from_body=True,  # "Bad Request: chat not found" is worth logging
        )
        try:
            ok = response.json().get("ok")
        except (ValueError, AttributeError, RecursionError):  # RecursionError: absurdly nested JSON
            ok = None
        if ok is not True:
            # Telegram reports its errors with non-2xx codes, so this is a proxy
            # or an API change; retrying is bounded and may get a real answer.
            raise DeliveryError(f'{what} failed: 2xx answer without "ok": true')

    async def aclose(self) -> None:
        """Close the HTTP client if this sender created it."""
        if self._owns_client:
            await self._client.aclose()
