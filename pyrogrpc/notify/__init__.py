"""Outbound notification adapters: Telegram, webhooks, templates, background queue.

A pure asyncio library (no gRPC, no database) so the alert use case can hand
deliveries to a queue and return at once; see queue.py for why.
"""

from pyrogrpc.domain.templates import TEMPLATE_FIELDS, render_template, validate_template
from pyrogrpc.notify.errors import DeliveryError
from pyrogrpc.notify.queue import BackgroundQueue, QueueStats
from pyrogrpc.notify.telegram import TelegramSender
from pyrogrpc.notify.webhook_poster import WebhookPoster

__all__ = [
    "TEMPLATE_FIELDS",
    "BackgroundQueue",
    "DeliveryError",
    "QueueStats",
    "TelegramSender",
    "WebhookPoster",
    "render_template",
    "validate_template",
]
