"""Cost of the zone server's per-tick work without sockets: the step (half the players
moving each tick, NPCs, the game's hooks), interest grid, shared snapshot parts and
per-client snapshot assembly, for N players in one zone.

    .venv/bin/python benchmarks/tick_cost.py [--players 2000 5000] [--zone 1] [--protocol 1 2]

Prints a table and writes reports/tick_cost.json. Players are spread uniformly over the zone
and half of them send a move each tick (10 Hz moves at 20 Hz ticks, as the seed's bots);
every player gets a snapshot every tick (the worst case of the adaptive rule). With
``--protocol 1 2`` each size is measured for both, interleaved (v1, v2, v1, v2 ...): v2's
"parts" are the per-cell views and their deltas against each client's previous snapshot.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from openmmo.game import load_game
from openmmo.protocol.delta import snapshot_v2
from openmmo.protocol.snapshot import TickPrefix, snapshot_msgpack
from openmmo.replication.area import AreaView
from openmmo.replication.interest import InterestGrid
from openmmo.replication.streams import DeltaStreams, Relevance
from openmmo.sim.schema import CharacterState
from openmmo.sim.step import Inputs, enter, start, step
from openmmo.sim.world import World

GAME = load_game()


def measure(players: int, zone_id: int, ticks: int, cls: str, protocol: int) -> dict[str, float]:
    spec = GAME.zones[zone_id]
    world = World(spec, GAME, seed=1)
    start(world, 0.0)
    rng = np.random.default_rng(1)
    actors = []
    for i in range(1, players + 1):
        x, y = float(rng.uniform(0, spec.width)), float(rng.uniform(0, spec.height))
        state = CharacterState(zone_id, x, y, 0, 1, 0, {"class": cls, "mana": 50})
        actors.append(enter(world, i, f"P{i}", state, 0.0))  # on_join runs, as in a zone
    grid = InterestGrid(spec.width, spec.height, spec.cell_size)
    relevance = Relevance(
        near_radius=spec.cell_size,
        far_every=4,
        budget_per_tick=16384 // 20,
        margin=8.0,
        refresh_every=2,  # as a zone server: views at the 10 Hz snapshot rate
    )
    streams = DeltaStreams(grid, world, relevance, history_ticks=20)
    bases: dict[int, tuple[int, int] | None] = {actor.slot: None for actor in actors}
    phases: dict[str, list[float]] = {"step": [], "grid": [], "parts": [], "clients": []}
    hooks: list[float] = []
    sizes = []
    now = 0.0
    for tick in range(ticks):
        now += 0.05
        inputs = Inputs()
        for actor in actors[tick % 2 :: 2]:
            slot = actor.slot
            x, y = float(world.x[slot]), float(world.y[slot])
            inputs.move(slot, x + 0.4, y + 0.3, now)
        t0 = time.perf_counter()
        step(world, inputs, now, 0.05)
        t1 = time.perf_counter()
        hooks.extend(sum(r.seconds.values()) for r in world.hooks.drain())
        grid.rebuild(world.active_slots(), world.x, world.y, world.capacity)
        view = AreaView(world, grid, 512)
        if protocol == 2:
            streams.begin(world, tick)
        t2 = time.perf_counter()
        cells = grid.slot_cell.tolist()
        if protocol == 2:
            parts = streams.parts([(bases[a.slot], cells[a.slot]) for a in actors])
        else:
            for actor in actors:
                view.msgpack_part(cells[actor.slot])
        t3 = time.perf_counter()
        prefix = TickPrefix.build(world.tick, 0)
        total = 0
        if protocol == 2:
            for actor, part in zip(actors, parts, strict=True):
                total += len(snapshot_v2(prefix, 1, actor.xp, part, []))
                bases[actor.slot] = streams.base_of(cells[actor.slot])
        else:
            for actor in actors:
                part_v1 = view.msgpack_part(cells[actor.slot])
                total += len(snapshot_msgpack(prefix, 1, actor.xp, part_v1, []))
        if tick:  # the first v2 snapshots are keyframes
            sizes.append(total / players)
        t4 = time.perf_counter()
        for name, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            phases[name].append(value)
    result = {f"{k}_ms": statistics.median(v) * 1000 for k, v in phases.items()}
    result["total_ms"] = sum(result.values())
    # v2 rebuilds a cell's view every other tick: the mean counts both kinds of tick.
    result["mean_total_ms"] = sum(statistics.fmean(v) for v in phases.values()) * 1000
    result["per_client_us"] = result["clients_ms"] * 1000 / players
    result["hooks_ms"] = statistics.fmean(hooks) * 1000  # mean: timers run once a second
    result["hooks_per_player_tick_us"] = result["hooks_ms"] * 1000 / players
    result["snapshot_bytes"] = statistics.median(sizes)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--players", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--zone", type=int, default=1)
    parser.add_argument("--ticks", type=int, default=40)
    parser.add_argument("--protocol", type=int, nargs="+", choices=(1, 2), default=[1])
    parser.add_argument("--rounds", type=int, default=1, help="repeat, interleaved")
    parser.add_argument(
        "--class",
        dest="cls",
        default="adventurer",
        help="players' class (mage: the default game's mana timer runs for each)",
    )
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    for round_ in range(args.rounds):
        for n in args.players:
            for protocol in args.protocol:
                key = f"{n} v{protocol}" + (f" #{round_ + 1}" if args.rounds > 1 else "")
                rows[key] = measure(n, args.zone, args.ticks, args.cls, protocol)
    name = GAME.zones[args.zone].name
    print(f"zone {args.zone} ({name}), {args.cls}s, median of {args.ticks} ticks")
    print(
        f"{'players':>12} {'step':>7} {'(hooks)':>8} {'grid':>7} {'parts':>7} {'clients':>8} "
        f"{'total ms':>9} {'mean ms':>8} {'us/client':>10} {'bytes':>6}"
    )
    for n, r in rows.items():
        print(
            f"{n:>12} {r['step_ms']:>7.2f} {r['hooks_ms']:>8.3f} {r['grid_ms']:>7.2f} "
            f"{r['parts_ms']:>7.2f} {r['clients_ms']:>8.2f} {r['total_ms']:>9.2f} "
            f"{r['mean_total_ms']:>8.2f} {r['per_client_us']:>10.2f} {r['snapshot_bytes']:>6.0f}"
        )
    report = Path("reports")
    report.mkdir(exist_ok=True)
    (report / "tick_cost.json").write_text(
        json.dumps(
            {
                "machine": platform.node(),
                "python": platform.python_version(),
                "zone": args.zone,
                "results": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
