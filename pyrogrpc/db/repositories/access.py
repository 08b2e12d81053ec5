"""Groups, accesses and users."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Select, insert, select

from ...domain.read_models import StoredRequest
from ..errors import translated_errors
from ..models import Access, Group, IdempotencyKey, User, table_of, utcnow
from .base import Repository


class GroupRepository(Repository[Group]):
    model = Group

    def _group_condition(self, group_id: int) -> ColumnElement[bool]:
        return Group.id == group_id

    async def get_by_name(self, name: str) -> Group | None:
        return (await self.session.execute(select(Group).where(Group.name == name))).scalar_one_or_none()


class AccessRepository(Repository[Access]):
    model = Access

    async def get_by_login(self, login: str) -> Access | None:
        return (await self.session.execute(select(Access).where(Access.login == login))).scalar_one_or_none()

    async def scopes_and_groups(self, access_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
        """access id -> (scope, group_id) of those of `access_ids` that exist, in one query."""
        query = select(Access.id, Access.scope, Access.group_id).where(Access.id.in_(list(access_ids)))
        return {row.id: (row.scope, row.group_id) for row in await self.session.execute(query)}


class UserRepository(Repository[User]):
    model = User

    def _select(self) -> Select[User]:
        return select(User).join(User.access)

    def _group_condition(self, group_id: int) -> ColumnElement[bool]:
        return Access.group_id == group_id

    async def get_by_access_id(self, access_id: int, *, for_update: bool = False) -> User | None:
        query = self._select().where(User.access_id == access_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.execute(query)).unique().scalar_one_or_none()


class IdempotencyRepository(Repository[IdempotencyKey]):
    """Remembers the first result of creates called with a client request_id."""

    model = IdempotencyKey

    async def find(self, access_id: int, operation: str, request_id: str) -> StoredRequest | None:
        """The key's `resource_id` and `request_digest` (None for keys older than digests)."""
        query = select(IdempotencyKey.resource_id, IdempotencyKey.request_digest).where(
            IdempotencyKey.access_id == access_id,
            IdempotencyKey.operation == operation,
            IdempotencyKey.request_id == request_id,
        )
        row = (await self.session.execute(query)).one_or_none()
        return None if row is None else StoredRequest(row.resource_id, row.request_digest)

    async def remember(
        self, access_id: int, operation: str, request_id: str, resource_id: int, request_digest: str
    ) -> None:
        # Core insert: no ORM flush on the create paths that carry a request_id.
        query = insert(table_of(IdempotencyKey)).values(
            access_id=access_id,
            operation=operation,
            request_id=request_id,
            resource_id=resource_id,
            request_digest=request_digest,
            create_time=utcnow(),
        )
        async with translated_errors():
            await self.session.execute(query)
