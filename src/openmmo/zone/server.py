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

from openmmo.bus import Bus
from openmmo.clock import Clock
from openmmo.directory import ChannelInfo, Directory
from openmmo.logs import get_logger
from openmmo.metrics import watch_gc
from openmmo.ops.health import Health
from openmmo.protocol.codes import CloseCode
from openmmo.protocol.server import SERVER_RESTART
from openmmo.storage import Storage
from openmmo.zone import crossserver
from openmmo.zone.runtime import ZoneRuntime
from openmmo.zone.ticker import run_fixed_rate
from openmmo.zone.transport import listener_factory

log = get_logger("openmmo.zone")

HEARTBEAT_INTERVAL_S = 1.0
DIRECTORY_TTL_S = 5.0
# The server holds its characters while its row in zone_servers is alive. Renewed every
# heartbeat; if the server dies (or cannot reach the database) for this long, any other
# server may take its characters over, and the fencing epoch voids its late saves.
OWNERSHIP_LEASE_S = 10.0


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
            await self.bus.subscribe(
                rt.config.server_id, lambda envelope: crossserver.handle(rt, envelope)
            )
            loops = [
                tg.create_task(run_fixed_rate(rt.config.tick_interval_s, rt.tick, self.clock)),
                tg.create_task(self._heartbeat()),
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
            )
            await stop.wait()
            loops[0].cancel()  # the tick: from here on the drain owns the world
            await self.drain()
            for loop in loops[1:]:
                loop.cancel()

    async def drain(self) -> None:
        rt = self.runtime
        sessions, play = rt.sessions, rt.play
        sessions.draining = True
        self.health.draining = True
        log.info("zone_draining", zone=rt.spec.name, players=len(sessions.players))
        await self._publish()
        assert self._server is not None
        self._server.close()
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

    async def _heartbeat(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
            beats += 1
            if beats % 2 == 0:
                await self._renew_lease()
            try:
                await self._publish()
            except Exception as exc:  # the directory is down: keep running, try next beat
                log.warning("heartbeat_failed", error=str(exc)[:200])

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

    async def _renew_lease(self) -> None:
        """Keep our characters owned; a failure means the database is unreachable, so stop
        taking players until it answers."""
        try:
            await self.storage.heartbeat_server(
                self.runtime.config.server_id, self.clock.time() + self.ownership_lease_s
            )
            self._storage_ok = True
        except Exception as exc:  # any failure: not ready until it works again
            if self._storage_ok:
                log.warning("lease_renewal_failed", error=str(exc)[:200])
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
                ttl_s=DIRECTORY_TTL_S,
            )
        )


def default_server_id(zone_name: str, port: int) -> str:
    return f"{zone_name}-{socket.gethostname()}-{port}"
