"""Loading rows for a use case: missing rows and rows of another group both become NotFound."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from .errors import NotFound
from .ports import Repository
from .principal import Principal

R = TypeVar("R")


async def existing(repository: Repository[R], resource: str, row_id: int, *, for_update: bool = False) -> R:
    row = await repository.get(row_id, for_update=for_update)
    if row is None:
        raise NotFound(resource, row_id)
    return row


async def visible(
    repository: Repository[R], resource: str, row_id: int, principal: Principal, *, for_update: bool = False
) -> R:
    """The row if the caller may see it; another group's row is NOT_FOUND, so existence never leaks."""
    row = await repository.get(row_id, group_id=principal.group_filter, for_update=for_update)
    if row is None:
        raise NotFound(resource, row_id)
    return row


def apply_changes(row: object, changes: Mapping[str, Any]) -> None:
    for name, value in changes.items():
        setattr(row, name, value)
