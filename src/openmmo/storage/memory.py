"""In-memory storage adapter: dicts, for unit tests and tools that need no database."""

from __future__ import annotations

import dataclasses

from openmmo.storage import Account, Character, CharacterProgress, Conflict


class MemoryStorage:
    def __init__(self) -> None:
        self._accounts: dict[int, Account] = {}
        self._by_username: dict[str, int] = {}
        self._by_device: dict[str, int] = {}
        self._characters: dict[int, Character] = {}
        self._by_name: dict[str, int] = {}
        self._next_account = 1
        self._next_character = 1

    async def create_account(
        self, username: str, password_hash: str | None, device_id: str | None = None
    ) -> Account:
        key = username.lower()
        if key in self._by_username or (device_id is not None and device_id in self._by_device):
            raise Conflict(f"account {username!r} exists")
        account = Account(self._next_account, username, password_hash, device_id)
        self._next_account += 1
        self._accounts[account.account_id] = account
        self._by_username[key] = account.account_id
        if device_id is not None:
            self._by_device[device_id] = account.account_id
        return account

    async def account_by_username(self, username: str) -> Account | None:
        account_id = self._by_username.get(username.lower())
        return None if account_id is None else self._accounts[account_id]

    async def account_by_device(self, device_id: str) -> Account | None:
        account_id = self._by_device.get(device_id)
        return None if account_id is None else self._accounts[account_id]

    async def account_by_id(self, account_id: int) -> Account | None:
        return self._accounts.get(account_id)

    async def update_password_hash(self, account_id: int, password_hash: str) -> None:
        account = self._accounts[account_id]
        self._accounts[account_id] = dataclasses.replace(account, password_hash=password_hash)

    async def create_character(
        self, account_id: int, name: str, zone_id: int, x: float, y: float, level: int = 1
    ) -> Character:
        if name.lower() in self._by_name:
            raise Conflict(f"character name {name!r} is taken")
        character = Character(self._next_character, account_id, name, zone_id, x, y, 0, level, 0)
        self._next_character += 1
        self._characters[character.character_id] = character
        self._by_name[name.lower()] = character.character_id
        return character

    async def list_characters(self, account_id: int) -> list[Character]:
        return sorted(
            (c for c in self._characters.values() if c.account_id == account_id),
            key=lambda c: c.character_id,
        )

    async def load_character(self, character_id: int) -> Character | None:
        return self._characters.get(character_id)

    async def save_progress(self, progress: list[CharacterProgress]) -> None:
        for p in progress:
            current = self._characters.get(p.character_id)
            if current is not None:
                self._characters[p.character_id] = dataclasses.replace(
                    current, zone_id=p.zone_id, x=p.x, y=p.y, hp=p.hp, level=p.level, xp=p.xp
                )

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
