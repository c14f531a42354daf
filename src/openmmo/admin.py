"""Operator actions: ban, announce, item audit. Run through ``openmmo admin ...``."""

from __future__ import annotations

from contextlib import AsyncExitStack

from openmmo.bus import Kind
from openmmo.bus.rabbitmq import RabbitBus
from openmmo.compose import build_console, open_shared, open_storage
from openmmo.config import Settings
from openmmo.gateway.errors import ApiError
from openmmo.storage import ItemDiscrepancy

BUS_CONNECT_TIMEOUT_S = 10.0


class AdminError(Exception):
    pass


def _require_bus(settings: Settings) -> None:
    if settings.rabbitmq_url is None:
        raise AdminError(
            "RABBITMQ_URL is not set: the embedded world has no shared bus to "
            "reach running servers through"
        )


async def _connected_bus(settings: Settings, stack: AsyncExitStack) -> RabbitBus:
    _require_bus(settings)
    assert settings.rabbitmq_url is not None
    bus = RabbitBus(settings.rabbitmq_url.get_secret_value(), settings.namespace)
    bus.start()
    stack.push_async_callback(bus.close)
    await bus.wait_connected(BUS_CONNECT_TIMEOUT_S)
    return bus


async def ban(settings: Settings, username: str, banned: bool, reason: str) -> str:
    """Ban (or unban) an account, as the web console does (:meth:`ConsoleService.ban`)."""
    if banned:  # kicking players needs the bus: refuse before changing anything
        _require_bus(settings)
    async with AsyncExitStack() as stack:
        shared = await open_shared(settings, stack)
        if banned:
            bus = shared.bus
            assert isinstance(bus, RabbitBus)  # _require_bus
            await bus.wait_connected(BUS_CONNECT_TIMEOUT_S)
        try:
            return await build_console(shared).ban("the command line", username, reason, banned)
        except ApiError as exc:
            raise AdminError(exc.message) from None


async def grant_admin(settings: Settings, username: str, admin: bool) -> str:
    """Give (or take) the admin role: the web console and the admin API, checked on every
    request against the database, so taking it away takes effect at once."""
    async with AsyncExitStack() as stack:  # the database alone
        storage = await open_storage(settings, stack)
        account = await storage.account_by_username(username)
        if account is None:
            raise AdminError(f"no account {username!r}")
        await storage.set_admin(account.account_id, admin)
        await storage.record_audit(
            "grant_admin" if admin else "revoke_admin", account.account_id, "by the command line"
        )
        return f"{username} is {'now' if admin else 'no longer'} an admin"


async def announce(settings: Settings, message: str) -> str:
    async with AsyncExitStack() as stack:
        bus = await _connected_bus(settings, stack)
        await bus.broadcast(Kind.ANNOUNCE, {"message": message}, "admin")
        return "announced"


async def audit_items(settings: Settings) -> tuple[dict[str, int], list[ItemDiscrepancy]]:
    async with AsyncExitStack() as stack:  # the database alone: no bus, no Redis
        storage = await open_storage(settings, stack)
        return await storage.item_totals(), await storage.audit_items()
