"""Use cases of SetupService for webhooks and notification recipients (admin only).

Both are read later, off the request path, where a bad value would only show as a
delivery that never happens; so URLs, callback names and templates are checked here.
Error texts never echo a URL: webhook URLs often embed a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .alert_webhooks import CREATE_ALERT, INCIDENT
from .paging import Page, PageRequest
from .ports import UnitOfWorkFactory
from .records import RecipientRecord, WebhookRecord
from .rows import apply_changes, existing
from .templates import validate_template
from .validation import Violations, check_name, check_text

# Callback names the server triggers; a webhook on any other name would never fire.
WEBHOOK_CALLBACKS = (CREATE_ALERT, INCIDENT)
NOTIFICATION_TYPES = ("telegram",)
MAX_URL_LENGTH = 2000
MAX_ADDRESS_LENGTH = 255
# Telegram refuses messages over 4096 characters.
MAX_TEMPLATE_LENGTH = 4096


def check_webhook(v: Violations, fields: Mapping[str, Any], prefix: str = "") -> None:
    if "callback" in fields:
        v.check(
            fields["callback"] in WEBHOOK_CALLBACKS,
            f"{prefix}callback",
            f"must be one of {', '.join(WEBHOOK_CALLBACKS)}",
        )
    if "url" in fields:
        v.check(
            _is_http_url(fields["url"]),
            f"{prefix}url",
            f"must be an http:// or https:// URL with a host, at most {MAX_URL_LENGTH} characters",
        )


def _is_http_url(url: str) -> bool:
    if not url or len(url) > MAX_URL_LENGTH or any(c.isspace() or not c.isprintable() for c in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_recipient(v: Violations, fields: Mapping[str, Any], prefix: str = "") -> None:
    if "notification_type" in fields:
        v.check(
            fields["notification_type"] in NOTIFICATION_TYPES,
            f"{prefix}notification_type",
            f"must be one of {', '.join(NOTIFICATION_TYPES)}",
        )
    if "address" in fields:
        check_name(v, fields["address"], f"{prefix}address", max_length=MAX_ADDRESS_LENGTH)
    for name in ("subject_template", "message_template"):
        if name in fields:
            _check_template(v, fields[name], f"{prefix}{name}", required=name == "message_template")


def _check_template(v: Violations, template: str, field: str, *, required: bool) -> None:
    # An empty message could not be sent: Telegram refuses it.
    problems = len(v.items)
    check_text(v, template, field, MAX_TEMPLATE_LENGTH, required=required)
    if len(v.items) > problems:
        return
    try:
        validate_template(template)
    except ValueError as error:
        v.check(False, field, str(error))


class WebhookService:
    def __init__(self, uow: UnitOfWorkFactory):
        self._uow = uow

    async def create_webhook(self, callback: str, url: str) -> WebhookRecord:
        v = Violations()
        check_webhook(v, {"callback": callback, "url": url})
        v.raise_if_any()
        async with self._uow() as uow:
            webhook = await uow.webhooks.create(callback=callback, url=url)
            await uow.commit()
        return webhook

    async def get_webhook(self, webhook_id: int) -> WebhookRecord:
        async with self._uow() as uow:
            return await existing(uow.webhooks, "webhook", webhook_id)

    async def list_webhooks(self, page: PageRequest) -> Page[WebhookRecord]:
        async with self._uow() as uow:
            return await uow.webhooks.list(page)

    async def update_webhook(self, webhook_id: int, changes: Mapping[str, Any]) -> WebhookRecord:
        v = Violations()
        check_webhook(v, changes, prefix="webhook.")
        v.raise_if_any()
        async with self._uow() as uow:
            webhook = await existing(uow.webhooks, "webhook", webhook_id)
            apply_changes(webhook, changes)
            await uow.commit()
        return webhook

    async def delete_webhook(self, webhook_id: int) -> None:
        async with self._uow() as uow:
            await uow.webhooks.delete(await existing(uow.webhooks, "webhook", webhook_id))
            await uow.commit()


class RecipientService:
    def __init__(self, uow: UnitOfWorkFactory):
        self._uow = uow

    async def create_recipient(self, group_id: int, fields: Mapping[str, Any]) -> RecipientRecord:
        """`fields`: notification_type (None when unspecified), address, subject_template, message_template."""
        v = Violations()
        v.check(group_id > 0, "group_id", "is required")
        check_recipient(v, fields)
        v.raise_if_any()
        async with self._uow() as uow:
            await existing(uow.groups, "group", group_id)
            recipient = await uow.recipients.create(group_id=group_id, **fields)
            await uow.commit()
        return recipient

    async def get_recipient(self, recipient_id: int) -> RecipientRecord:
        async with self._uow() as uow:
            return await existing(uow.recipients, "recipient", recipient_id)

    async def list_recipients(self, page: PageRequest) -> Page[RecipientRecord]:
        async with self._uow() as uow:
            return await uow.recipients.list(page)

    async def list_group_recipients(self, group_id: int, page: PageRequest) -> Page[RecipientRecord]:
        async with self._uow() as uow:
            await existing(uow.groups, "group", group_id)
            return await uow.recipients.list(page, group_id=group_id)

    async def update_recipient(self, recipient_id: int, changes: Mapping[str, Any]) -> RecipientRecord:
        v = Violations()
        check_recipient(v, changes, prefix="recipient.")
        v.raise_if_any()
        async with self._uow() as uow:
            recipient = await existing(uow.recipients, "recipient", recipient_id)
            apply_changes(recipient, changes)
            await uow.commit()
        return recipient

    async def delete_recipient(self, recipient_id: int) -> None:
        async with self._uow() as uow:
            # Notifications already sent keep their log (recipient_id SET NULL).
            await uow.recipients.delete(await existing(uow.recipients, "recipient", recipient_id))
            await uow.commit()
