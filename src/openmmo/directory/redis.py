"""The directory in Redis: a key per channel that expires with its heartbeat, and an index
set (entries whose key has expired are pruned when listing)."""

from __future__ import annotations

import dataclasses

import msgpack
from redis.asyncio import Redis
from redis.exceptions import RedisError

from openmmo.directory import ChannelInfo, DirectoryUnavailable


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class RedisDirectory:
    def __init__(self, redis: Redis, namespace: str = "openmmo"):
        self._redis = redis
        self._index = f"{namespace}:dir:index"
        self._prefix = f"{namespace}:dir:server:"

    async def publish(self, info: ChannelInfo) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(
                    self._prefix + info.server_id,
                    msgpack.packb(dataclasses.astuple(info)),
                    px=int(info.ttl_s * 1000),
                )
                pipe.sadd(self._index, info.server_id)
                await pipe.execute()
        except RedisError as exc:
            raise DirectoryUnavailable(str(exc)) from exc

    async def remove(self, server_id: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._prefix + server_id)
                pipe.srem(self._index, server_id)
                await pipe.execute()
        except RedisError as exc:
            raise DirectoryUnavailable(str(exc)) from exc

    async def channels(self) -> list[ChannelInfo]:
        try:
            ids = sorted(_text(m) for m in await self._redis.smembers(self._index))
            if not ids:
                return []
            values = await self._redis.mget([self._prefix + i for i in ids])
            gone = [i for i, v in zip(ids, values, strict=True) if v is None]
            if gone:
                await self._redis.srem(self._index, *gone)
        except RedisError as exc:
            raise DirectoryUnavailable(str(exc)) from exc
        channels = [ChannelInfo(*msgpack.unpackb(_bytes(v))) for v in values if v is not None]
        return sorted(channels, key=lambda c: (c.zone_id, c.server_id))

    async def close(self) -> None:
        return None
