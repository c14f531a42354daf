"""Refresh tokens: issued at login, rotated on every use, revocable.

Kind: **port + adapters**. Tokens are opaque random strings; only their SHA-256 is stored.
Using a refresh token consumes it and returns its record (rotation); presenting a token that
was already used revokes its whole family, because only a thief replays a rotated token
(OAuth 2.0 Security BCP, section 4.14).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class SessionStoreUnavailable(Exception):
    """The session backend cannot be reached."""


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    account_id: int
    family_id: str  # every token rotated from one login shares it
    expires_at: float  # wall-clock seconds


class ConsumeResult(StrEnum):
    """Outcome of presenting a refresh token."""

    VALID = "valid"
    UNKNOWN = "unknown"  # never issued, expired or revoked
    REUSED = "reused"  # already used: its family is now revoked


class SessionStore(Protocol):
    async def put(self, token_hash: str, record: RefreshRecord) -> None: ...

    async def peek(self, token_hash: str, now: float) -> tuple[ConsumeResult, RefreshRecord | None]:
        """What :meth:`consume` would answer, without using the token or revoking anything
        (so a refresh can check everything else first, and a failure burns nothing)."""
        ...

    async def consume(
        self, token_hash: str, now: float
    ) -> tuple[ConsumeResult, RefreshRecord | None]:
        """Mark the token used; the record is returned only when the result is VALID."""
        ...

    async def revoke_family(self, family_id: str) -> None: ...

    async def revoke_account(self, account_id: int) -> None: ...

    async def close(self) -> None: ...
