"""What the web console (``/console``) and the admin API do: the cluster view, kick, ban,
announce, drain, and the audit log. Every call needs an account with the admin role, checked
against the database each time (taking the role away works at once); every action is
audited under the admin's name."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable
from typing import TypeVar

from openmmo.auth.tokens import AccessClaims
from openmmo.bus import Bus, BusUnavailable, Kind
from openmmo.clock import Clock
from openmmo.directory import ChannelInfo, Directory, DirectoryUnavailable
from openmmo.gateway.errors import ApiError, unavailable
from openmmo.gateway.schemas import (
    AuditEntryOut,
    ClusterOut,
    ServerOut,
    ServerSample,
)
from openmmo.logs import get_logger
from openmmo.sessions import SessionStore, SessionStoreUnavailable
from openmmo.storage import Account, Storage, StorageUnavailable

log = get_logger("openmmo.gateway")
T = TypeVar("T")

SAMPLE_EVERY_S = 2.0
HISTORY = 150  # five minutes of samples
IDLE_STOP_S = 600.0  # the sampler stops when nobody has looked for this long

_STAT_NAMES = (
    "tick_p95_ms",
    "ack_p95_ms",
    "msgs_in_per_s",
    "msgs_out_per_s",
    "bytes_in_per_s",
    "bytes_out_per_s",
)


def spectate_url(ws_url: str) -> str:
    return ws_url.removesuffix("/ws") + "/spectate"


class ConsoleService:
    def __init__(
        self,
        *,
        storage: Storage,
        directory: Directory,
        bus: Bus,
        sessions: SessionStore,
        clock: Clock,
    ):
        self.storage = storage
        self.directory = directory
        self.bus = bus
        self.sessions = sessions
        self.clock = clock
        self.history: dict[str, deque[ServerSample]] = {}
        self._sampler: asyncio.Task[None] | None = None
        self._last_look = 0.0

    # --- who may --------------------------------------------------------------------------
    async def require_admin(self, claims: AccessClaims) -> Account:
        account = await self._call(self.storage.account_by_id(claims.account_id))
        if account is None or not account.admin or account.banned:
            raise ApiError(403, "not_admin", "this needs an admin (openmmo admin grant-admin)")
        return account

    # --- the cluster view -----------------------------------------------------------------
    async def cluster(self) -> ClusterOut:
        """Every live zone server with its live figures and the samples of the last minutes
        (taken every 2 s while someone watches; the first look starts the sampler)."""
        self._last_look = self.clock.monotonic()
        if self._sampler is None or self._sampler.done():
            self._sampler = asyncio.create_task(self._sample_forever())
        channels = await self._channels()
        now = self.clock.time()
        servers = [
            ServerOut(
                channel_id=c.server_id,
                zone_id=c.zone_id,
                zone_name=c.zone_name,
                ws_url=c.ws_url,
                spectate_url=spectate_url(c.ws_url),
                players=c.players,
                max_players=c.max_players,
                ready=c.ready,
                draining=c.draining,
                heartbeat_age_s=round(max(0.0, now - c.heartbeat_at), 2),
                stats=dict(c.stats),
                history=list(self.history.get(c.server_id, ())),
            )
            for c in channels
        ]
        return ClusterOut(servers=servers, at=now)

    async def _channels(self) -> list[ChannelInfo]:
        try:
            return await self.directory.channels()
        except DirectoryUnavailable as exc:
            raise unavailable(f"the zone directory is unavailable: {exc}") from None

    def sample(self, channels: list[ChannelInfo]) -> None:
        now = self.clock.time()
        live = {c.server_id for c in channels}
        for server_id in [s for s in self.history if s not in live]:
            del self.history[server_id]
        for c in channels:
            stats = {name: float(c.stats.get(name, 0.0)) for name in _STAT_NAMES}
            sample = ServerSample(at=round(now, 3), players=c.players, **stats)
            self.history.setdefault(c.server_id, deque(maxlen=HISTORY)).append(sample)

    async def _sample_forever(self) -> None:
        while self.clock.monotonic() - self._last_look < IDLE_STOP_S:
            with contextlib.suppress(DirectoryUnavailable):
                self.sample(await self.directory.channels())
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler

    # --- actions --------------------------------------------------------------------------
    # ``by`` names who acts, for the audit log: an admin's username, or "the command line".
    async def kick(self, by: str, name: str, reason: str) -> str:
        character = await self._call(self.storage.character_by_name(name))
        if character is None:
            raise ApiError(404, "character_not_found", f"no character {name!r}")
        await self._publish(
            self.bus.broadcast(
                Kind.KICK,
                {"character_id": character.character_id, "reason": "kicked"},
                "admin",
            )
        )
        await self._audit("kick", character.account_id, by, f"{character.name}: {reason}")
        return f"kicked {character.name}"

    async def ban(self, by: str, username: str, reason: str, banned: bool) -> str:
        """Ban (or unban) an account: stored, its refresh tokens revoked, its players kicked
        from every server (the web console and ``openmmo admin ban`` both come here)."""
        account = await self._call(self.storage.account_by_username(username))
        if account is None:
            raise ApiError(404, "account_not_found", f"no account {username!r}")
        if banned and account.username.lower() == by.lower():
            raise ApiError(409, "cannot_ban_yourself", "an admin cannot ban their own account")
        await self._call(self.storage.set_banned(account.account_id, banned))
        await self._audit("ban" if banned else "unban", account.account_id, by, reason)
        if not banned:
            return f"unbanned {account.username}"
        try:
            await self.sessions.revoke_account(account.account_id)
        except SessionStoreUnavailable as exc:
            raise unavailable(f"banned, but refresh tokens were not revoked: {exc}") from None
        await self._publish(
            self.bus.broadcast(
                Kind.KICK, {"account_id": account.account_id, "reason": "banned"}, "admin"
            )
        )
        return f"banned {account.username}: tokens revoked, players kicked"

    async def announce(self, by: str, message: str) -> str:
        await self._publish(self.bus.broadcast(Kind.ANNOUNCE, {"message": message}, "admin"))
        await self._audit("announce", None, by, message)
        return "announced"

    async def drain(self, by: str, channel_id: str, drain: bool) -> str:
        if channel_id not in {c.server_id for c in await self._channels()}:
            raise ApiError(404, "channel_not_found", f"no live channel {channel_id!r}")
        await self._publish(self.bus.send(channel_id, Kind.DRAIN, {"drain": drain}, "admin"))
        await self._audit("drain" if drain else "undrain", None, by, channel_id)
        return f"{'draining' if drain else 'taking players again on'} {channel_id}"

    async def audit(self, limit: int) -> list[AuditEntryOut]:
        entries = await self._call(self.storage.audit_entries(limit))
        return [
            AuditEntryOut(at=e.at, kind=e.kind, account_id=e.account_id, detail=e.detail)
            for e in entries
        ]

    # --- plumbing -------------------------------------------------------------------------
    async def _audit(self, kind: str, account_id: int | None, by: str, detail: str) -> None:
        log.info("admin_action", kind=kind, by=by, detail=detail[:200])
        await self._call(self.storage.record_audit(kind, account_id, f"by {by}: {detail}"))

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except StorageUnavailable as exc:
            raise unavailable(f"the database is unavailable: {exc}") from None

    async def _publish(self, call: Awaitable[None]) -> None:
        try:
            await call
        except BusUnavailable as exc:
            raise unavailable(f"the message bus is unavailable: {exc}") from None
