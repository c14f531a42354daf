"""Matchmaking queues in process memory, for the embedded world and fast tests."""

from __future__ import annotations

from openmmo.clock import SYSTEM_CLOCK, Clock
from openmmo.matchmaking import AlreadyQueued, Assignment, QueueTicket, Status, TicketState


class MemoryMatchQueue:
    def __init__(self, clock: Clock = SYSTEM_CLOCK):
        self._clock = clock
        self._queues: dict[str, list[str]] = {}
        self._states: dict[str, tuple[TicketState, float]] = {}  # id -> (state, expires at)
        self._accounts: dict[int, str] = {}

    def _get(self, ticket_id: str) -> TicketState | None:
        entry = self._states.get(ticket_id)
        if entry is None or entry[1] < self._clock.time():
            return None
        return entry[0]

    async def enqueue(self, ticket: QueueTicket, ttl_s: float) -> None:
        current = self._accounts.get(ticket.account_id)
        if current is not None:
            state = self._get(current)
            if state is not None and state.status is Status.QUEUED:
                raise AlreadyQueued(current)
        self._accounts[ticket.account_id] = ticket.ticket_id
        self._states[ticket.ticket_id] = (
            TicketState(ticket, Status.QUEUED),
            self._clock.time() + ttl_s,
        )
        self._queues.setdefault(ticket.mode, []).append(ticket.ticket_id)

    async def pending(self, mode: str, limit: int = 1000) -> list[QueueTicket]:
        queue = self._queues.get(mode, [])
        queue[:] = [t for t in queue if self._get(t) is not None]  # drop expired entries
        return [state.ticket for t in queue[:limit] if (state := self._get(t)) is not None]

    async def length(self, mode: str) -> int:
        return len(self._queues.get(mode, []))

    async def claim(self, ticket_ids: list[str], assignment: Assignment, ttl_s: float) -> bool:
        states = [self._get(t) for t in ticket_ids]
        if any(s is None or s.status is not Status.QUEUED for s in states):
            return False
        expires = self._clock.time() + ttl_s
        for state in states:
            assert state is not None
            self._leave_queue(state.ticket)
            self._states[state.ticket.ticket_id] = (
                TicketState(state.ticket, Status.MATCHED, assignment),
                expires,
            )
        return True

    async def finish(self, ticket_id: str, status: Status, ttl_s: float) -> bool:
        state = self._get(ticket_id)
        if state is None or state.status is not Status.QUEUED:
            return False
        self._leave_queue(state.ticket)
        self._states[ticket_id] = (TicketState(state.ticket, status), self._clock.time() + ttl_s)
        return True

    def _leave_queue(self, ticket: QueueTicket) -> None:
        queue = self._queues.get(ticket.mode, [])
        if ticket.ticket_id in queue:
            queue.remove(ticket.ticket_id)
        if self._accounts.get(ticket.account_id) == ticket.ticket_id:
            del self._accounts[ticket.account_id]

    async def state(self, ticket_id: str) -> TicketState | None:
        return self._get(ticket_id)

    async def close(self) -> None:
        return None
