"""The matchmaker: forms groups from the matchmaking queues and places each on a channel.

Kind: **process**. Every ``interval_s`` it reads each mode's queue, expires tickets that
waited too long, forms groups (:func:`openmmo.matchmaking.form_groups`), and gives each group
the least-loaded ready channel of the mode's zone that has room for all of its members. The
claim is atomic in the queue, so any number of matchmaker replicas can run: a group whose
claim fails (one member cancelled, or another replica was faster) is simply formed again
from what is left on the next round. Players learn their channel by polling their ticket on
the gateway, which hands out the join ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

from openmmo.clock import Clock
from openmmo.directory import ChannelInfo, Directory, DirectoryUnavailable, choose_channel
from openmmo.logs import get_logger
from openmmo.matchmaking import (
    Assignment,
    MatchmakingUnavailable,
    MatchMode,
    MatchQueue,
    Status,
    form_groups,
)
from openmmo.metrics import (
    MATCHMAKING_GROUPS,
    MATCHMAKING_QUEUE,
    MATCHMAKING_TICKETS,
    MATCHMAKING_WAIT,
    initialise_matchmaking,
)

log = get_logger("openmmo.matchmaker")

RESULT_TTL_S = 120.0  # how long a matched or expired ticket stays readable
MAX_BACKOFF_S = 5.0


class Matchmaker:
    def __init__(
        self,
        queue: MatchQueue,
        directory: Directory,
        clock: Clock,
        modes: dict[str, MatchMode],
        interval_s: float = 0.5,
    ):
        self.queue = queue
        self.directory = directory
        self.clock = clock
        self.modes = modes
        self.interval_s = interval_s
        initialise_matchmaking(list(modes))

    async def run(self, stop: asyncio.Event) -> None:
        """Match rounds until ``stop``; an unreachable Redis is retried with backoff."""
        backoff = self.interval_s
        while not stop.is_set():
            try:
                await self.run_once()
                backoff = self.interval_s
            except (MatchmakingUnavailable, DirectoryUnavailable) as exc:
                log.warning("matchmaking_unavailable", error=str(exc)[:200], retry_in_s=backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            with contextlib.suppress(TimeoutError):  # not wait_for: see zone/checkpoint.py
                async with asyncio.timeout(backoff):
                    await stop.wait()

    async def run_once(self) -> int:
        """One round over every mode; returns the number of groups placed."""
        channels = await self.directory.channels()
        seats: dict[str, int] = {}  # players placed this round, not yet in the heartbeats
        placed = 0
        for mode in self.modes.values():
            placed += await self._match_mode(mode, channels, seats)
        return placed

    async def _match_mode(
        self, mode: MatchMode, channels: list[ChannelInfo], seats: dict[str, int]
    ) -> int:
        now = self.clock.time()
        waiting = []
        for ticket in await self.queue.pending(mode.name):
            if now - ticket.enqueued_at > mode.max_wait_s:
                if await self.queue.finish(ticket.ticket_id, Status.EXPIRED, RESULT_TTL_S):
                    MATCHMAKING_TICKETS.labels(mode.name, "expired").inc()
            else:
                waiting.append(ticket)
        placed = 0
        for group in form_groups(waiting, mode, now):
            channel = choose_channel(channels, mode.zone_id, now, seats, seats=len(group))
            if channel is None:
                MATCHMAKING_GROUPS.labels(mode.name, "no_channel").inc()
                log.warning("matchmaking_no_channel", mode=mode.name, zone_id=mode.zone_id)
                break  # the others would not fit either; they keep waiting
            assignment = Assignment(
                secrets.token_urlsafe(9),
                mode.zone_id,
                channel.server_id,
                channel.ws_url,
                tuple(t.character_id for t in group),
                now,
            )
            if not await self.queue.claim([t.ticket_id for t in group], assignment, RESULT_TTL_S):
                MATCHMAKING_GROUPS.labels(mode.name, "conflict").inc()
                continue
            seats[channel.server_id] = seats.get(channel.server_id, 0) + len(group)
            placed += 1
            MATCHMAKING_GROUPS.labels(mode.name, "placed").inc()
            for ticket in group:
                MATCHMAKING_TICKETS.labels(mode.name, "matched").inc()
                MATCHMAKING_WAIT.labels(mode.name).observe(now - ticket.enqueued_at)
            log.info(
                "match_placed",
                mode=mode.name,
                match_id=assignment.match_id,
                server_id=channel.server_id,
                characters=list(assignment.members),
            )
        MATCHMAKING_QUEUE.labels(mode.name).set(await self.queue.length(mode.name))
        return placed
