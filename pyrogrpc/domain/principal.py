"""Who is calling: the identity carried by a verified access token."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    ADMIN = "admin"
    USER = "user"
    DEVICE = "device"


@dataclass(frozen=True)
class Principal:
    access_id: int
    scope: Scope
    group_id: int

    @property
    def is_admin(self) -> bool:
        return self.scope is Scope.ADMIN

    @property
    def group_filter(self) -> int | None:
        """Group a query must be limited to: None for admins, who see every group."""
        return None if self.is_admin else self.group_id
