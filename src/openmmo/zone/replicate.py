"""Replication: the interest grid, routing the step's events, sending each client its snapshot.

How it works. After the step, the interest grid is rebuilt from the world; the step's events
are routed to the players who can see them (loot goes to storage first: a ``loot`` event is
a promise that the items are saved); then every playing session gets a snapshot if it has an
input to acknowledge, or has not had one for a snapshot interval, or (only if it is not
moving) has events waiting. So a moving client's input is acknowledged within one tick (20 Hz
by default) and its events ride those acks, an idle client costs only the snapshot rate
(10 Hz) and gets events at once, and nobody gets more than one write per tick. The snapshot
parts shared by a cell are encoded once (:class:`openmmo.replication.area.AreaView`). A
client whose socket is backed up is skipped (snapshots are full state, so nothing is lost by
skipping) and closed if it stays backed up. The send loop yields to the event loop whenever
it has held it for ``send_budget_s``, so connections are accepted and inputs read even during
a long tick.

Protocol v2 clients get deltas instead (:mod:`openmmo.replication.streams`): the part that
brings a client from the view it holds to its cell's view is shared by every client with the
same base, a skipped snapshot only means a larger delta next time, and a v2 client that is due
but would get nothing (no change, no ack, no event) gets nothing, except a keepalive every
``keepalive_s``.

This part owns the grid; it reads the world (never changes it) and the session table.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from openmmo.clock import Clock
from openmmo.protocol.codes import PROTOCOL_DELTA, Limits
from openmmo.protocol.delta import COST_ENTER, DeltaPart, snapshot_v2
from openmmo.protocol.snapshot import TickPrefix, WireEvent, snapshot_json, snapshot_msgpack
from openmmo.replication.area import AreaView
from openmmo.replication.events import Area, Everyone, routed
from openmmo.replication.interest import InterestGrid
from openmmo.replication.streams import DeltaStreams, Relevance
from openmmo.sim.events import Loot, SimEvent
from openmmo.sim.world import EntityKind, World
from openmmo.zone.session import Session, push_event_to
from openmmo.zone.sessions import Sessions

YIELD_EVERY = 64  # sessions between checks of the send budget
HEADER_BYTES = 150  # a v2 snapshot's fixed fields and section headers, about


@dataclass(frozen=True, slots=True)
class DeltaConfig:
    """How protocol v2 views are cut (see :mod:`openmmo.replication.streams`)."""

    budget_bytes_s: int = 16384  # snapshot bytes per client per second; 0: no cap
    far_refresh_hz: float = 5.0  # entities beyond a cell from the viewer's cell
    hysteresis: float = 8.0  # world units beyond the 3x3 cells before an entity leaves
    keepalive_s: float = 1.0  # a client with nothing new hears from the server this often
    history_s: float = 1.0  # a client whose view is older than this gets a keyframe


class Replicator:
    def __init__(
        self,
        world: Callable[[], World],
        sessions: Sessions,
        clock: Clock,
        limits: Limits,
        *,
        tick_interval_s: float,
        snapshot_interval_s: float,
        send_budget_s: float,
        grant_loot: Callable[[Loot], None],
        delta: DeltaConfig | None = None,
    ):
        self._world = world
        self.sessions = sessions
        self.clock = clock
        self.limits = limits
        self.tick_interval_s = tick_interval_s
        self.snapshot_interval_s = snapshot_interval_s
        self.send_budget_s = send_budget_s
        self.grant_loot = grant_loot
        self.last_view: AreaView | None = None
        self.delta = delta or DeltaConfig()
        self.streams: DeltaStreams | None = None  # made when a v2 client first needs one
        self._frame = 0  # counts send_snapshots calls: the "tick" of v2 bases
        self.grid = self._grid_for(world())
        # players_near's answers by cell, until the grid is rebuilt or a player comes or goes
        self._near: dict[int, list[Session]] = {}
        self._near_roster = -1
        spec = world().spec
        self._dims = (spec.width, spec.height, spec.cell_size)

    @staticmethod
    def _grid_for(world: World) -> InterestGrid:
        spec = world.spec
        return InterestGrid(spec.width, spec.height, spec.cell_size)

    def rebuild(self) -> None:
        world = self._world()
        spec = world.spec
        dims = (spec.width, spec.height, spec.cell_size)
        if dims != self._dims:  # a hot reload changed the zone's size
            self.grid, self._dims = self._grid_for(world), dims
            self.streams = None  # every v2 client gets a keyframe of the new zone
        self.grid.rebuild(world.active_slots(), world.x, world.y, world.capacity)
        self._near.clear()

    def players_near(self, x: float, y: float) -> list[Session]:
        """Sessions of the players in the 3x3 cells around (x, y), as of the last grid rebuild
        (the audience of a nearby chat line or a hit). Filtered with numpy: a crowd's chat
        reaches hundreds of players per line; and kept for the cell until the next rebuild or
        change of players: the denser the crowd, the larger each audience and the more of a
        tick's lines share a cell (1,500 players on the town's spawn circle: ~17 cells, ~15
        lines a tick). The list is shared: callers do not change it."""
        cell = self.grid.cell_at(x, y)
        if self._near_roster != self.sessions.roster:
            self._near.clear()
            self._near_roster = self.sessions.roster
        near = self._near.get(cell)
        if near is None:
            world = self._world()
            slots = self.grid.slots_near(cell)
            slots = slots[world.used[slots] & (world.kind[slots] == EntityKind.PLAYER)]
            players = self.sessions.players
            near = [s for s in map(players.get, world.ids[slots].tolist()) if s is not None]
            self._near[cell] = near
        return near

    def route(self, events: list[SimEvent]) -> None:
        players = self.sessions.players
        for sim_event in events:
            if isinstance(sim_event, Loot):
                self.grant_loot(sim_event)
                continue
            for wire, audience in routed(sim_event):
                if isinstance(audience, Area):
                    near = self.players_near(audience.x, audience.y)
                    if audience.exclude is not None:
                        near = [s for s in near if s.character_id != audience.exclude]
                    push_event_to(near, wire)
                elif isinstance(audience, Everyone):
                    push_event_to(players.values(), wire)
                else:
                    session = players.get(audience.entity_id)
                    if session is not None:
                        session.push_event(wire)

    def relevance(self, world: World) -> Relevance:
        delta, tick_rate = self.delta, 1.0 / self.tick_interval_s
        return Relevance(
            max_entities=self.limits.max_snapshot_entities,
            near_radius=world.spec.cell_size,
            far_every=max(1, round(tick_rate / delta.far_refresh_hz)),
            # Views are rebuilt at the snapshot rate; acks and events go out every tick.
            refresh_every=max(1, round(self.snapshot_interval_s / self.tick_interval_s)),
            budget_per_tick=self._records_budget(),
            margin=delta.hysteresis,
        )

    def _records_budget(self) -> int:
        """Bytes of records per view per tick: the cap, less what a snapshot's header and
        section headers take (``HEADER_BYTES`` per snapshot at the snapshot rate)."""
        cap = self.delta.budget_bytes_s
        if cap <= 0:
            return 0
        headers = HEADER_BYTES / self.snapshot_interval_s
        return max(COST_ENTER, int((cap - headers) * self.tick_interval_s))

    def _streams_for(self, world: World) -> DeltaStreams:
        streams = self.streams
        if streams is None or streams.world is not world:  # first use, or a reloaded world
            history = math.ceil(self.delta.history_s / self.tick_interval_s)
            streams = DeltaStreams(self.grid, world, self.relevance(world), history)
            self.streams = streams
        if streams.tick != self._frame:
            streams.begin(world, self._frame)
        return streams

    def broadcast(self, event: WireEvent) -> None:
        push_event_to(self.sessions.players.values(), event)

    async def send_snapshots(self, now: float) -> int:
        """Send this tick's snapshots; returns how many were skipped for backed-up clients."""
        world = self._world()
        view = AreaView(world, self.grid, self.limits.max_snapshot_entities)
        self.last_view = view  # the spectators' world frame is cut from the same records
        self._frame += 1
        keepalive_before = now - self.delta.keepalive_s
        prefix = TickPrefix.build(world.tick, int(self.clock.time() * 1000))
        # Half a tick of slack, so a 10 Hz snapshot rate is not missed by tick-timing jitter.
        due_after = now - self.snapshot_interval_s + self.tick_interval_s / 2
        # Events alone bring a snapshot forward only for players who are not sending inputs:
        # a moving player gets one with its next input's ack anyway, within a snapshot
        # interval, and sending it events on the other ticks would double its writes.
        idle_before = now - 2 * self.snapshot_interval_s
        slot_cell = self.grid.slot_cell.tolist()
        budget_s = self.send_budget_s
        deadline = time.perf_counter() + budget_s
        sent = skipped = bytes_out = 0
        sizes = self.sessions.traffic.snapshot_sizes
        # Who is due is decided once, before the first yield; what arrives meanwhile goes
        # with the next tick.
        due = [
            s
            for s in self.sessions.players.values()
            if s.unacked
            or s.last_snapshot_at <= due_after
            or (s.events and s.last_input_at <= idle_before)
        ]
        # v2: the parts of every due client are computed together (one vectorized pass).
        due_v2 = [
            (s, slot_cell[s.actor.slot])
            for s in due
            if s.protocol == PROTOCOL_DELTA
            and s.writable
            and s.actor is not None
            and s.actor.slot < len(slot_cell)
            and slot_cell[s.actor.slot] >= 0
        ]
        streams = self._streams_for(world) if due_v2 else None
        parts: dict[int, DeltaPart] = {}
        if streams is not None:
            found = streams.parts([(s.delta_base, cell) for s, cell in due_v2])
            parts = {s.session_id: part for (s, _), part in zip(due_v2, found, strict=True)}
        for index, session in enumerate(due):
            if index % YIELD_EVERY == YIELD_EVERY - 1 and time.perf_counter() > deadline:
                await asyncio.sleep(0)
                deadline = time.perf_counter() + budget_s
            actor = session.actor
            if actor is None or not session.playing:
                continue  # left during a yield
            if not session.writable:
                skipped += 1
                continue
            cell = slot_cell[actor.slot] if actor.slot < len(slot_cell) else -1
            if cell < 0:
                continue  # joined after the grid was built: next tick
            if session.protocol == PROTOCOL_DELTA:
                part = parts.get(session.session_id)
                if streams is None or part is None:  # writable again during a yield
                    streams = self._streams_for(world)
                    part = streams.part(session.delta_base, cell)
                session.delta_base = streams.base_of(cell)
                if not (
                    part.changes
                    or part.full
                    or session.unacked
                    or session.events
                    or session.last_snapshot_at <= keepalive_before
                ):
                    continue  # nothing new: the client already holds this view
                data = snapshot_v2(prefix, session.ack_seq, actor.xp, part, session.events)
            elif session.binary:
                data = snapshot_msgpack(
                    prefix, session.ack_seq, actor.xp, view.msgpack_part(cell), session.events
                )
            else:
                data = snapshot_json(
                    prefix, session.ack_seq, actor.xp, view.json_part(cell), session.events
                )
            session.transport.send(data, session.binary)
            size = len(data)
            session.bytes_out += size
            bytes_out += size
            sizes.append(size)
            sent += 1
            session.events = []
            session.unacked = False
            session.last_snapshot_at = now
        traffic = self.sessions.traffic
        traffic.sent["snapshot"] += sent
        traffic.bytes_out += bytes_out
        return skipped
