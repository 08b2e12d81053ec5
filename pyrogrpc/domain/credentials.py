"""Password resets by an admin, shared by users and devices (both keep it in their access row)."""

from __future__ import annotations

from .ports import Record, UnitOfWorkFactory
from .rows import existing
from .security import PasswordHasher
from .validation import Violations, check_password


async def reset_password(
    uow_factory: UnitOfWorkFactory, hasher: PasswordHasher, repository: str, resource: str, row_id: int, password: str
) -> Record:
    """Check the policy, hash off the event loop, then store on the row's access; returns the row."""
    v = Violations()
    check_password(v, password)
    v.raise_if_any()
    hashed = await hasher.hash(password)
    async with uow_factory() as uow:
        row = await existing(getattr(uow, repository), resource, row_id)
        row.access.hashed_password = hashed
        await uow.commit()
    return row
