"""First-start set-up: the superadmin and its group exist before the first request."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from .errors import AlreadyExists
from .ports import UnitOfWorkFactory
from .principal import Scope
from .security import PasswordHasher

logger = logging.getLogger("pyrogrpc.bootstrap")


@dataclass(frozen=True)
class BootstrapResult:
    created: bool
    generated_password: str | None = None


async def ensure_superadmin(
    uow: UnitOfWorkFactory, hasher: PasswordHasher, *, login: str, password: str | None, group_name: str
) -> BootstrapResult:
    """Create the superadmin once; an existing one is left as it is (its password may have changed).

    With no password configured, one is generated and returned so the caller shows it once.
    Two replicas starting together may race: the loser sees AlreadyExists and moves on.
    """
    async with uow() as tx:
        if await tx.accesses.get_by_login(login):
            return BootstrapResult(created=False)
    generated = None if password else secrets.token_urlsafe(18)
    hashed = await hasher.hash(password or generated or "")
    try:
        async with uow() as tx:
            group = await tx.groups.get_by_name(group_name) or await tx.groups.create(name=group_name)
            access = await tx.accesses.create(
                login=login, hashed_password=hashed, scope=Scope.ADMIN.value, group_id=group.id
            )
            await tx.users.create(access_id=access.id, access=access)
            await tx.commit()
    except AlreadyExists:
        return BootstrapResult(created=False)
    logger.info("created superadmin %r in group %r", login, group_name)
    return BootstrapResult(created=True, generated_password=generated)
