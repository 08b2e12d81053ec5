"""The outbound adapters of one server, built by server.py from the settings (and handed to the
domain's notifiers as its ports MessageSender and JsonPoster)."""

from __future__ import annotations

import logging

from .telegram import TelegramSender
from .webhook_poster import WebhookPoster

logger = logging.getLogger("pyrogrpc.notifications")


class Channels:
    """`telegram` is None without TELEGRAM_TOKEN (recipients are then not notified)."""

    def __init__(self, *, telegram_token: str | None, telegram_base_url: str):
        self.telegram = TelegramSender(telegram_token, base_url=telegram_base_url) if telegram_token else None
        self.webhooks = WebhookPoster()
        if self.telegram is None:
            logger.info("TELEGRAM_TOKEN is not set: recipients are not notified of incidents")

    async def aclose(self) -> None:
        if self.telegram is not None:
            await self.telegram.aclose()
        await self.webhooks.aclose()
