"""One durable save of N online characters on PostgreSQL: CPU and wall time of the caller.

    .venv/bin/python benchmarks/saves.py [--characters 1500] [--rounds 5]

What a zone server pays every SAVE_INTERVAL_S (and when it drains) for its players:
``SqlStorage.save_progress`` of N owned characters on the machine's PostgreSQL. Prints the
medians and writes reports/saves.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from openmmo.sim.schema import CharacterState
from openmmo.storage import CharacterProgress
from openmmo.storage.migrate import upgrade
from openmmo.storage.sql import SqlStorage, create_engine
from openmmo.testing.services import create_database, drop_database


async def measure(characters: int, rounds: int) -> dict[str, float]:
    url = create_database()
    engine = create_engine(url)
    storage = SqlStorage(engine)
    try:
        await upgrade(engine)
        account = await storage.create_account("bench", "h")
        owned = []
        for i in range(characters):
            c = await storage.create_character(account.account_id, f"Bench{i}", 1, 0, 0)
            owned.append(
                (
                    c.character_id,
                    (await storage.acquire_character(c.character_id, "srv", 0.0)).epoch,
                )
            )
        cpu, wall = [], []
        for r in range(rounds):
            state = CharacterState(1, r + 0.5, 2.5, 90, 2, 100 + r, {"class": "mage", "gold": r})
            batch = [CharacterProgress(cid, state, r + 1, epoch) for cid, epoch in owned]
            cpu0, wall0 = time.process_time(), time.perf_counter()
            refused = await storage.save_progress(batch, "srv")
            cpu.append(time.process_time() - cpu0)
            wall.append(time.perf_counter() - wall0)
            assert refused == [], refused
    finally:
        await storage.close()
        drop_database(url)
    cpu.sort()
    wall.sort()
    return {
        "characters": characters,
        "cpu_ms": round(cpu[len(cpu) // 2] * 1000, 2),
        "wall_ms": round(wall[len(wall) // 2] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--characters", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    row = asyncio.run(measure(args.characters, args.rounds))
    print(
        f"save of {row['characters']} characters: CPU {row['cpu_ms']} ms, wall {row['wall_ms']} ms"
        " (medians)"
    )
    Path("reports").mkdir(exist_ok=True)
    Path("reports/saves.json").write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
