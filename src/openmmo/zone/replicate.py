"""The tick: advance the world, route its events, send each client its snapshot.

How it works. Once per tick interval: the world advances (NPCs, respawns, regeneration); the
interest grid is rebuilt; the simulation's events are routed to the players who can see them;
then every playing session gets a snapshot if it has an input to acknowledge, or has not had
one for a snapshot interval, or (only if it is not moving) has events waiting. So a moving
client's input is acknowledged within one tick (20 Hz by default) and its events ride those
acks, an idle client costs only the snapshot rate (10 Hz) and gets events at once, and nobody
gets more than one write per tick. The snapshot parts shared by a cell are encoded once
(:class:`openmmo.replication.area.AreaView`). A client whose socket is backed up is skipped
(snapshots are full state, so nothing is lost by skipping) and closed if it stays backed up.
The send loop yields to the event loop whenever it has held it for ``send_budget_s``, so
connections are accepted and inputs read even during a long tick.
"""

from __future__ import annotations

import asyncio
import time

from openmmo.metrics import (
    BYTES_RECEIVED,
    BYTES_SENT,
    CONNECTIONS,
    DISCONNECTS,
    MESSAGES_RECEIVED,
    MESSAGES_SENT,
    PLAYERS_MAX,
    PLAYERS_ONLINE,
    PROTOCOL_ERRORS,
    SNAPSHOTS_SKIPPED,
    TICK_DURATION,
    TICK_OVERRUNS,
)
from openmmo.protocol.codes import CloseCode, ErrorCode
from openmmo.protocol.session import Phase
from openmmo.protocol.snapshot import TickPrefix, snapshot_json, snapshot_msgpack
from openmmo.replication.area import AreaView
from openmmo.replication.events import Area, to_wire
from openmmo.sim.events import Loot
from openmmo.sim.step import advance
from openmmo.zone.handlers import grant_loot
from openmmo.zone.runtime import ZoneRuntime
from openmmo.zone.session import push_event_to

YIELD_EVERY = 64  # sessions between checks of the send budget


async def tick(rt: ZoneRuntime) -> None:
    started = time.perf_counter()
    now = rt.clock.monotonic()
    world = rt.world
    advance(world, now, rt.config.tick_interval_s)
    rt.grid.rebuild(world.active_slots(), world.x, world.y, world.capacity)
    route_events(rt)
    view = AreaView(world, rt.grid, rt.limits.max_snapshot_entities)
    skipped = await send_snapshots(rt, view, now)
    housekeeping(rt, now)
    flush_metrics(rt, skipped)
    elapsed = time.perf_counter() - started
    label = rt.spec.name
    TICK_DURATION.labels(label).observe(elapsed)
    if elapsed > rt.config.tick_interval_s:
        TICK_OVERRUNS.labels(label).inc()


def route_events(rt: ZoneRuntime) -> None:
    world = rt.world
    for sim_event in world.drain_events():
        if isinstance(sim_event, Loot):
            grant_loot(rt, sim_event)
            continue
        wire, audience = to_wire(sim_event)
        if isinstance(audience, Area):
            push_event_to(rt.players_near(audience.x, audience.y), wire)
        else:
            session = rt.players.get(audience.entity_id)
            if session is not None:
                session.push_event(wire)


