"""Scopes and group isolation: who sees and changes what (domain/principal.py, devices.py,
sites.py), against fakes. The RPC -> scope table itself is checked end to end by
tests/test_authorization_matrix.py."""

from __future__ import annotations

import pytest

from pyrogrpc.domain.devices import DeviceService
from pyrogrpc.domain.errors import NotFound, PermissionDenied
from pyrogrpc.domain.paging import PageRequest
from pyrogrpc.domain.principal import Principal, Scope
from pyrogrpc.domain.sites import SiteService
from tests.unit.conftest import ADMIN


def test_admins_see_every_group_others_their_own():
    assert ADMIN.group_filter is None and ADMIN.is_admin
    user = Principal(access_id=2, scope=Scope.USER, group_id=7)
    device = Principal(access_id=3, scope=Scope.DEVICE, group_id=7)
    assert (user.group_filter, device.group_filter) == (7, 7)
    assert not user.is_admin


class _NoHashing:
    async def hash(self, password: str) -> str:
        return "hashed"


async def _user(store, group_id: int) -> Principal:
    access = await store.accesses.create(login=f"u{group_id}", scope="user", group_id=group_id)
    await store.users.create(access_id=access.id, access=access)
    return Principal(access_id=access.id, scope=Scope.USER, group_id=group_id)


async def test_only_the_owner_or_an_admin_moves_a_device(store, uow):
    devices = DeviceService(uow, _NoHashing())  # type: ignore[arg-type]
    owner, colleague = await _user(store, 1), await _user(store, 1)
    owner_row = next(u for u in store.users.rows.values() if u.access_id == owner.access_id)
    device = await store.devices.create(owner_id=owner_row.id, group_id=1, lat=1.0, lon=1.0)
    moved = await devices.update_location(owner, device.id, {"lat": 2.0, "lon": 2.0})
    assert (moved.lat, moved.lon) == (2.0, 2.0)
    with pytest.raises(PermissionDenied):
        await devices.update_location(colleague, device.id, {"lat": 3.0, "lon": 3.0})
    await devices.update_location(ADMIN, device.id, {"lat": 4.0, "lon": 4.0})
    outsider = await _user(store, 2)
    with pytest.raises(NotFound):  # another group's device does not exist for the caller
        await devices.update_location(outsider, device.id, {"lat": 5.0, "lon": 5.0})
    assert store.devices.rows[device.id].lat == 4.0


async def test_lists_keep_to_the_callers_group_and_a_filter_only_narrows(store, uow):
    sites = SiteService(uow)
    for group_id in (1, 1, 2):
        await store.sites.create(group_id=group_id, name=f"s{group_id}")
    user = Principal(access_id=5, scope=Scope.USER, group_id=1)
    assert {s.group_id for s in (await sites.list_sites(user, PageRequest())).items} == {1}
    assert (await sites.list_sites(user, PageRequest(), group_id=2)).items == []
    assert len((await sites.list_sites(ADMIN, PageRequest(), group_id=2)).items) == 1
    assert len((await sites.list_sites(ADMIN, PageRequest())).items) == 3
