"""In-process rate limiter. Buckets of idle keys are evicted (oldest first) beyond
``max_keys`` so a flood of distinct keys cannot exhaust memory."""

from __future__ import annotations

from collections import OrderedDict

from openmmo.clock import SYSTEM_CLOCK, Clock
from openmmo.ratelimit import TokenBucket


class MemoryRateLimiter:
    def __init__(self, clock: Clock = SYSTEM_CLOCK, max_keys: int = 100_000):
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    async def allow(self, key: str, rate_per_s: float, burst: float) -> tuple[bool, float]:
        now = self._clock.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate_per_s, burst, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        allowed = bucket.take(now)
        return allowed, 0.0 if allowed else bucket.retry_after_s()

    async def close(self) -> None:
        self._buckets.clear()
