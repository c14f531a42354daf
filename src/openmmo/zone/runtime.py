"""The zone runtime: one world, the connections to it, and the tick that owns it.

How it works. The runtime composes four parts, each owning its state behind a narrow
interface — :class:`~openmmo.zone.sessions.Sessions` (connections, phases, the inbox),
:class:`~openmmo.zone.play.Play` (the world and the game), the
:class:`~openmmo.zone.checkpoint.Checkpointer` (saves and hot checkpoints) and the
:class:`~openmmo.zone.replicate.Replicator` (interest grid and snapshots) — and runs the tick:

1. ``begin_tick``: a hot-reloaded game swapped in, finished joins put in;
2. the inbox drained: each message of a session whose character is in the world is handled
   (:func:`openmmo.zone.handlers.handle_in_tick`), moves and actions becoming the step's inputs;
3. ``step(world, inputs, dt)``: inputs applied, NPCs, timers and hooks run;
4. the step's replies sent (``ack``/``error``), portal crossings started as transfers, and
   the characters of sessions that ended taken out (after their last inputs);
5. replication: grid rebuilt, events routed, snapshots sent;
6. housekeeping and metrics.

A tick that raises is logged and counted (``openmmo_tick_errors_total``); the next tick runs
as usual, so one bug never stops the world.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from openmmo.auth.tokens import TokenService
from openmmo.bus import Bus
from openmmo.clock import Clock
from openmmo.directory import Directory
from openmmo.logs import get_logger
from openmmo.metrics import (
    BYTES_RECEIVED,
    BYTES_SENT,
    CONNECTIONS,
    DISCONNECTS,
    MESSAGES_RECEIVED,
    MESSAGES_SENT,
    PLAYER_BYTES_PER_SECOND,
    PLAYERS_MAX,
    PLAYERS_ONLINE,
    PROTOCOL_ERRORS,
    SNAPSHOT_BYTES,
    SNAPSHOTS_SKIPPED,
    TICK_DURATION,
    TICK_ERRORS,
    TICK_OVERRUNS,
    initialise_game,
    initialise_zone,
)
from openmmo.protocol.codes import ErrorCode, Limits
from openmmo.protocol.messages import ClientMessage
from openmmo.protocol.server import SESSION_REPLACED_ELSEWHERE, Ack
from openmmo.protocol.session import Phase
from openmmo.sim.declare import Game, ZoneSpec
from openmmo.sim.step import Inputs, ItemInput, StepResult
from openmmo.sim.world import World
from openmmo.storage import Storage
from openmmo.zone import fastpath, handlers, transfer
from openmmo.zone.checkpoint import Checkpointer
from openmmo.zone.live import LiveStats
from openmmo.zone.play import Play
from openmmo.zone.replicate import DeltaConfig, Replicator
from openmmo.zone.session import Session
from openmmo.zone.sessions import Greeting, Sessions, Traffic
from openmmo.zone.spectate import Spectators

log = get_logger("openmmo.zone")

Spawn = Callable[[Coroutine[Any, Any, None]], object]
CORE_ERROR_CODES = frozenset(code.value for code in ErrorCode)


@dataclass(frozen=True, slots=True)
class HookLimits:
    """How much time game code may take (see :mod:`openmmo.sim.hooks`)."""

    budget_s: float = 0.010
    max_overruns: int = 5
    window_ticks: int = 200


@dataclass(frozen=True, slots=True)
class ZoneConfig:
    server_id: str
    ws_url: str
    region: str = "local"  # where global chat and whispers say their speaker plays
    max_players: int = 1000
    tick_interval_s: float = 0.05
    snapshot_interval_s: float = 0.1
    send_budget_s: float = 0.004
    delta: DeltaConfig = field(default_factory=DeltaConfig)  # protocol v2's views
    max_concurrent_joins: int = 8
    slow_consumer_timeout_s: float = 10.0
    limits: Limits = field(default_factory=Limits)
    # Honour join and transfer tickets issued for any channel of this zone, not only this
    # one: for channels behind one load balancer, which picks the channel itself.
    accept_zone_tickets: bool = False
    # Addresses ``limits.max_connections_per_address`` does not apply to: the host itself
    # (load tests, a local proxy) and what the operator lists (a NAT or a load balancer
    # that hides the players' addresses).
    connection_limit_exempt: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    hooks: HookLimits = field(default_factory=HookLimits)
    # Moves read by the compiled path where it is built (openmmo.zone.fastpath).
    compiled_inputs: bool = True


class ZoneRuntime:
    def __init__(
        self,
        world: World,
        config: ZoneConfig,
        *,
        tokens: TokenService,
        storage: Storage,
        bus: Bus,
        clock: Clock,
        checkpointer: Checkpointer,
        directory: Directory,
    ):
        self.config = config
        self.tokens = tokens
        self.storage = storage
        self.bus = bus
        self.clock = clock
        self.directory = directory
        self.checkpointer = checkpointer
        self.traffic = Traffic()
        self.sessions = Sessions(
            zone_id=world.spec.zone_id,
            server_id=config.server_id,
            accept_zone_tickets=config.accept_zone_tickets,
            limits=config.limits,
            tokens=tokens,
            clock=clock,
            traffic=self.traffic,
            connection_limit_exempt=config.connection_limit_exempt,
        )
        if config.compiled_inputs and fastpath.COMPILED:
            self.sessions.moves = fastpath.MoveInbox(Phase.PLAYING, clock.monotonic)
        self.play = Play(
            world,
            sessions=self.sessions,
            checkpointer=checkpointer,
            clock=clock,
            server_id=config.server_id,
            zone_info=self.zone_info,
        )
        self.play.configure_hooks(
            budget_s=config.hooks.budget_s,
            max_overruns=config.hooks.max_overruns,
            window_ticks=config.hooks.window_ticks,
        )
        self.replicator = Replicator(
            lambda: self.play.world,
            self.sessions,
            clock,
            config.limits,
            tick_interval_s=config.tick_interval_s,
            snapshot_interval_s=config.snapshot_interval_s,
            send_budget_s=config.send_budget_s,
            delta=config.delta,
            grant_loot=lambda loot: handlers.grant_loot(self, loot),
        )
        self.spectators = Spectators(self)
        self.live = LiveStats(clock.monotonic())
        self._arrivals: list[float] = []
        self._rates_at = clock.monotonic()
        self.sessions.greeting = self.greeting
        self.sessions.extensions = world.game.messages
        self.sessions.on_immediate = lambda s, m, now: handlers.handle_now(self, s, m, now)
        self.sessions.on_disconnect = self.play.request_leave_nowait
        checkpointer.on_refused = self.ownership_lost
        # Admission: joins load from storage this many at a time (see openmmo.zone.joining).
        self.join_slots = asyncio.Semaphore(config.max_concurrent_joins)
        self._spawn: Spawn | None = None
        initialise_zone(world.spec.name)
        initialise_game(world.spec.name, sorted(world.game.hooks))

    @property
    def spec(self) -> ZoneSpec:
        return self.play.world.spec

    @property
    def draining(self) -> bool:
        return self.sessions.draining

    def attach(self, spawn: Spawn) -> None:
        """Give the runtime its TaskGroup's ``create_task`` for work that must wait."""
        self._spawn = spawn

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self._spawn is None:
            work.close()
            raise RuntimeError("the runtime is not attached to a task group")
        self._spawn(work)

    # --- what clients are told ------------------------------------------------------------
    def zone_info(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "zone_id": spec.zone_id,
            "name": spec.name,
            "width": spec.width,
            "height": spec.height,
            "pvp": spec.pvp,
            "cell_size": spec.cell_size,
            "spawn_x": spec.spawn_x,
            "spawn_y": spec.spawn_y,
            "spawn_radius": spec.spawn_radius,
            "portals": [
                {
                    "x0": p.x0,
                    "y0": p.y0,
                    "x1": p.x1,
                    "y1": p.y1,
                    "zone_id": p.target_zone,
                    "arrival_x": p.arrival_x,
                    "arrival_y": p.arrival_y,
                }
                for p in spec.portals
            ],
        }

    def game_info(self) -> dict[str, Any]:
        game = self.play.game
        return {
            "name": game.name,
            "version": game.version,
            "classes": {
                c.name: {"skills": list(c.skills), "base_hp": c.base_hp}
                for c in game.classes.values()
            },
            "skills": {
                str(s.skill_id): {
                    "name": s.name,
                    "range": s.range,
                    "cooldown_s": s.cooldown_s,
                    "target": s.target.value,
                    "cost": dict(s.cost),
                }
                for s in game.skills.values()
            },
            "fields": self.play.world.schema.describe(),
            "messages": [m.describe() for m in game.messages.values()],
            "errors": game.errors,
            "commands": "on_chat_command" in game.hooks,
            "assets": game.assets,
        }

    def greeting(self) -> Greeting:
        config = self.config
        return Greeting(
            config.server_id,
            self.zone_info(),
            round(1 / config.tick_interval_s, 3),
            round(1 / config.snapshot_interval_s, 3),
            self.game_info(),
        )

    def use_game(self, game: Game) -> None:
        """Hot reload: the new game runs from the next tick; nobody is disconnected."""
        self.play.swap_game(game)
        self.sessions.extensions = game.messages
        initialise_game(self.spec.name, sorted(game.hooks))

    def ownership_lost(self, character_ids: list[int]) -> None:
        """The database refused our saves: another server owns these characters now. Their
        sessions end here, without saving (the new owner's state wins)."""
        for character_id in character_ids:
            session = self.sessions.players.get(character_id)
            if session is not None:
                self.play.request_leave_nowait(session, save=False)
                self.sessions.replace(session, SESSION_REPLACED_ELSEWHERE)

    # --- the tick -------------------------------------------------------------------------
    async def tick(self) -> None:
        started = time.perf_counter()
        label = self.play.label
        try:
            await self._tick()
        except Exception:
            TICK_ERRORS.labels(label).inc()
            log.exception("tick_failed", zone=label, tick=self.play.world.tick)
        elapsed = time.perf_counter() - started
        TICK_DURATION.labels(label).observe(elapsed)
        self.live.tick(self.clock.monotonic(), elapsed, self._arrivals)
        self._arrivals = []
        if elapsed > self.config.tick_interval_s:
            TICK_OVERRUNS.labels(label).inc()

    async def _tick(self) -> None:
        now = self.clock.monotonic()
        play = self.play
        play.begin_tick()
        inputs = Inputs()
        arrivals = self._arrivals
        for session, message, at in self.sessions.drain_inbox():
            arrivals.append(at)
            if session.actor is not None:  # its character is (still) in the world
                self._handle(session, message, inputs, at)
        self.sessions.drain_moves(inputs, arrivals)
        result = play.step(inputs, now, self.config.tick_interval_s)
        self._answer(result, now)
        play.apply_leaves()
        replicator = self.replicator
        replicator.rebuild()
        replicator.route(play.world.drain_events())
        skipped = await replicator.send_snapshots(now)
        self.spectators.tick(now)
        self.sessions.housekeeping(now, self.config.slow_consumer_timeout_s)
        if play.world.tick % 100 == 0:
            self.sessions.forget_expired(self.clock.time())
        self._flush_metrics(skipped)

    def _handle(self, session: Session, message: ClientMessage, inputs: Inputs, at: float) -> None:
        """One inbox message; a bug in its handler costs that message, not the tick."""
        try:
            handlers.handle_in_tick(self, session, message, inputs, at)
        except Exception:
            TICK_ERRORS.labels(self.play.label).inc()
            log.exception("message_failed", zone=self.play.label, type=message.kind.value)
            self.sessions.send_error(session, ErrorCode.INTERNAL, "internal error", message.seq)

    def _answer(self, result: StepResult, now: float) -> None:
        sessions, game = self.sessions, self.play.game
        for reply in result.replies:
            action = reply.action
            session = sessions.players.get(action.entity_id)
            if reply.error is None:
                if session is not None:
                    sessions.send(session, Ack(action.seq, reply.result))
                continue
            code = reply.error.code
            if isinstance(action, ItemInput):
                handlers.refund_item(self, action)
            if code not in CORE_ERROR_CODES and code not in game.errors:
                self.play.world.hooks.record_failure(
                    "undeclared_error_code", action.entity_id, f"Reject({code!r}) is not declared"
                )
            if session is not None:
                sessions.send_error(session, code, reply.error.message, action.seq)
        for entity_id, portal in result.portals:
            session = sessions.players.get(entity_id)
            if session is not None:
                transfer.through_portal(self, session, portal, now)

    def _flush_metrics(self, skipped: int) -> None:
        """Move the plain counters into Prometheus once per tick (cheaper than incrementing
        a labelled metric per message)."""
        label, traffic, sessions = self.play.label, self.traffic, self.sessions
        PLAYERS_ONLINE.labels(label).set(len(sessions.players))
        PLAYERS_MAX.labels(label).set(self.config.max_players)
        CONNECTIONS.labels(label).set(len(sessions.connections))
        for kind, count in traffic.received.items():
            MESSAGES_RECEIVED.labels(label, kind).inc(count)
        for kind, count in traffic.sent.items():
            MESSAGES_SENT.labels(label, kind).inc(count)
        for code, count in traffic.errors.items():
            PROTOCOL_ERRORS.labels(label, code).inc(count)
        for close_code, count in traffic.disconnects.items():
            DISCONNECTS.labels(label, str(close_code)).inc(count)
        if skipped:
            SNAPSHOTS_SKIPPED.labels(label).inc(skipped)
        BYTES_RECEIVED.labels(label).inc(traffic.bytes_in)
        BYTES_SENT.labels(label).inc(traffic.bytes_out)
        SNAPSHOT_BYTES.observe_many(label, traffic.snapshot_sizes)
        now = self.clock.monotonic()
        if now - self._rates_at >= 1.0:  # once a second: what each player was sent
            span, self._rates_at = now - self._rates_at, now
            rates = []
            for session in sessions.players.values():
                rates.append((session.bytes_out - session.bytes_mark) / span)
                session.bytes_mark = session.bytes_out
            PLAYER_BYTES_PER_SECOND.observe_many(label, rates)
        self.live.traffic(
            sum(traffic.received.values()),
            sum(traffic.sent.values()),
            traffic.bytes_in,
            traffic.bytes_out,
        )
        traffic.clear()
