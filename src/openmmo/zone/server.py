"""The zone server process: WebSocket listener, tick loop, heartbeat, checkpoints, drain.

Lifespan (one TaskGroup, torn down in reverse): listen → publish to the directory → tick →
checkpoint loop → ready. On stop: readiness false and ``draining`` published at once, no new
connections, every character saved, every player told to reconnect through the gateway (close
1012), then the loops end.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket

from picows import ws_create_server

from openmmo.bus import Bus, BusUnavailable, Envelope, Kind
from openmmo.clock import Clock
from openmmo.directory import ChannelInfo, Directory, DirectoryUnavailable
from openmmo.logs import get_logger
from openmmo.metrics import watch_gc
from openmmo.ops.health import Health
from openmmo.protocol.codes import CloseCode
from openmmo.protocol.server import SERVER_RESTART
from openmmo.protocol.session import Phase
from openmmo.storage import Storage
from openmmo.zone import crossserver, fastpath, transfer
from openmmo.zone.runtime import ZoneRuntime
from openmmo.zone.session import Session
from openmmo.zone.ticker import run_fixed_rate
from openmmo.zone.transport import listener_factory

log = get_logger("openmmo.zone")

# Every heartbeat renews the server's row in zone_servers and its directory entry. A server
# that misses its heartbeats for OWNERSHIP_LEASE_S is dead: its directory entry expires (no
# more players are sent there) and any other server may take its characters over at once;
# the fencing epoch voids whatever a zombie that wakes up still tries to save.
HEARTBEAT_INTERVAL_S = 0.5
OWNERSHIP_LEASE_S = 2.0
# How often the bus is told who plays here (whispers from other regions find a character
# that joined at most this long ago).
PRESENCE_INTERVAL_S = 0.5


class ZoneServer:
    def __init__(
        self,
        runtime: ZoneRuntime,
        *,
        directory: Directory,
        bus: Bus,
        storage: Storage,
        health: Health,
        clock: Clock,
        host: str,
        port: int,
        save_interval_s: float,
        checkpoint_interval_s: float = 1.0,
        ownership_lease_s: float = OWNERSHIP_LEASE_S,
        handoff_timeout_s: float = 5.0,
    ):
        self.runtime = runtime
        self.directory = directory
        self.bus = bus
        self.storage = storage
        self.health = health
        self.clock = clock
        self.host = host
        self.port = port
        self.save_interval_s = save_interval_s
        self.checkpoint_interval_s = checkpoint_interval_s
        self.ownership_lease_s = ownership_lease_s
        self.handoff_timeout_s = handoff_timeout_s
        self.started = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._storage_ok = True
        health.add_check(f"zone:{runtime.spec.name}", self._check_world)

    async def _check_world(self) -> None:
        if self._server is None or not self._server.is_serving():
            raise RuntimeError("game listener is not serving")

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then drain and return."""
        rt = self.runtime
        watch_gc()
        # Everything alive now (modules, the world, its NPCs) lives as long as the process:
        # out of the collector's sight, so a full collection walks only what came after (it
        # walked ~100 ms worth of objects under load, stalling the tick; docs/benchmarks.md).
        gc.freeze()
        async with asyncio.TaskGroup() as tg:
            rt.attach(tg.create_task)
            self._server = await ws_create_server(
                listener_factory(rt),
                self.host,
                self.port,
                max_frame_size=rt.config.limits.max_message_bytes,
                websocket_handshake_timeout=5,
                enable_auto_ping=True,
                auto_ping_idle_timeout=20,
                auto_ping_reply_timeout=20,
                reuse_address=True,
                backlog=1024,
            )
            await self._release_previous_life()
            await self._renew_lease()
            await self.bus.subscribe(rt.config.server_id, self._on_bus)
            loops = [
                tg.create_task(run_fixed_rate(rt.config.tick_interval_s, rt.tick, self.clock)),
                tg.create_task(self._heartbeat()),
                tg.create_task(self._presence()),
                tg.create_task(rt.checkpointer.run(self.save_interval_s, rt.play.online_progress)),
                tg.create_task(
                    rt.checkpointer.run_checkpoints(
                        self.checkpoint_interval_s, rt.play.online_checkpoints
                    )
                ),
            ]
            self.started.set()
            await self._publish()
            log.info(
                "zone_started",
                zone=rt.spec.name,
                server_id=rt.config.server_id,
                port=self.bound_port,
                # "compiled": moves read by openmmo.zone._fastpath; "python": not built, or off
                input_path="compiled" if rt.sessions.moves is not None else "python",
            )
            if fastpath.UNAVAILABLE:
                log.warning("compiled_path_unavailable", reason=fastpath.UNAVAILABLE)
            await stop.wait()
            await self.drain(tick=loops[0])
            for loop in loops[1:]:
                loop.cancel()

    def _on_bus(self, envelope: Envelope) -> None:
        if envelope.kind is Kind.DRAIN:
            drain = bool(envelope.payload.get("drain", True))

            async def run() -> None:
                await self.drain_channel(drain)

            self.runtime.spawn(run())
        else:
            crossserver.handle(self.runtime, envelope)

    async def drain_channel(self, drain: bool) -> int:
        """An operator's drain (the console): stop taking players and move them to the
        zone's other channels as a shutdown would, then save and close whoever is left with
        1012; the server keeps running, not ready, until it is told to take players again.
        Returns how many players were moved."""
        rt = self.runtime
        sessions = rt.sessions
        if self._server is None or not self._server.is_serving():
            return 0  # shutting down (SIGTERM): that drain is not the operator's to undo
        if not drain:
            sessions.draining = self.health.draining = False
            log.info("zone_undrained", zone=rt.spec.name)
            with contextlib.suppress(Exception):
                await self._publish()
            return 0
        if sessions.draining:
            return 0
        sessions.draining = self.health.draining = True
        log.info("zone_draining", zone=rt.spec.name, players=len(sessions.players), by="operator")
        with contextlib.suppress(Exception):
            await self._publish()
        moved = await self._hand_off()
        for session in [s for s in sessions.players.values() if s.playing]:
            sessions.send(session, SERVER_RESTART)
            rt.play.request_leave_nowait(session)  # saved by the next tick
            sessions.close(session, CloseCode.SERVICE_RESTART, "server drained by an operator")
        log.info("zone_handed_off", zone=rt.spec.name, moved=moved, by="operator")
        return moved

    async def drain(self, tick: asyncio.Task[None] | None = None) -> None:
        """Stop taking players, hand the players to another channel of the zone where one
        can take them (as a portal does: the client follows a ``transfer``), then save,
        release and close whoever is left with 1012 (reconnect through the gateway)."""
        rt = self.runtime
        sessions, play = rt.sessions, rt.play
        sessions.draining = True
        self.health.draining = True
        log.info("zone_draining", zone=rt.spec.name, players=len(sessions.players))
        with contextlib.suppress(Exception):  # the directory may be down; the drain goes on
            await self._publish()
        assert self._server is not None
        self._server.close()
        if tick is not None:
            if not tick.done():
                moved = await self._hand_off()
                log.info("zone_handed_off", zone=rt.spec.name, moved=moved)
            tick.cancel()  # from here on the drain owns the world
            with contextlib.suppress(asyncio.CancelledError):
                await tick
        play.begin_tick()  # joins and leaves that arrived after the last tick
        play.apply_leaves()
        for session in list(sessions.players.values()):
            sessions.send(session, SERVER_RESTART)
            play.leave(session)
            sessions.close(session, CloseCode.SERVICE_RESTART, "server restart")
        for session in list(sessions.connections.values()):
            sessions.close(session, CloseCode.SERVICE_RESTART, "server restart")
        saved = await rt.checkpointer.flush()
        if saved and not rt.checkpointer.unsaved:
            with contextlib.suppress(Exception):  # every character released: let go at once
                await self.storage.remove_server(rt.config.server_id)
        log.info("zone_drained", zone=rt.spec.name, saved=saved, unsaved=rt.checkpointer.unsaved)
        with contextlib.suppress(Exception):
            await self.directory.remove(rt.config.server_id)

    async def _hand_off(self) -> int:
        """Transfer every player in the world to the other ready channels of this zone,
        spread by free room, while the tick still runs; returns how many left that way."""
        rt = self.runtime
        try:
            channels = await self.directory.channels()
        except DirectoryUnavailable:
            return 0
        now = self.clock.time()
        targets = {c.server_id: c for c in channels}
        room = {
            c.server_id: c.max_players - c.players
            for c in channels
            if c.zone_id == rt.spec.zone_id
            and c.server_id != rt.config.server_id
            and c.accepts_players(now)
            and c.players < c.max_players
        }
        moving: list[Session] = []
        tasks: list[asyncio.Task[None]] = []
        for session in list(rt.sessions.players.values()):
            actor = session.actor
            if not room or not session.playing or actor is None:
                continue
            if rt.play.world.is_dead(actor.slot):
                continue  # saved and told to reconnect below, once it respawns elsewhere
            target = max(room, key=lambda server_id: (room[server_id], server_id))
            room[target] -= 1
            if room[target] <= 0:
                del room[target]
            moving.append(session)
            tasks.append(asyncio.create_task(transfer.move(rt, session, targets[target])))
        if tasks:  # one that takes longer finishes by itself (the drain closes its session)
            await asyncio.wait(tasks, timeout=self.handoff_timeout_s)
        return sum(1 for s in moving if s.phase is Phase.CLOSED)

    async def _heartbeat(self) -> None:
        interval = min(HEARTBEAT_INTERVAL_S, self.ownership_lease_s / 4)
        while True:
            await asyncio.sleep(interval)
            # Both at once, each bounded: a slow database must not delay the directory's
            # heartbeat (the gateway would think the server dead), nor the other way round.
            await asyncio.gather(
                self._renew_lease(interval * 2), self._beat_directory(interval * 2)
            )

    async def _presence(self) -> None:
        """Keep the bus's routes to the characters playing here (:meth:`Bus.present`)."""
        told: set[str] | None = None
        failing = False
        task = asyncio.current_task()
        while True:
            await asyncio.sleep(PRESENCE_INTERVAL_S)
            players = self.runtime.sessions.players.values()
            names = {s.actor.name for s in players if s.actor is not None}
            if names == told:
                continue
            try:
                await self.bus.present(self.runtime.config.server_id, names)
                failing, told = False, names
            except BusUnavailable as exc:  # the broker is away: try again next round
                if not failing:
                    log.warning("presence_failed", error=str(exc)[:200])
                failing, told = True, None
            # Stopped while binding: aio-pika can swallow a cancellation that lands in its
            # RPC (or turn it into an error of its own); this loop must end anyway, or the
            # drain waits for it until the process is killed.
            if task is not None and task.cancelling():
                raise asyncio.CancelledError

    async def _beat_directory(self, timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                await self._publish()
        except Exception as exc:  # the directory is down: keep running, try next beat
            log.warning("heartbeat_failed", error=str(exc)[:200] or type(exc).__name__)

    async def _release_previous_life(self) -> None:
        """A server that starts owns nobody: characters the database still gives to this
        server id were left by a previous life of it (killed, restarted under the same name
        before its lease ran out) and would otherwise stay held by it forever."""
        server_id = self.runtime.config.server_id
        try:
            released = await self.storage.release_characters(server_id)
        except Exception as exc:  # the database is down: the lease will lapse instead
            log.warning("release_previous_life_failed", server_id=server_id, error=str(exc)[:200])
            return
        if released:
            log.info("released_previous_life", server_id=server_id, characters=released)

    async def _renew_lease(self, timeout_s: float | None = None) -> None:
        """Keep our characters owned; a failure means the database is unreachable, so stop
        taking players until it answers."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.storage.heartbeat_server(
                    self.runtime.config.server_id, self.clock.time() + self.ownership_lease_s
                )
            self._storage_ok = True
        except Exception as exc:  # any failure: not ready until it works again
            if self._storage_ok:
                log.warning("lease_renewal_failed", error=str(exc)[:200] or type(exc).__name__)
            self._storage_ok = False

    async def _publish(self) -> None:
        rt = self.runtime
        await self.directory.publish(
            ChannelInfo(
                server_id=rt.config.server_id,
                zone_id=rt.spec.zone_id,
                zone_name=rt.spec.name,
                ws_url=rt.config.ws_url,
                players=len(rt.sessions.players),
                max_players=rt.config.max_players,
                ready=self.started.is_set() and self._storage_ok and not rt.draining,
                draining=rt.draining,
                heartbeat_at=self.clock.time(),
                ttl_s=self.ownership_lease_s,
                stats=rt.live.take(self.clock.monotonic()),
            )
        )


def default_server_id(zone_name: str, port: int) -> str:
    return f"{zone_name}-{socket.gethostname()}-{port}"
