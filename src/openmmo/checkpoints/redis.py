"""Checkpoints in Redis: one key per character, msgpack, expiring after a day."""

from __future__ import annotations

import dataclasses

import msgpack
from redis.asyncio import Redis
from redis.exceptions import RedisError

from openmmo.checkpoints import CheckpointsUnavailable, HotCheckpoint

TTL_S = 86400


class RedisCheckpoints:
    def __init__(self, redis: Redis, namespace: str = "openmmo"):
        self._redis = redis
        self._ns = namespace

    def _key(self, character_id: int) -> str:
        return f"{self._ns}:ckpt:{character_id}"

    async def write(self, checkpoints: list[HotCheckpoint]) -> None:
        if not checkpoints:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for checkpoint in checkpoints:
                    pipe.set(
                        self._key(checkpoint.character_id),
                        msgpack.packb(dataclasses.astuple(checkpoint)),
                        ex=TTL_S,
                    )
                await pipe.execute()
        except RedisError as exc:
            raise CheckpointsUnavailable(str(exc)) from exc

    async def read(self, character_id: int) -> HotCheckpoint | None:
        try:
            raw = await self._redis.get(self._key(character_id))
        except RedisError as exc:
            raise CheckpointsUnavailable(str(exc)) from exc
        if raw is None:
            return None
        return HotCheckpoint(*msgpack.unpackb(raw if isinstance(raw, bytes) else raw.encode()))

    async def close(self) -> None:
        return None
