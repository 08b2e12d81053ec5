"""Idempotent creates: a client `request_id` makes a retried create return the first result.

Devices on flaky links retry; without this a retry after a lost response would create a
second media or alert. The key is (caller's access, operation, request_id), stored in the
same transaction as the created row, so either both exist or neither does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from .errors import AlreadyExists, NotFound
from .ports import UnitOfWork, UnitOfWorkFactory
from .principal import Principal

T = TypeVar("T")


async def create_once(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    operation: str,
    request_id: str,
    create: Callable[[UnitOfWork], Awaitable[T]],
    load: Callable[[UnitOfWork, int], Awaitable[T | None]],
) -> tuple[T, bool]:
    """Run `create` (which adds rows but does not commit) once per request_id.

    Returns (row, created): created is False when an earlier call with the same
    request_id already made the row, which is then loaded with `load`.
    """
    try:
        async with uow_factory() as uow:
            if request_id:
                existing = await _replay(uow, principal, operation, request_id, load)
                if existing is not None:
                    return existing, False
            row = await create(uow)
            if request_id:
                await uow.idempotency.remember(principal.access_id, operation, request_id, row.id)  # type: ignore[attr-defined]
            await uow.commit()
            return row, True
    except AlreadyExists:
        if not request_id:
            raise
        # A concurrent retry with the same request_id committed first: answer with its row.
        async with uow_factory() as uow:
            existing = await _replay(uow, principal, operation, request_id, load)
        if existing is None:
            raise
        return existing, False


async def _replay(
    uow: UnitOfWork,
    principal: Principal,
    operation: str,
    request_id: str,
    load: Callable[[UnitOfWork, int], Awaitable[T | None]],
) -> T | None:
    resource_id = await uow.idempotency.find(principal.access_id, operation, request_id)
    if resource_id is None:
        return None
    row = await load(uow, resource_id)
    if row is None:
        raise NotFound(f"{operation} result", resource_id)  # created, then deleted since
    return row
