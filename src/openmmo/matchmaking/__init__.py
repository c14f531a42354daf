"""Matchmaking queues: players wait for a dungeon or an arena; groups form by rating and level.

Kind: **port + adapters** around pure grouping. The gateway puts a player's
:class:`QueueTicket` in the queue of a :class:`MatchMode`; the matchmaker process reads each
queue, forms groups with :func:`form_groups`, finds a channel with room for the whole group,
and :meth:`MatchQueue.claim` marks the group matched in one atomic step (so two matchmaker
replicas can never place a player twice). The player's next status poll gets a join ticket
for that channel from the gateway.

Rating and level windows widen with waiting time: a new ticket only matches close peers, a
ticket that has waited a minute accepts almost anyone, and each pair must be acceptable to
both (the narrower of their two windows applies).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class MatchmakingUnavailable(Exception):
    """The queue backend cannot be reached."""


class AlreadyQueued(Exception):
    """The account already has a ticket waiting."""

    def __init__(self, ticket_id: str):
        super().__init__(f"already queued with ticket {ticket_id}")
        self.ticket_id = ticket_id


class Status(StrEnum):
    QUEUED = "queued"
    MATCHED = "matched"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class MatchMode:
    name: str
    zone_id: int  # where the group plays
    group_size: int
    rating_window: float = 100.0  # accepted rating difference at once ...
    rating_widen_per_s: float = 25.0  # ... growing this much per second waited ...
    rating_window_max: float = 1500.0  # ... up to this
    level_window: int = 3
    level_widen_per_s: float = 0.5
    level_window_max: int = 60
    max_wait_s: float = 300.0  # then the ticket expires

    def windows(self, waited_s: float) -> tuple[float, float]:
        waited = max(0.0, waited_s)
        rating = min(self.rating_window_max, self.rating_window + waited * self.rating_widen_per_s)
        level = min(self.level_window_max, self.level_window + waited * self.level_widen_per_s)
        return rating, level


DEFAULT_MODES: dict[str, MatchMode] = {
    mode.name: mode
    for mode in (
        MatchMode("dungeon", zone_id=2, group_size=3),
        MatchMode("duel", zone_id=2, group_size=2, rating_window=50.0),
    )
}


@dataclass(frozen=True, slots=True)
class QueueTicket:
    ticket_id: str
    mode: str
    account_id: int
    username: str
    character_id: int
    rating: int
    level: int
    enqueued_at: float  # wall-clock seconds


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where a matched group plays: one channel for all of them."""

    match_id: str
    zone_id: int
    server_id: str
    ws_url: str
    members: tuple[int, ...]  # character ids
    matched_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "match_id": self.match_id,
            "zone_id": self.zone_id,
            "server_id": self.server_id,
            "ws_url": self.ws_url,
            "members": list(self.members),
            "matched_at": self.matched_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Assignment:
        return cls(
            str(data["match_id"]),
            int(data["zone_id"]),
            str(data["server_id"]),
            str(data["ws_url"]),
            tuple(int(m) for m in data["members"]),
            float(data["matched_at"]),
        )


@dataclass(frozen=True, slots=True)
class TicketState:
    ticket: QueueTicket
    status: Status
    assignment: Assignment | None = None


def compatible(a: QueueTicket, b: QueueTicket, mode: MatchMode, now: float) -> bool:
    """Both players accept each other: the narrower of their windows covers the gap."""
    rating_a, level_a = mode.windows(now - a.enqueued_at)
    rating_b, level_b = mode.windows(now - b.enqueued_at)
    return abs(a.rating - b.rating) <= min(rating_a, rating_b) and abs(a.level - b.level) <= min(
        level_a, level_b
    )


def form_groups(
    tickets: Iterable[QueueTicket], mode: MatchMode, now: float
) -> list[list[QueueTicket]]:
    """Full groups of mutually compatible players, longest-waiting first.

    Greedy: the oldest unmatched ticket anchors a group and takes the compatible players
    closest to it in rating, each compatible with everyone already in the group. A ticket
    that cannot complete a group now waits; its windows widen until it can.
    """
    waiting = sorted(tickets, key=lambda t: (t.enqueued_at, t.ticket_id))
    used: set[str] = set()
    groups: list[list[QueueTicket]] = []
    for anchor in waiting:
        if anchor.ticket_id in used:
            continue
        group = [anchor]
        candidates = sorted(
            (t for t in waiting if t.ticket_id not in used and t.ticket_id != anchor.ticket_id),
            key=lambda t: (abs(t.rating - anchor.rating), t.enqueued_at),
        )
        for candidate in candidates:
            if len(group) == mode.group_size:
                break
            if candidate.account_id in {m.account_id for m in group}:
                continue
            if all(compatible(candidate, m, mode, now) for m in group):
                group.append(candidate)
        if len(group) == mode.group_size:
            groups.append(group)
            used.update(m.ticket_id for m in group)
    return groups


class MatchQueue(Protocol):
    async def enqueue(self, ticket: QueueTicket, ttl_s: float) -> None:
        """Add a waiting ticket; raises :class:`AlreadyQueued` if the account has one."""
        ...

    async def pending(self, mode: str, limit: int = 1000) -> list[QueueTicket]:
        """The mode's waiting tickets, oldest first (at most ``limit``)."""
        ...

    async def length(self, mode: str) -> int: ...

    async def claim(self, ticket_ids: list[str], assignment: Assignment, ttl_s: float) -> bool:
        """Mark every ticket matched to ``assignment`` — all of them, or none if any is no
        longer waiting (cancelled, expired, claimed by another matchmaker)."""
        ...

    async def finish(self, ticket_id: str, status: Status, ttl_s: float) -> bool:
        """Cancel or expire a waiting ticket; False if it was not waiting."""
        ...

    async def state(self, ticket_id: str) -> TicketState | None: ...

    async def close(self) -> None: ...


def ticket_to_dict(ticket: QueueTicket) -> dict[str, Any]:
    return {
        "ticket_id": ticket.ticket_id,
        "mode": ticket.mode,
        "account_id": ticket.account_id,
        "username": ticket.username,
        "character_id": ticket.character_id,
        "rating": ticket.rating,
        "level": ticket.level,
        "enqueued_at": ticket.enqueued_at,
    }


def ticket_from_dict(data: dict[str, Any]) -> QueueTicket:
    return QueueTicket(
        str(data["ticket_id"]),
        str(data["mode"]),
        int(data["account_id"]),
        str(data["username"]),
        int(data["character_id"]),
        int(data["rating"]),
        int(data["level"]),
        float(data["enqueued_at"]),
    )