async def send_snapshots(rt: ZoneRuntime, view: AreaView, now: float) -> int:
    """Send this tick's snapshots; returns how many were skipped for backed-up clients."""
    prefix = TickPrefix.build(rt.world.tick, int(rt.clock.time() * 1000))
    # Half a tick of slack, so a 10 Hz snapshot rate is not missed by tick-timing jitter.
    due_after = now - rt.config.snapshot_interval_s + rt.config.tick_interval_s / 2
    # Events alone bring a snapshot forward only for players who are not sending inputs: a
    # moving player gets one with its next input's ack anyway, within a snapshot interval, and
    # sending it events on the other ticks would double its writes.
    idle_before = now - 2 * rt.config.snapshot_interval_s
    slot_cell = rt.grid.slot_cell.tolist()
    budget_s = rt.config.send_budget_s
    deadline = time.perf_counter() + budget_s
    sent = skipped = bytes_out = 0
    for index, session in enumerate(list(rt.players.values())):
        if index % YIELD_EVERY == YIELD_EVERY - 1 and time.perf_counter() > deadline:
            await asyncio.sleep(0)
            deadline = time.perf_counter() + budget_s
        actor = session.actor
        if actor is None or session.phase is not Phase.PLAYING:
            continue  # left during a yield
        if not (
            session.unacked
            or session.last_snapshot_at <= due_after
            or (session.events and session.last_input_at <= idle_before)
        ):
            continue
        if not session.writable:
            skipped += 1
            continue
        cell = slot_cell[actor.slot] if actor.slot < len(slot_cell) else -1
        if cell < 0:
            continue  # entered the world during a yield: next tick
        if session.binary:
            data = snapshot_msgpack(
                prefix, session.last_seq, actor.xp, view.msgpack_part(cell), session.events
            )
        else:
            data = snapshot_json(
                prefix, session.last_seq, actor.xp, view.json_part(cell), session.events
            )
        session.transport.send(data, session.binary)
        bytes_out += len(data)
        sent += 1
        session.events = []
        session.unacked = False
        session.last_snapshot_at = now
    rt.sent["snapshot"] += sent
    rt.bytes_out += bytes_out
    return skipped


def housekeeping(rt: ZoneRuntime, now: float) -> None:
    """Close connections that never authenticated or stopped reading; forget old tickets."""
    limits, config = rt.limits, rt.config
    for session in list(rt.sessions.values()):
        if session.phase is Phase.AUTH and now - session.connected_at > limits.auth_timeout_s:
            rt.refuse(
                session,
                ErrorCode.NOT_AUTHENTICATED,
                f"no auth message within {limits.auth_timeout_s:g}s",
                None,
                CloseCode.AUTH_TIMEOUT,
            )
        elif (
            session.backlogged_since is not None
            and now - session.backlogged_since > config.slow_consumer_timeout_s
        ):
            session.close(CloseCode.SLOW_CONSUMER, "not reading snapshots")
            rt.disconnects[CloseCode.SLOW_CONSUMER] += 1
    if rt.world.tick % 100 == 0:
        wall = rt.clock.time()
        for ticket_id in [t for t, expiry in rt.used_tickets.items() if expiry < wall - 60]:
            del rt.used_tickets[ticket_id]
        for transfer_id in [t for t, (_, expiry) in rt.expected.items() if expiry < wall]:
            del rt.expected[transfer_id]


def flush_metrics(rt: ZoneRuntime, skipped: int) -> None:
    """Move the runtime's plain counters into Prometheus once per tick (cheaper than
    incrementing a labelled metric per message)."""
    label = rt.spec.name
    PLAYERS_ONLINE.labels(label).set(len(rt.players))
    PLAYERS_MAX.labels(label).set(rt.config.max_players)
    CONNECTIONS.labels(label).set(len(rt.sessions))
    for kind, count in rt.received.items():
        MESSAGES_RECEIVED.labels(label, kind).inc(count)
    for kind, count in rt.sent.items():
        MESSAGES_SENT.labels(label, kind).inc(count)
    for code, count in rt.errors.items():
        PROTOCOL_ERRORS.labels(label, code).inc(count)
    for close_code, count in rt.disconnects.items():
        DISCONNECTS.labels(label, str(close_code)).inc(count)
    if skipped:
        SNAPSHOTS_SKIPPED.labels(label).inc(skipped)
    BYTES_RECEIVED.labels(label).inc(rt.bytes_in)
    BYTES_SENT.labels(label).inc(rt.bytes_out)
    rt.received.clear()
    rt.sent.clear()
    rt.errors.clear()
    rt.disconnects.clear()
    rt.bytes_in = rt.bytes_out = 0
