"""Latency of messages between players on different zone servers (separate processes) over
the production backends: global chat and whispers through RabbitMQ.

    .venv/bin/python benchmarks/cross_server.py [--speakers 20]

Starts a gateway and two zone servers on the machine's PostgreSQL (a throwaway database),
Redis and RabbitMQ, then measures from the sender's send to the receiver's event, both
clients in this process (one clock). Prints a table and writes reports/cross_server.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from openmmo.client import GameClient, GatewayClient
from openmmo.testing.cluster import Cluster
from openmmo.testing.services import (
    RABBITMQ_URL,
    REDIS_URL,
    create_database,
    drop_database,
    namespace,
)


async def player(cluster: Cluster, server: str, name: str) -> tuple[GatewayClient, GameClient]:
    gateway = GatewayClient(cluster.gateway_url)
    await gateway.register(name, "correct horse battery")
    hero = await gateway.create_character(name.capitalize())
    game = await GameClient.connect(cluster.zone_url(server), gateway.token)
    await game.join(character_id=hero["character_id"])
    await game.wait_snapshot(lambda c: c.me() is not None)
    return gateway, game


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(v * 1000 for v in values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "count": len(ordered),
        "p50_ms": round(pick(0.5), 2),
        "p95_ms": round(pick(0.95), 2),
        "p99_ms": round(pick(0.99), 2),
        "max_ms": round(ordered[-1], 2),
    }


async def measure(cluster: Cluster, speakers: int) -> dict[str, dict[str, float]]:
    _, listener = await player(cluster, "zone2-1", "listener")
    talkers = [await player(cluster, "zone1-1", f"talker{i}") for i in range(speakers)]
    chat, whisper = [], []
    for round_ in range(5):  # five lines per player fit the chat burst
        for i, (_, game) in enumerate(talkers):
            text = f"c{round_}.{i}"
            await asyncio.sleep(0.013 * (i % 4))  # do not phase-lock with the 20 Hz tick
            sent = time.perf_counter()
            channel = "global" if round_ < 3 else "whisper"
            if channel == "global":
                await game.chat(text, "global")
            else:
                await game.whisper("Listener", text)
            await listener.wait_event(lambda e, t=text: e.get("message") == t)
            (chat if channel == "global" else whisper).append(time.perf_counter() - sent)
    return {"global_chat": summary(chat), "whisper": summary(whisper)}


async def main() -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--speakers", type=int, default=20)
    args = parser.parse_args()
    database = create_database()
    cluster = Cluster(
        Path(tempfile.mkdtemp(prefix="openmmo-bench-")),
        database_url=database,
        redis_url=REDIS_URL,
        rabbitmq_url=RABBITMQ_URL,
        namespace=namespace(),
        zones=[1, 2],
    )
    try:
        cluster.start()
        results = await measure(cluster, args.speakers)
    finally:
        cluster.stop_all()
        drop_database(database)
    for kind, row in results.items():
        print(
            f"{kind:12} n={row['count']:4} p50={row['p50_ms']:6.1f} ms "
            f"p95={row['p95_ms']:6.1f} ms p99={row['p99_ms']:6.1f} ms"
        )
    return results


def write_report(results: dict[str, dict[str, float]]) -> None:
    Path("reports").mkdir(exist_ok=True)
    Path("reports/cross_server.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    write_report(asyncio.run(main()))
