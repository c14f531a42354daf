"""In-process refresh-token store (embedded world and tests): lost on restart."""

from __future__ import annotations

from dataclasses import dataclass

from openmmo.sessions import ConsumeResult, RefreshRecord


@dataclass(slots=True)
class _Entry:
    record: RefreshRecord
    used: bool = False


class MemorySessionStore:
    def __init__(self) -> None:
        self._tokens: dict[str, _Entry] = {}
        self._revoked_families: set[str] = set()

    async def put(self, token_hash: str, record: RefreshRecord) -> None:
        self._tokens[token_hash] = _Entry(record)

    async def peek(self, token_hash: str, now: float) -> tuple[ConsumeResult, RefreshRecord | None]:
        entry = self._tokens.get(token_hash)
        if (
            entry is None
            or entry.record.family_id in self._revoked_families
            or entry.record.expires_at <= now
        ):
            return ConsumeResult.UNKNOWN, None
        if entry.used:
            return ConsumeResult.REUSED, None
        return ConsumeResult.VALID, entry.record

    async def consume(
        self, token_hash: str, now: float
    ) -> tuple[ConsumeResult, RefreshRecord | None]:
        self._expire(now)
        entry = self._tokens.get(token_hash)
        if entry is None or entry.record.family_id in self._revoked_families:
            return ConsumeResult.UNKNOWN, None
        if entry.used:
            await self.revoke_family(entry.record.family_id)
            return ConsumeResult.REUSED, None
        entry.used = True
        return ConsumeResult.VALID, entry.record

    async def revoke_family(self, family_id: str) -> None:
        self._revoked_families.add(family_id)

    async def revoke_account(self, account_id: int) -> None:
        for entry in self._tokens.values():
            if entry.record.account_id == account_id:
                self._revoked_families.add(entry.record.family_id)

    async def close(self) -> None:
        self._tokens.clear()

    def _expire(self, now: float) -> None:
        expired = [h for h, e in self._tokens.items() if e.record.expires_at <= now]
        for token_hash in expired:
            del self._tokens[token_hash]
