"""Cost of validating a tick's moves: batched with numpy (the tick's step) against one by one
(as socket callbacks applied them before the game API).

    .venv/bin/python benchmarks/move_batch.py [--players 2500]

Half the players move once per tick. Run the same file in a checkout of a commit before the
game API (6c98ce6) to get its one-by-one number: it detects which API it has.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def world_of(players: int):  # type: ignore[no-untyped-def]
    try:  # after the game API
        from openmmo.game import load_game
        from openmmo.sim.world import World

        game = load_game()
        world = World(game.zones[1], game, seed=1)
    except ImportError:  # before it
        from openmmo.sim.zones import TOWN  # type: ignore[import-not-found]

        from openmmo.sim.world import World  # type: ignore[no-redef]

        world = World(TOWN, seed=1)
    rng = np.random.default_rng(1)
    for i in range(1, players + 1):
        x, y = float(rng.uniform(0, 1000)), float(rng.uniform(0, 1000))
        world.add_player(i, f"P{i}", x, y, 0, 1, 0, 0.0)
    return world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--players", type=int, default=2500)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    world = world_of(args.players)
    from openmmo.sim import movement

    movers = list(range(1, args.players + 1, 2))
    one_by_one = batched = float("inf")
    now = 0.0
    for _ in range(args.repeat):
        now += 0.1
        targets = [(i, *world.position(i)) for i in movers]
        started = time.perf_counter()
        for i, x, y in targets:
            movement.apply_move(world, i, x + 0.4, y + 0.3, now)
        one_by_one = min(one_by_one, time.perf_counter() - started)
        if hasattr(movement, "apply_moves"):
            now += 0.1
            slots = [world.actors[i].slot for i in movers]
            xs = [world.position(i)[0] + 0.4 for i in movers]
            ys = [world.position(i)[1] + 0.3 for i in movers]
            started = time.perf_counter()
            movement.apply_moves(world, slots, xs, ys, [now] * len(movers))
            batched = min(batched, time.perf_counter() - started)
    print(f"{len(movers)} moves: one by one {one_by_one * 1e6 / len(movers):.2f} µs per move")
    if batched < float("inf"):
        print(f"{len(movers)} moves: batched {batched * 1e6 / len(movers):.3f} µs per move")


if __name__ == "__main__":
    main()
