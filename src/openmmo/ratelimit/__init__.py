"""Rate limits: a token bucket (pure) and the limiter port shared by gateway replicas.

Kind: **port + adapters** around the pure :class:`TokenBucket`.
"""

from __future__ import annotations

from typing import Protocol


class RateLimiterUnavailable(Exception):
    """The shared limiter cannot be reached."""


class TokenBucket:
    """Allows ``burst`` events at once and ``rate_per_s`` on average."""

    __slots__ = ("burst", "rate_per_s", "tokens", "updated_at")

    def __init__(self, rate_per_s: float, burst: float, now: float):
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = burst
        self.updated_at = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are enough; refill first."""
        elapsed = now - self.updated_at
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate_per_s)
            self.updated_at = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def retry_after_s(self, cost: float = 1.0) -> float:
        missing = cost - self.tokens
        return 0.0 if missing <= 0 else missing / self.rate_per_s


class RateLimiter(Protocol):
    async def allow(self, key: str, rate_per_s: float, burst: float) -> tuple[bool, float]:
        """Take one token from ``key``'s bucket: (allowed, seconds until one is available)."""
        ...

    async def close(self) -> None: ...
