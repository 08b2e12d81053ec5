"""Idempotent creates: a client `request_id` makes a retried create return the first result.

Devices on flaky links retry; without this a retry after a lost response would create a
second media or alert. The key is (caller's access, operation, request_id), stored in the
same transaction as the created row, so either both exist or neither does.

A retry must be the same request: the key also stores a digest of the request (its fields
except request_id, see `request_digest`). The same request_id with another request is
refused with RequestIdReused (ALREADY_EXISTS) and creates nothing: returning the first
result would tell the client that its different request was done. Keys stored before the
digest existed have none and replay whatever the request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from .errors import AlreadyExists, NotFound, RequestIdReused
from .ports import Identified, UnitOfWork, UnitOfWorkFactory
from .principal import Principal

T = TypeVar("T", bound=Identified)


def request_digest(fields: Mapping[str, object]) -> str:
    """SHA-256 (hex) of a canonical JSON of a request's domain values.

    Canonical: sorted keys, no spaces, datetimes as UTC ISO 8601; floats as Python prints
    them (the shortest text that round-trips), so equal values give equal digests.
    """
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=_json_value)
    return hashlib.sha256(text.encode()).hexdigest()


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"no canonical JSON for {type(value).__name__}")


def check_same_request(stored_digest: str | None, digest: str, operation: str) -> None:
    """Raise RequestIdReused when a request_id's first request had another digest."""
    if stored_digest is not None and stored_digest != digest:
        raise RequestIdReused(
            f"this request_id was already used for a different {operation} request; "
            "a new request needs a new request_id"
        )


async def create_once(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    operation: str,
    request_id: str,
    request: Mapping[str, object],
    create: Callable[[UnitOfWork], Awaitable[T]],
    load: Callable[[UnitOfWork, int], Awaitable[T | None]],
) -> tuple[T, bool]:
    """Run `create` (which adds rows but does not commit) once per request_id.

    `request` holds the request's fields except request_id, as domain values. Returns
    (row, created): created is False when an earlier call with the same request_id and
    the same request already made the row, which is then loaded with `load`.
    """
    digest = request_digest(request) if request_id else ""
    try:
        async with uow_factory() as uow:
            if request_id:
                existing = await _replay(uow, principal, operation, request_id, digest, load)
                if existing is not None:
                    return existing, False
            row = await create(uow)
            if request_id:
                await uow.idempotency.remember(principal.access_id, operation, request_id, row.id, digest)
            await uow.commit()
            return row, True
    except RequestIdReused:
        raise
    except AlreadyExists:
        if not request_id:
            raise
        # A concurrent call with the same request_id committed first: answer with its row
        # if it was the same request (our own rows were rolled back with the key).
        async with uow_factory() as uow:
            existing = await _replay(uow, principal, operation, request_id, digest, load)
        if existing is None:
            raise
        return existing, False


async def _replay(
    uow: UnitOfWork,
    principal: Principal,
    operation: str,
    request_id: str,
    digest: str,
    load: Callable[[UnitOfWork, int], Awaitable[T | None]],
) -> T | None:
    key = await uow.idempotency.find(principal.access_id, operation, request_id)
    if key is None:
        return None
    check_same_request(key.request_digest, digest, operation)
    row = await load(uow, key.resource_id)
    if row is None:
        raise NotFound(f"{operation} result", key.resource_id)  # created, then deleted since
    return row
