"""Token buckets in Redis, shared by every gateway replica: one Lua script per decision,
timed by the Redis server's clock so replicas with skewed clocks agree."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from openmmo.ratelimit import RateLimiterUnavailable

# KEYS[1] bucket; ARGV[1] rate per second; ARGV[2] burst. Returns {allowed, retry_after_ms}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, retry}
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis, namespace: str = "openmmo"):
        self._prefix = f"{namespace}:rl:"
        self._take = redis.register_script(_TAKE)

    async def allow(self, key: str, rate_per_s: float, burst: float) -> tuple[bool, float]:
        try:
            allowed, retry_ms = await self._take(
                keys=[self._prefix + key], args=[rate_per_s, burst]
            )
        except RedisError as exc:
            raise RateLimiterUnavailable(str(exc)) from exc
        return bool(allowed), retry_ms / 1000

    async def close(self) -> None:
        return None
