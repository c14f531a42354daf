"""Process lifespans: the gateway, a zone server, the matchmaker, and the embedded world
(`openmmo up`, which runs all of them in one process).

Each runs until SIGINT or SIGTERM: readiness drops at once, zone servers save and release
their players, HTTP servers finish in-flight requests, and the process exits within
``DRAIN_TIMEOUT_S`` (a second signal exits at once).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import uvloop
from starlette.applications import Starlette

from openmmo.compose import (
    build_gateway_service,
    build_matchmaker,
    build_zone_server,
    data_dir_note,
    game_of,
    gateway_http,
    http_limits,
    open_shared,
    world_zones,
    zone_spec,
)
from openmmo.config import Settings
from openmmo.gateway.probe import probe_regions
from openmmo.logs import get_logger
from openmmo.metrics import NODE_INFO
from openmmo.ops.app import ops_routes
from openmmo.ops.health import Health
from openmmo.ops.http import HttpServer, bind
from openmmo.zone.reload import watch_game
from openmmo.zone.server import ZoneServer

log = get_logger("openmmo")

Main = Callable[[asyncio.Event], Awaitable[None]]


def run(main: Main, drain_timeout_s: float) -> None:
    """Run ``main(stop)`` on uvloop; the first SIGINT/SIGTERM sets ``stop``, the second, or
    the drain timeout running out, ends the process."""

    async def wrapper() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(signum: int) -> None:
            if stop.is_set():
                log.warning("forced_exit", signal=signal.Signals(signum).name)
                task.cancel()
                return
            log.info("stopping", signal=signal.Signals(signum).name)
            stop.set()
            loop.call_later(drain_timeout_s + 5, task.cancel)

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, on_signal, signum)
        await main(stop)

    try:
        uvloop.run(wrapper())
    except asyncio.CancelledError:
        sys.exit(1)


async def gateway_main(settings: Settings, stop: asyncio.Event) -> None:
    async with AsyncExitStack() as stack:
        shared = await open_shared(settings, stack)
        service = build_gateway_service(shared)
        http = gateway_http(
            shared, service, [settings.server_port, settings.health_port, settings.metrics_port]
        )
        async with asyncio.TaskGroup() as tg:
            serving = tg.create_task(http.serve())
            probing = tg.create_task(
                probe_regions(service.regions, settings.region_probe_interval_s)
            )
            shared.health.started = True
            log.info("gateway_started", ports=http.ports)
            await stop.wait()
            shared.health.draining = True
            probing.cancel()
            http.stop()
            await serving


def _node_info(settings: Settings) -> None:
    NODE_INFO.labels(settings.region, settings.node_capacity_type).set(1)


async def zone_main(settings: Settings, stop: asyncio.Event) -> None:
    _node_info(settings)
    spec = zone_spec(settings.world_zone_id, settings)
    async with AsyncExitStack() as stack:
        shared = await open_shared(settings, stack)
        zone = build_zone_server(shared, spec, settings.server_port)
        ops = _ops_http(shared.health, settings)
        async with asyncio.TaskGroup() as tg:
            ops_task = tg.create_task(ops.serve())
            shared.health.started = True
            await zone.run(stop)
            ops.stop()
            await ops_task


async def matchmaker_main(settings: Settings, stop: asyncio.Event) -> None:
    async with AsyncExitStack() as stack:
        shared = await open_shared(settings, stack)
        matchmaker = build_matchmaker(shared)
        ops = _ops_http(shared.health, settings)
        async with asyncio.TaskGroup() as tg:
            ops_task = tg.create_task(ops.serve())
            shared.health.started = True
            log.info("matchmaker_started", ports=ops.ports, modes=list(matchmaker.modes))
            await matchmaker.run(stop)
            shared.health.draining = True
            ops.stop()
            await ops_task


def _ops_http(health: Health, settings: Settings) -> HttpServer:
    app = Starlette(routes=ops_routes(health))
    ports = dict.fromkeys([settings.health_port, settings.metrics_port])
    return HttpServer(
        app, [bind(settings.bind_host, p) for p in ports], limits=http_limits(settings)
    )


async def up_main(
    settings: Settings,
    stop: asyncio.Event,
    zone_ports: list[int],
    announce: Callable[[dict[str, str]], None],
    *,
    reload: bool = False,
) -> None:
    """The whole world in one process on the embedded defaults: the gateway and one zone
    server per zone, sharing SQLite storage and the in-process directory and bus. With
    ``reload``, edits of the game module are swapped into the running zones."""
    _node_info(settings)
    async with AsyncExitStack() as stack:
        shared = await open_shared(settings, stack)
        game = game_of(settings)
        service = build_gateway_service(shared)
        http = gateway_http(shared, service, [settings.server_port])
        zones = [
            build_zone_server(shared, spec, port, game=game)
            for spec, port in zip(world_zones(settings, game).values(), zone_ports, strict=True)
        ]
        matchmaker = build_matchmaker(shared)
        async with asyncio.TaskGroup() as tg:
            serving = tg.create_task(http.serve())
            probing = tg.create_task(
                probe_regions(service.regions, settings.region_probe_interval_s)
            )
            zone_stop = asyncio.Event()
            for zone in zones:
                tg.create_task(zone.run(zone_stop))
            tg.create_task(matchmaker.run(zone_stop))
            if reload:
                tg.create_task(
                    watch_game(settings.game, game, [z.runtime for z in zones], zone_stop)
                )
            await asyncio.gather(*(z.started.wait() for z in zones))
            shared.health.started = True
            announce(_places(settings, http, zones))
            await stop.wait()
            shared.health.draining = True
            probing.cancel()
            zone_stop.set()
            http.stop()
            await serving


def _places(settings: Settings, http: HttpServer, zones: list[ZoneServer]) -> dict[str, str]:
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host
    base = f"http://{host}:{http.ports[0]}"
    places = {
        "play": f"{base}/play",
        "console": f"{base}/console",
        "gateway": base,
        "openapi": f"{base}/openapi.json",
        "health": f"{base}/health/ready",
        "metrics": f"{base}/metrics",
    }
    for zone in zones:
        places[f"zone {zone.runtime.spec.zone_id} ({zone.runtime.spec.name})"] = (
            zone.runtime.config.ws_url
        )
    places["database"] = data_dir_note(settings)
    return places
