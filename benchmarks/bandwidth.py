"""Bytes per player-second, v1 against v2, in the same zone at the same time.

    .venv/bin/python benchmarks/bandwidth.py [--seconds 20] [--budget 16384]

A zone runtime with no sockets and a manual clock (so the numbers are the protocol's, not the
machine's): players join over the real session code, half of them on ``openmmo.v1.msgpack``
and half on ``openmmo.v2.msgpack``, and every byte each one is sent is counted. Three worlds:

* ``view50``: 51 players in a 90-unit square, each in the others' view, each moving at the
  seed's rate (a move every 0.1 s, 6 units/s, turning at random), so ~50 players in view move;
* ``still``: the same 51 players standing (no NPCs): what a quiet world costs;
* ``crowd``: 600 players in one 64-unit cell, all moving: the byte cap at work.

Prints a table and writes reports/bandwidth.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import platform
import random
from pathlib import Path
from typing import Any

from openmmo.auth.tokens import KeyRing, TokenService
from openmmo.bus.memory import MemoryBus
from openmmo.directory.memory import MemoryDirectory
from openmmo.logs import configure_logging
from openmmo.protocol.codes import Encoding, Limits, Wire
from openmmo.storage.memory import MemoryStorage
from openmmo.testing import ManualClock, empty_world
from openmmo.zone.checkpoint import Checkpointer
from openmmo.zone.replicate import DeltaConfig
from openmmo.zone.runtime import ZoneConfig, ZoneRuntime
from openmmo.zone.session import Session

SECRET = "bandwidth-benchmark-secret-0123456789"
V1, V2 = Wire(Encoding.MSGPACK), Wire(Encoding.MSGPACK, 2)


class CountingTransport:
    """A transport that counts what it is sent and keeps nothing."""

    def __init__(self) -> None:
        self.remote = "127.0.0.1:1"
        self.address = "127.0.0.1"
        self.bytes = 0
        self.frames = 0
        self.closed: tuple[int, str] | None = None

    def send(self, data: bytes, binary: bool) -> None:
        self.bytes += len(data)
        self.frames += 1

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def run(
    world_name: str, players: int, side: float, moving: bool, args: Any
) -> dict[str, Any]:
    clock = ManualClock()
    storage = MemoryStorage()
    tokens = TokenService(KeyRing("k1", SECRET), clock)
    config = ZoneConfig(
        server_id="bandwidth-1",
        ws_url="ws://bandwidth/ws",
        max_players=players + 10,
        limits=Limits(max_connections_per_account=0),
        delta=DeltaConfig(budget_bytes_s=args.budget),
    )
    world = empty_world(width=1024, height=1024, cell_size=64)
    tasks: list[asyncio.Task[Any]] = []
    runtime = ZoneRuntime(
        world,
        config,
        tokens=tokens,
        storage=storage,
        bus=MemoryBus(),
        clock=clock,
        checkpointer=Checkpointer(storage, "bench", "bandwidth-1", None),
        directory=MemoryDirectory(clock),
    )
    runtime.attach(lambda coro: tasks.append(asyncio.ensure_future(coro)))
    rng = random.Random(1)
    x0 = y0 = 512 - side / 2 + 1  # the square sits inside one 3x3 block of 64-unit cells
    clients: list[tuple[Session, CountingTransport, Wire, list[float]]] = []
    for i in range(players):
        name = f"p{i}"
        account = await storage.create_account(name, "h")
        x, y = x0 + rng.uniform(0, side), y0 + rng.uniform(0, side)
        await storage.create_character(account.account_id, name.capitalize(), 9, x, y)
        transport = CountingTransport()
        wire = V2 if i % 2 else V1
        session = runtime.sessions.connect(
            transport, wire, tokens.issue_access(account.account_id, name)
        )
        runtime.sessions.on_message(session, b'{"type":"join_game","seq":1}', False)
        clients.append((session, transport, wire, [x, y, rng.uniform(0, 2 * math.pi)]))
    while tasks:
        batch, tasks[:] = list(tasks), []
        await asyncio.gather(*batch)
        runtime.play.begin_tick()
    for _ in range(20):  # one second to settle (keyframes, first views)
        clock.advance(0.05)
        await runtime.tick()
    start = [(t.bytes, t.frames) for _, t, _, _ in clients]
    ticks = int(args.seconds * 20)
    seq = 1
    for tick in range(ticks):
        clock.advance(0.05)
        if moving:
            for index, (session, _, _, state) in enumerate(clients):
                if (tick + index) % 2:  # every other tick: 10 Hz
                    continue
                state[2] += rng.uniform(-0.5, 0.5)
                nx = state[0] + math.cos(state[2]) * 0.6
                ny = state[1] + math.sin(state[2]) * 0.6
                if not (x0 <= nx <= x0 + side and y0 <= ny <= y0 + side):
                    state[2] += math.pi  # turn back at the edge of the square
                    continue
                state[0], state[1] = nx, ny
                seq += 1
                runtime.sessions.on_message(
                    session,
                    json.dumps({"type": "move", "seq": seq, "x": nx, "y": ny}).encode(),
                    False,
                )
        await runtime.tick()
    result: dict[str, Any] = {"world": world_name, "players": players, "seconds": args.seconds}
    for wire, label in ((V1, "v1"), (V2, "v2")):
        rows = [
            (t.bytes - b, t.frames - f)
            for (s, t, w, _), (b, f) in zip(clients, start, strict=True)
            if w == wire
        ]
        result[f"{label}_bytes_per_player_s"] = sum(b for b, _ in rows) / len(rows) / args.seconds
        result[f"{label}_messages_per_player_s"] = (
            sum(f for _, f in rows) / len(rows) / args.seconds
        )
    result["in_view"] = _in_view(runtime, clients)
    return result


def _in_view(runtime: ZoneRuntime, clients: list[Any]) -> float:
    """Mean number of other players in a player's 3x3 cells (what v1 lists)."""
    replicator, world = runtime.replicator, runtime.play.world
    counts = []
    for session, *_ in clients[:50]:
        x, y = world.position(session.character_id)
        counts.append(len(replicator.players_near(x, y)) - 1)
    return sum(counts) / len(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--budget", type=int, default=16384, help="SNAPSHOT_BUDGET_BYTES_S")
    parser.add_argument("--crowd", type=int, default=600)
    parser.add_argument("--out", default="reports/bandwidth.json")
    args = parser.parse_args()
    configure_logging("warning", "console")
    worlds = [
        ("view50", 51, 90.0, True),
        ("still", 51, 90.0, False),
        ("crowd", args.crowd, 60.0, True),
    ]
    rows = [asyncio.run(run(name, n, side, moving, args)) for name, n, side, moving in worlds]
    print(f"bytes per player-second over {args.seconds:g} s (cap {args.budget} B/s for v2)")
    print(
        f"{'world':>8} {'players':>8} {'in view':>8} {'v1 B/s':>9} {'v2 B/s':>9} {'v2/v1':>6} "
        f"{'v1 msg/s':>9} {'v2 msg/s':>9}"
    )
    for r in rows:
        print(
            f"{r['world']:>8} {r['players']:>8} {r['in_view']:>8.0f} "
            f"{r['v1_bytes_per_player_s']:>9.0f} {r['v2_bytes_per_player_s']:>9.0f} "
            f"{r['v2_bytes_per_player_s'] / r['v1_bytes_per_player_s']:>6.2f} "
            f"{r['v1_messages_per_player_s']:>9.1f} {r['v2_messages_per_player_s']:>9.1f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.node(), "results": rows}, indent=2))


if __name__ == "__main__":
    main()
