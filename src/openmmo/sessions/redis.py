"""Refresh tokens in Redis, shared by every gateway replica. Consuming a token is one Lua
script, so two replicas presenting the same token at once cannot both succeed."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from openmmo.sessions import ConsumeResult, RefreshRecord, SessionStoreUnavailable

# KEYS[1] token key; ARGV[1] key prefix of revoked families; ARGV[2] their TTL in seconds.
# Returns {0} unknown/revoked, {2} reused (the family is revoked now), {1, record} valid.
_CONSUME = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {0} end
local rec = cjson.decode(raw)
if redis.call('EXISTS', ARGV[1] .. rec.family) == 1 then return {0} end
if rec.used == 1 then
  redis.call('SET', ARGV[1] .. rec.family, 1, 'EX', ARGV[2])
  return {2}
end
rec.used = 1
redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
return {1, raw}
"""


class RedisSessionStore:
    def __init__(self, redis: Redis, namespace: str = "openmmo", revoked_ttl_s: int = 30 * 86400):
        self._redis = redis
        self._tokens = f"{namespace}:rt:"
        self._revoked = f"{namespace}:rtrev:"
        self._accounts = f"{namespace}:rtacct:"
        self._revoked_ttl_s = revoked_ttl_s
        self._consume = redis.register_script(_CONSUME)

    async def _call(self, coroutine: Any) -> Any:
        try:
            return await coroutine
        except RedisError as exc:
            raise SessionStoreUnavailable(str(exc)) from exc

    async def put(self, token_hash: str, record: RefreshRecord) -> None:
        value = json.dumps(
            {
                "account": record.account_id,
                "family": record.family_id,
                "expires_at": record.expires_at,
                "used": 0,
            }
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._tokens + token_hash, value, pxat=int(record.expires_at * 1000))
            pipe.sadd(self._accounts + str(record.account_id), record.family_id)
            pipe.expire(self._accounts + str(record.account_id), self._revoked_ttl_s)
            await self._call(pipe.execute())

    async def peek(self, token_hash: str, now: float) -> tuple[ConsumeResult, RefreshRecord | None]:
        raw = await self._call(self._redis.get(self._tokens + token_hash))
        if raw is None:
            return ConsumeResult.UNKNOWN, None
        data = json.loads(raw)
        revoked = await self._call(self._redis.exists(self._revoked + data["family"]))
        if revoked or data["expires_at"] <= now:
            return ConsumeResult.UNKNOWN, None
        if data["used"]:
            return ConsumeResult.REUSED, None
        return ConsumeResult.VALID, RefreshRecord(
            data["account"], data["family"], data["expires_at"]
        )

    async def consume(
        self, token_hash: str, now: float
    ) -> tuple[ConsumeResult, RefreshRecord | None]:
        result = await self._call(
            self._consume(
                keys=[self._tokens + token_hash], args=[self._revoked, self._revoked_ttl_s]
            )
        )
        if result[0] == 2:
            return ConsumeResult.REUSED, None
        if result[0] == 0:
            return ConsumeResult.UNKNOWN, None
        data = json.loads(result[1])
        if data["expires_at"] <= now:
            return ConsumeResult.UNKNOWN, None
        return ConsumeResult.VALID, RefreshRecord(
            data["account"], data["family"], data["expires_at"]
        )

    async def revoke_family(self, family_id: str) -> None:
        await self._call(self._redis.set(self._revoked + family_id, 1, ex=self._revoked_ttl_s))

    async def revoke_account(self, account_id: int) -> None:
        families = await self._call(self._redis.smembers(self._accounts + str(account_id)))
        if families:
            async with self._redis.pipeline(transaction=False) as pipe:
                for family in families:
                    pipe.set(self._revoked + family.decode(), 1, ex=self._revoked_ttl_s)
                await self._call(pipe.execute())

    async def close(self) -> None:
        return None
