"""Devices, sites, installations, webhooks and recipients."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, exists, or_, select

from ...domain.paging import Page, PageRequest
from ..models import Device, Installation, Recipient, Site, Webhook
from .base import Repository


class DeviceRepository(Repository[Device]):
    model = Device

    async def get_by_access_id(self, access_id: int) -> Device | None:
        query = self._select().where(Device.access_id == access_id)
        return (await self.session.execute(query)).unique().scalar_one_or_none()

    async def list_installed_at(self, site_id: int, now: datetime, page: PageRequest) -> Page[Device]:
        """Devices with an installation at the site active at `now` (started, not ended); each once."""
        active = exists().where(
            Installation.device_id == Device.id,
            Installation.site_id == site_id,
            Installation.start_time <= now,
            or_(Installation.end_time.is_(None), Installation.end_time > now),
        )
        return await self.list(page, active)


class SiteRepository(Repository[Site]):
    model = Site


class InstallationRepository(Repository[Installation]):
    model = Installation

    def _select(self):
        return select(Installation).join(Site, Site.id == Installation.site_id)

    def _group_condition(self, group_id: int) -> ColumnElement[bool]:
        return Site.group_id == group_id


class WebhookRepository(Repository[Webhook]):
    model = Webhook


class RecipientRepository(Repository[Recipient]):
    model = Recipient
