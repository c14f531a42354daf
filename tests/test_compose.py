"""How the processes open their backends (openmmo.compose)."""

import asyncio
from contextlib import AsyncExitStack

from openmmo.compose import open_redis
from openmmo.config import Settings
from openmmo.testing.services import REDIS_URL, namespace


async def test_a_burst_of_redis_calls_beyond_the_pool_waits_instead_of_failing():
    """Regression (issue 11, found by `openmmo chaos rolling-restart` at 200 players):
    redis-py's default pool refuses the 101st concurrent call, so a drain that read the
    directory for 200 hand-offs at once told half of its players to reconnect."""
    settings = Settings(redis_url=REDIS_URL, redis_max_connections=8)
    key = f"{namespace()}:burst"
    async with AsyncExitStack() as stack:
        redis = open_redis(settings, stack)
        assert redis is not None
        await redis.set(key, "1", ex=60)
        answers = await asyncio.gather(*(redis.get(key) for _ in range(300)))
        assert answers == [b"1"] * 300
        assert redis.connection_pool.max_connections == 8
        await redis.delete(key)
