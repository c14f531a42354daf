"""Accounts and characters: the storage port.

Kind: **port + adapters**. :class:`Storage` is the interface the gateway and zone servers use;
:mod:`openmmo.storage.memory` keeps everything in dicts (unit tests), :mod:`openmmo.storage.sql`
speaks SQL through SQLAlchemy to SQLite (the embedded default) or PostgreSQL (production).
Both pass ``tests/storage/test_contract.py``. Adapter errors are translated to the exceptions
below at the adapter boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class StorageError(Exception):
    """Root of storage errors."""


class StorageUnavailable(StorageError):
    """The database cannot be reached or failed; the operation may be retried."""


class Conflict(StorageError):
    """A unique name (username, device id, character name) is already taken."""


@dataclass(frozen=True, slots=True)
class Account:
    account_id: int
    username: str
    password_hash: str | None  # None for device (guest) accounts
    device_id: str | None
    banned: bool = False


@dataclass(frozen=True, slots=True)
class Character:
    character_id: int
    account_id: int
    name: str
    zone_id: int
    x: float
    y: float
    hp: int  # 0 means "full" for a new character
    level: int
    xp: int


@dataclass(frozen=True, slots=True)
class CharacterProgress:
    """The part of a character that play changes, as saved by zone servers."""

    character_id: int
    zone_id: int
    x: float
    y: float
    hp: int
    level: int
    xp: int


class Storage(Protocol):
    async def create_account(
        self, username: str, password_hash: str | None, device_id: str | None = None
    ) -> Account:
        """Raises :class:`Conflict` when the username or device id exists (case-insensitive)."""
        ...

    async def account_by_username(self, username: str) -> Account | None: ...

    async def account_by_device(self, device_id: str) -> Account | None: ...

    async def account_by_id(self, account_id: int) -> Account | None: ...

    async def update_password_hash(self, account_id: int, password_hash: str) -> None: ...

    async def create_character(
        self, account_id: int, name: str, zone_id: int, x: float, y: float, level: int = 1
    ) -> Character:
        """Raises :class:`Conflict` when the name is taken (case-insensitive)."""
        ...

    async def list_characters(self, account_id: int) -> list[Character]: ...

    async def load_character(self, character_id: int) -> Character | None: ...

    async def save_progress(self, progress: list[CharacterProgress]) -> None:
        """Save many characters in one transaction; unknown ids are ignored."""
        ...

    async def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless the database answers."""
        ...

    async def close(self) -> None: ...
