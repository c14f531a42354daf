"""Matchmaking queues in Redis, shared by every gateway and matchmaker replica.

Keys (``ns`` is the namespace):

* ``ns:mm:q:<mode>`` — a list of the ids of the mode's waiting tickets, oldest first. Its
  length is the queue length (KEDA's Redis ``listLength`` trigger reads it directly).
* ``ns:mm:t:<ticket id>`` — the ticket and its state as JSON, expiring.
* ``ns:mm:a:<account id>`` — the account's waiting ticket (one at a time).

Every change of state is one Lua script, so a claim by one matchmaker replica and a cancel
(or a claim by another replica) can never both succeed.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from openmmo.matchmaking import (
    AlreadyQueued,
    Assignment,
    MatchmakingUnavailable,
    QueueTicket,
    Status,
    TicketState,
    ticket_from_dict,
    ticket_to_dict,
)

# KEYS: account, ticket, queue. ARGV: ticket id, record JSON, ttl ms.
# Returns {1} queued, or {0, id} when the account already has a waiting ticket.
_ENQUEUE = """
local current = redis.call('GET', KEYS[1])
if current then
  local raw = redis.call('GET', ARGV[4] .. current)
  if raw and cjson.decode(raw).status == 'queued' then return {0, current} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[1])
return {1}
"""

# KEYS: ticket keys. ARGV: key prefix, assignment JSON, ttl ms.
# All waiting -> all matched (1); otherwise nothing changes (0).
_CLAIM = """
local records = {}
for i, key in ipairs(KEYS) do
  local raw = redis.call('GET', key)
  if not raw then return 0 end
  local record = cjson.decode(raw)
  if record.status ~= 'queued' then return 0 end
  records[i] = record
end
local assignment = cjson.decode(ARGV[2])
for i, key in ipairs(KEYS) do
  local record = records[i]
  redis.call('LREM', ARGV[1] .. 'q:' .. record.ticket.mode, 1, record.ticket.ticket_id)
  local account = ARGV[1] .. 'a:' .. record.ticket.account_id
  if redis.call('GET', account) == record.ticket.ticket_id then redis.call('DEL', account) end
  record.status = 'matched'
  record.assignment = assignment
  redis.call('SET', key, cjson.encode(record), 'PX', ARGV[3])
end
return 1
"""

# KEYS: ticket key. ARGV: key prefix, new status, ttl ms. Returns 1 if it was waiting.
_FINISH = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.status ~= 'queued' then return 0 end
redis.call('LREM', ARGV[1] .. 'q:' .. record.ticket.mode, 1, record.ticket.ticket_id)
local account = ARGV[1] .. 'a:' .. record.ticket.account_id
if redis.call('GET', account) == record.ticket.ticket_id then redis.call('DEL', account) end
record.status = ARGV[2]
redis.call('SET', KEYS[1], cjson.encode(record), 'PX', ARGV[3])
return 1
"""


class RedisMatchQueue:
    def __init__(self, redis: Redis, namespace: str = "openmmo"):
        self._redis = redis
        self._prefix = f"{namespace}:mm:"
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)
        self._finish = redis.register_script(_FINISH)

    def _ticket_key(self, ticket_id: str) -> str:
        return f"{self._prefix}t:{ticket_id}"

    async def _call(self, coroutine: Any) -> Any:
        try:
            return await coroutine
        except RedisError as exc:
            raise MatchmakingUnavailable(str(exc)) from exc

    async def enqueue(self, ticket: QueueTicket, ttl_s: float) -> None:
        record = json.dumps({"ticket": ticket_to_dict(ticket), "status": Status.QUEUED.value})
        result = await self._call(
            self._enqueue(
                keys=[
                    f"{self._prefix}a:{ticket.account_id}",
                    self._ticket_key(ticket.ticket_id),
                    f"{self._prefix}q:{ticket.mode}",
                ],
                args=[ticket.ticket_id, record, int(ttl_s * 1000), f"{self._prefix}t:"],
            )
        )
        if int(result[0]) == 0:
            raise AlreadyQueued(_text(result[1]))

    async def pending(self, mode: str, limit: int = 1000) -> list[QueueTicket]:
        queue = f"{self._prefix}q:{mode}"
        ids = [_text(i) for i in await self._call(self._redis.lrange(queue, 0, limit - 1))]
        if not ids:
            return []
        raws = await self._call(self._redis.mget([self._ticket_key(i) for i in ids]))
        tickets = []
        for ticket_id, raw in zip(ids, raws, strict=True):
            if raw is None:  # expired while waiting: drop its queue entry
                await self._call(self._redis.lrem(queue, 1, ticket_id))
                continue
            record = json.loads(raw)
            if record["status"] == Status.QUEUED.value:
                tickets.append(ticket_from_dict(record["ticket"]))
        return tickets

    async def length(self, mode: str) -> int:
        return int(await self._call(self._redis.llen(f"{self._prefix}q:{mode}")))

    async def claim(self, ticket_ids: list[str], assignment: Assignment, ttl_s: float) -> bool:
        result = await self._call(
            self._claim(
                keys=[self._ticket_key(t) for t in ticket_ids],
                args=[self._prefix, json.dumps(assignment.to_dict()), int(ttl_s * 1000)],
            )
        )
        return bool(result)

    async def finish(self, ticket_id: str, status: Status, ttl_s: float) -> bool:
        result = await self._call(
            self._finish(
                keys=[self._ticket_key(ticket_id)],
                args=[self._prefix, status.value, int(ttl_s * 1000)],
            )
        )
        return bool(result)

    async def state(self, ticket_id: str) -> TicketState | None:
        raw = await self._call(self._redis.get(self._ticket_key(ticket_id)))
        if raw is None:
            return None
        record = json.loads(raw)
        assignment = record.get("assignment")
        return TicketState(
            ticket_from_dict(record["ticket"]),
            Status(record["status"]),
            Assignment.from_dict(assignment) if assignment else None,
        )

    async def close(self) -> None:
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
