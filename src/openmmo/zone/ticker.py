"""A fixed-rate loop: run ``tick`` every ``interval_s`` on the monotonic clock.

Deadlines advance by exactly one interval, so the rate does not drift with tick duration.
When a tick overruns, the missed deadlines are dropped rather than run back to back: a
server that fell behind catches up by skipping, not by bursting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from openmmo.clock import Clock


async def run_fixed_rate(
    interval_s: float, tick: Callable[[], Awaitable[None]], clock: Clock
) -> None:
    next_at = clock.monotonic()
    while True:
        next_at += interval_s
        await tick()
        now = clock.monotonic()
        if now >= next_at:
            next_at = now
            await asyncio.sleep(0)  # still let I/O in between back-to-back ticks
        else:
            await asyncio.sleep(next_at - now)
