"""Operator actions against the embedded world's database (the cluster tests cover the bus)."""

from contextlib import AsyncExitStack

import pytest

from openmmo.admin import AdminError, audit_items, ban, grant_admin
from openmmo.compose import open_storage
from openmmo.config import load_settings


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=str(tmp_path), database_url=None, rabbitmq_url=None)


async def _account(settings, username):
    async with AsyncExitStack() as stack:
        storage = await open_storage(settings, stack)
        return await storage.account_by_username(username) or await storage.create_account(
            username, "hash"
        )


async def test_a_ban_without_a_bus_is_refused_before_anything_changes(settings):
    await _account(settings, "griefer")
    with pytest.raises(AdminError, match="RABBITMQ_URL"):
        await ban(settings, "griefer", True, "spam")
    assert not (await _account(settings, "griefer")).banned


async def test_unbanning_needs_no_bus(settings):
    await _account(settings, "forgiven")
    assert await ban(settings, "forgiven", False, "appeal") == "unbanned forgiven"


async def test_the_audit_needs_only_the_database(settings):
    await _account(settings, "auditor")
    totals, discrepancies = await audit_items(settings)
    assert totals == {} and discrepancies == []


async def test_grant_admin_flags_the_account_and_is_audited(settings):
    await _account(settings, "operator")
    assert await grant_admin(settings, "operator", True) == "operator is now an admin"
    assert (await _account(settings, "operator")).admin
    await grant_admin(settings, "operator", False)
    assert not (await _account(settings, "operator")).admin
    async with AsyncExitStack() as stack:
        storage = await open_storage(settings, stack)
        kinds = [e.kind for e in await storage.audit_entries(5)]
    assert kinds == ["revoke_admin", "grant_admin"]
    with pytest.raises(AdminError, match="no account"):
        await grant_admin(settings, "nobody", True)
