"""Operator actions: ban, announce, item audit. Run through ``openmmo admin ...``."""

from __future__ import annotations

from contextlib import AsyncExitStack

from openmmo.bus import Kind
from openmmo.bus.rabbitmq import RabbitBus
from openmmo.compose import open_shared
from openmmo.config import Settings
from openmmo.storage import ItemDiscrepancy

BUS_CONNECT_TIMEOUT_S = 10.0


class AdminError(Exception):
    pass


async def _connected_bus(settings: Settings, stack: AsyncExitStack) -> RabbitBus:
    if settings.rabbitmq_url is None:
        raise AdminError(
            "RABBITMQ_URL is not set: the embedded world has no shared bus to "
            "reach running servers through"
        )
    bus = RabbitBus(settings.rabbitmq_url.get_secret_value(), settings.namespace)
    bus.start()
    stack.push_async_callback(bus.close)
    await bus.wait_connected(BUS_CONNECT_TIMEOUT_S)
    return bus


async def ban(settings: Settings, username: str, banned: bool, reason: str) -> str:
    """Ban (or unban) an account: stored, its refresh tokens revoked, its players kicked."""
    async with AsyncExitStack() as stack:
        shared = await open_shared(settings, stack)
        account = await shared.storage.account_by_username(username)
        if account is None:
            raise AdminError(f"no account {username!r}")
        await shared.storage.set_banned(account.account_id, banned)
        await shared.storage.record_audit("ban" if banned else "unban", account.account_id, reason)
        if not banned:
            return f"unbanned {username}"
        await shared.sessions.revoke_account(account.account_id)
        bus = await _connected_bus(settings, stack)
        await bus.broadcast(
            Kind.KICK, {"account_id": account.account_id, "reason": "banned"}, "admin"
        )
        return f"banned {username}: tokens revoked, players kicked"


async def announce(settings: Settings, message: str) -> str:
    async with AsyncExitStack() as stack:
        bus = await _connected_bus(settings, stack)
        await bus.broadcast(Kind.ANNOUNCE, {"message": message}, "admin")
        return "announced"


async def audit_items(settings: Settings) -> tuple[dict[str, int], list[ItemDiscrepancy]]:
    async with AsyncExitStack() as stack:
        shared = await open_shared(settings, stack)
        return await shared.storage.item_totals(), await shared.storage.audit_items()
