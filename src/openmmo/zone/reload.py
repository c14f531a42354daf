"""Hot reload for development (`openmmo up --reload`): a changed game module is imported
anew and swapped into the running zones between two ticks, nobody disconnected.

What carries over: every entity, its position, HP, stats and script state; the zone's
script state (``zone.state``) and its pending timers (which still call the functions they
were given). What the new code brings: declarations (skills, NPC kinds and classes are
looked up by name, so a changed damage applies to the NPCs already standing there), hooks and
brains; hooks disabled for overrunning get a fresh start. An import that fails, or a game
that no longer has a zone being served, keeps the old game running and says why. In
production a new game version is a rolling restart (docs/howto/game-versions.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from watchfiles import PythonFilter, awatch

from openmmo.game.loader import load_game, source_paths
from openmmo.logs import get_logger
from openmmo.sim.declare import Game, GameError
from openmmo.zone.runtime import ZoneRuntime

log = get_logger("openmmo.reload")


def reload_into(name: str, runtimes: Sequence[ZoneRuntime]) -> Game | None:
    """Import game ``name`` anew and hand it to every runtime; None (and a log line saying
    why) when it cannot be used."""
    try:
        game = load_game(name, fresh=True)
    except GameError as exc:
        log.error("game_reload_failed", game=name, error=str(exc), kept="the running game")
        return None
    missing = [rt.spec.name for rt in runtimes if rt.spec.zone_id not in game.zones]
    if missing:
        log.error(
            "game_reload_failed",
            game=name,
            error=f"the new game has no zone for {', '.join(missing)}",
            kept="the running game",
        )
        return None
    for runtime in runtimes:
        runtime.use_game(game)
    log.info("game_reloaded", game=name, version=game.version, zones=len(runtimes))
    return game


async def watch_game(
    name: str, game: Game, runtimes: Sequence[ZoneRuntime], stop: asyncio.Event
) -> None:
    """Reload ``name`` whenever a Python file of it changes, until ``stop`` is set."""
    paths = source_paths(game)
    if not paths:
        log.warning("game_reload_unavailable", game=name, reason="no source files found")
        return
    log.info("game_reload_watching", game=name, paths=[str(p) for p in paths])
    async for changes in awatch(*paths, watch_filter=PythonFilter(), stop_event=stop):
        log.info("game_changed", files=sorted({path for _, path in changes}))
        reload_into(name, runtimes)
