"""The zone directory: which servers host which zones, how full they are, whether they are ready.

Kind: **port + adapters**. Zone servers publish a :class:`ChannelInfo` on every heartbeat; the
gateway lists channels and allocates players with :func:`choose_channel`. An entry whose
heartbeat is older than its ``ttl_s`` is treated as gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


class DirectoryUnavailable(Exception):
    """The directory backend cannot be reached."""


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    server_id: str  # unique per zone server process; the channel's id
    zone_id: int
    zone_name: str
    ws_url: str
    players: int
    max_players: int
    ready: bool
    draining: bool
    heartbeat_at: float  # wall-clock seconds
    ttl_s: float = 5.0
    # The server's live figures (openmmo.zone.live), for the console's cluster view.
    stats: Mapping[str, float] = field(default_factory=dict)

    def alive(self, now: float) -> bool:
        return now - self.heartbeat_at <= self.ttl_s

    def accepts_players(self, now: float) -> bool:
        return self.alive(now) and self.ready and not self.draining


class Directory(Protocol):
    async def publish(self, info: ChannelInfo) -> None:
        """Register or refresh a channel (a zone server's heartbeat)."""
        ...

    async def remove(self, server_id: str) -> None: ...

    async def channels(self) -> list[ChannelInfo]:
        """Every live channel, any state."""
        ...

    async def close(self) -> None: ...


def choose_channel(
    channels: Iterable[ChannelInfo],
    zone_id: int,
    now: float,
    pending: Mapping[str, int] | None = None,
    seats: int = 1,
) -> ChannelInfo | None:
    """The least-loaded channel of ``zone_id`` that accepts players and has room for
    ``seats`` more (a matched group needs room for all of its members).

    ``pending`` counts players recently sent to a channel that its heartbeat does not show yet,
    so a burst of logins spreads over channels instead of piling onto one.
    """
    pending = pending or {}
    best: ChannelInfo | None = None
    best_load = 0.0
    for channel in channels:
        if channel.zone_id != zone_id or not channel.accepts_players(now):
            continue
        players = channel.players + pending.get(channel.server_id, 0)
        if players + seats > channel.max_players:
            continue
        load = players / channel.max_players
        if (
            best is None
            or load < best_load
            or (load == best_load and channel.server_id < best.server_id)
        ):
            best, best_load = channel, load
    return best
