"""A worker process: keeps its share of the scenario's bots playing, reports every second.

Bots are started at most ``START_RATE_PER_S`` per second per worker (a login storm of its own
would measure the worker, not the server) and stopped newest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from multiprocessing.queues import Queue
from typing import Any

import httpx
import uvloop

from openmmo.loadtest.bot import Bot, BotStats
from openmmo.loadtest.scenario import Scenario

START_RATE_PER_S = 200
SCHEDULE_INTERVAL_S = 0.1


def share(total: int, workers: int, index: int) -> int:
    """Worker ``index``'s part of ``total`` bots (the parts add up to ``total``)."""
    return total // workers + (1 if index < total % workers else 0)


async def run_worker(
    scenario: Scenario,
    index: int,
    workers: int,
    started_at: float,
    reports: Queue[Any],
    interrupted: Any = None,
) -> None:
    """Run this worker's bots until the scenario ends or ``interrupted`` (an Event) is set."""
    rng = random.Random(index)
    stats_ref = [BotStats()]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    running: list[tuple[Bot, asyncio.Event, asyncio.Task[None]]] = []
    next_index = index
    next_report = started_at + 1.0
    start_budget = 0.0
    await asyncio.sleep(max(0.0, started_at - time.time()))
    async with httpx.AsyncClient(base_url=scenario.gateway, limits=limits, timeout=30.0) as http:
        while True:
            now = time.time()
            elapsed = now - started_at
            done = elapsed >= scenario.duration_s or bool(
                interrupted is not None and interrupted.is_set()
            )
            running = [r for r in running if not r[2].done()]
            target = 0 if done else share(scenario.target_at(elapsed), workers, index)
            start_budget = min(
                start_budget + START_RATE_PER_S * SCHEDULE_INTERVAL_S, START_RATE_PER_S
            )
            while len(running) < target and start_budget >= 1:
                start_budget -= 1
                stop = asyncio.Event()
                bot = Bot(next_index, scenario, stats_ref, http, rng)
                next_index += workers
                running.append((bot, stop, asyncio.create_task(bot.run(stop))))
            while len(running) > target:
                running.pop()[1].set()
            if now >= next_report or done:
                next_report += 1.0
                stats, stats_ref[0] = stats_ref[0], BotStats()
                playing = sum(1 for bot, _, _ in running if bot.joined.is_set())
                reports.put(
                    {
                        "worker": index,
                        "t": round(elapsed, 3),
                        "bots": len(running),
                        "playing": playing,
                        "stats": stats.to_wire(),
                    }
                )
            if done:
                break
            await asyncio.sleep(SCHEDULE_INTERVAL_S)
        tasks = [task for _, _, task in running]
        for _, stop, _ in running:
            stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        reports.put(
            {
                "worker": index,
                "t": round(time.time() - started_at, 3),
                "bots": 0,
                "playing": 0,
                "stats": stats_ref[0].to_wire(),
                "final": True,
            }
        )


def worker_main(
    scenario: Scenario,
    index: int,
    workers: int,
    started_at: float,
    reports: Queue[Any],
    interrupted: Any = None,
) -> None:
    """Process entry point. SIGINT is the master's to handle (it sets ``interrupted``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    uvloop.run(run_worker(scenario, index, workers, started_at, reports, interrupted))
