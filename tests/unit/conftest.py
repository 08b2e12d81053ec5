"""The unit tier: domain rules against in-memory fakes of the ports, no server, no database."""

from __future__ import annotations

import pytest

from pyrogrpc.domain.principal import Principal, Scope
from tests.unit.fakes import FakeStore, FakeUnitOfWork


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def uow(store: FakeStore):  # a UnitOfWorkFactory
    return lambda: FakeUnitOfWork(store)


ADMIN = Principal(access_id=1, scope=Scope.ADMIN, group_id=1)
