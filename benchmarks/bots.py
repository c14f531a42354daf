"""A quick real-socket check: N bots play on a running world and report action->ack latency.

    .venv/bin/python benchmarks/bots.py --gateway http://127.0.0.1:8080 --bots 300 --seconds 30

Bots log in by device id, join zone 1, move at 10 Hz, attack a neighbour every 2 s and chat
every 5 s — the seed's k6 behaviour. This is a smoke benchmark for the playable core; the
load-test harness (`openmmo loadtest`) is the tool for real runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import time
from pathlib import Path

from openmmo.client import GameClient, GameError, GatewayClient


async def bot(
    index: int, gateway_url: str, zone: int, seconds: float, run_id: str, results: list[GameClient]
) -> None:
    async with GatewayClient(gateway_url) as gateway:
        await gateway.device_login(f"bench-{run_id}-{index:06d}")
        grant = await gateway.join_zone(zone)
    game = await GameClient.connect(
        grant["ws_url"], grant["ticket"], encoding="msgpack", history=64
    )
    await game.join()
    await game.wait_snapshot(lambda c: c.me() is not None)
    results.append(game)
    rng = random.Random(index)
    angle = rng.uniform(0, math.tau)
    end = time.monotonic() + seconds
    next_attack = time.monotonic() + rng.uniform(0, 2)
    next_chat = time.monotonic() + rng.uniform(0, 5)
    pending: set[asyncio.Task[object]] = set()
    while time.monotonic() < end:
        me = game.me()
        if me is not None:
            angle += rng.uniform(-0.3, 0.3)
            game.move(me.x + math.cos(angle) * 0.7, me.y + math.sin(angle) * 0.7)
            now = time.monotonic()
            if now >= next_attack:
                next_attack = now + 2
                others = [e for e in game.entity_ids() if e != game.entity_id]
                if others:
                    task = asyncio.create_task(game.attack(rng.choice(others), 2))
                    pending.add(task)
            if now >= next_chat:
                next_chat = now + 5
                pending.add(asyncio.create_task(game.chat(f"hi from {index}", "say")))
        await asyncio.sleep(0.1)
    for task in pending:
        with contextlib.suppress(GameError, TimeoutError, asyncio.TimeoutError):
            await task
    await game.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def main() -> dict[str, object]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--zone", type=int, default=1)
    args = parser.parse_args()
    run_id = f"{int(time.time())}"
    clients: list[GameClient] = []
    started = time.monotonic()
    tasks = []
    for i in range(args.bots):  # ramp up at ~100 bots/s
        tasks.append(
            asyncio.create_task(bot(i, args.gateway, args.zone, args.seconds, run_id, clients))
        )
        await asyncio.sleep(0.01)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    latency: dict[str, dict[str, float]] = {}
    for kind in ("move", "attack", "chat"):
        values = [v * 1000 for c in clients for v in c.latencies().get(kind, [])]
        latency[kind] = {
            "count": len(values),
            "p50": percentile(values, 0.5),
            "p95": percentile(values, 0.95),
            "p99": percentile(values, 0.99),
        }
    report: dict[str, object] = {
        "bots": args.bots,
        "connected": len(clients),
        "errors": len(errors),
        "seconds": round(time.monotonic() - started, 1),
        "latency_ms": latency,
    }
    print(json.dumps(report, indent=2, default=str))
    if errors:
        print("first error:", repr(errors[0]))
    return report


def write_report(report: dict[str, object]) -> None:
    Path("reports").mkdir(exist_ok=True)
    Path("reports/bots.json").write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    write_report(asyncio.run(main()))
