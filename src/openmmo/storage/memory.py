"""In-memory storage adapter: dicts, for unit tests and tools that need no database."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from openmmo.sim.schema import CharacterState
from openmmo.storage import (
    Account,
    AccountMissing,
    AuditEntry,
    Character,
    CharacterProgress,
    Claim,
    Conflict,
    InsufficientItems,
    ItemDiscrepancy,
    NotOwner,
    TransferRecord,
    TransferRefused,
)


@dataclasses.dataclass
class _Transfer:
    record: TransferRecord
    claimed_by: str | None = None


class MemoryStorage:
    def __init__(self) -> None:
        self._accounts: dict[int, Account] = {}
        self._by_username: dict[str, int] = {}
        self._by_device: dict[str, int] = {}
        self._characters: dict[int, Character] = {}
        self._by_name: dict[str, int] = {}
        self._servers: dict[str, float] = {}
        self._inventory: dict[int, Counter[str]] = {}
        self.ledger: list[tuple[int, str, int, str]] = []  # (character, item, delta, reason)
        self._grant_keys: set[tuple[int, str]] = set()  # (character, key) of keyed grants
        self._transfers: dict[str, _Transfer] = {}
        self.audit: list[tuple[str, int | None, str]] = []
        self._audit_at: list[float] = []
        self._next_account = 1
        self._next_character = 1

    # --- accounts -------------------------------------------------------------------------
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

    async def set_banned(self, account_id: int, banned: bool) -> None:
        account = self._accounts[account_id]
        self._accounts[account_id] = dataclasses.replace(account, banned=banned)

    async def set_admin(self, account_id: int, admin: bool) -> None:
        account = self._accounts[account_id]
        self._accounts[account_id] = dataclasses.replace(account, admin=admin)

    # --- characters -----------------------------------------------------------------------
    async def create_character(
        self,
        account_id: int,
        name: str,
        zone_id: int,
        x: float,
        y: float,
        level: int = 1,
        stats: Mapping[str, Any] | None = None,
    ) -> Character:
        if account_id not in self._accounts:
            raise AccountMissing(f"account {account_id} does not exist")
        if name.lower() in self._by_name:
            raise Conflict(f"character name {name!r} is taken")
        state = CharacterState(zone_id, x, y, 0, level, 0, dict(stats or {}))
        character = Character(self._next_character, account_id, name, state)
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

    async def character_by_name(self, name: str) -> Character | None:
        character_id = self._by_name.get(name.lower())
        return None if character_id is None else self._characters[character_id]

    # --- ownership ------------------------------------------------------------------------
    async def heartbeat_server(self, server_id: str, alive_until: float) -> None:
        self._servers[server_id] = alive_until

    async def remove_server(self, server_id: str) -> None:
        self._servers.pop(server_id, None)

    async def release_characters(self, server_id: str) -> int:
        owned = [c for c in self._characters.values() if c.owner_server == server_id]
        for character in owned:
            self._characters[character.character_id] = dataclasses.replace(
                character, owner_server=None
            )
        return len(owned)

    def _free_for(self, character: Character, server_id: str, now: float) -> bool:
        owner = character.owner_server
        return owner is None or owner == server_id or self._servers.get(owner, 0.0) < now

    async def acquire_character(
        self, character_id: int, server_id: str, now: float
    ) -> Claim | None:
        character = self._characters.get(character_id)
        if character is None:
            return None
        if not self._free_for(character, server_id, now):
            raise NotOwner(character_id, character.owner_server)
        character = dataclasses.replace(
            character, owner_server=server_id, owner_epoch=character.owner_epoch + 1
        )
        self._characters[character_id] = character
        return Claim(character, character.owner_epoch)

    async def owner_of(self, character_id: int, now: float) -> str | None:
        character = self._characters.get(character_id)
        if character is None or character.owner_server is None:
            return None
        return (
            character.owner_server if self._servers.get(character.owner_server, 0) >= now else None
        )

    def _owned(self, character_id: int, server_id: str, epoch: int) -> Character | None:
        character = self._characters.get(character_id)
        if (
            character is None
            or character.owner_server != server_id
            or character.owner_epoch != epoch
        ):
            return None
        return character

    async def save_progress(self, progress: list[CharacterProgress], server_id: str) -> list[int]:
        refused = []
        for p in progress:
            current = self._owned(p.character_id, server_id, p.epoch)
            if current is None:
                refused.append(p.character_id)
                continue
            self._characters[p.character_id] = dataclasses.replace(
                current,
                state=dataclasses.replace(p.state, stats=dict(p.state.stats)),
                progress_version=p.version,
                owner_server=None if p.release else current.owner_server,
            )
        return refused

    async def begin_transfer(
        self, progress: CharacterProgress, server_id: str, transfer: TransferRecord, now: float
    ) -> None:
        if self._owned(progress.character_id, server_id, progress.epoch) is None:
            current = self._characters.get(progress.character_id)
            raise NotOwner(progress.character_id, current.owner_server if current else None)
        await self.save_progress([dataclasses.replace(progress, release=True)], server_id)
        self._transfers[transfer.transfer_id] = _Transfer(transfer)

    async def claim_transfer(
        self,
        transfer_id: str,
        character_id: int,
        server_id: str,
        now: float,
        zone_id: int | None = None,
    ) -> Claim:
        transfer = self._transfers.get(transfer_id)
        if (
            transfer is None
            or transfer.claimed_by is not None
            or transfer.record.character_id != character_id
            or (zone_id is None and transfer.record.to_server != server_id)
            or (zone_id is not None and transfer.record.to_zone != zone_id)
        ):
            raise TransferRefused(f"transfer {transfer_id} cannot be claimed by {server_id}")
        claim = await self.acquire_character(character_id, server_id, now)
        if claim is None:
            raise TransferRefused(f"character {character_id} does not exist")
        transfer.claimed_by = server_id
        return claim

    # --- items ----------------------------------------------------------------------------
    async def inventory(self, character_id: int) -> dict[str, int]:
        return {k: v for k, v in sorted(self._inventory.get(character_id, Counter()).items()) if v}

    def _require_owner(self, character_id: int, server_id: str, epoch: int) -> None:
        if self._owned(character_id, server_id, epoch) is None:
            current = self._characters.get(character_id)
            raise NotOwner(character_id, current.owner_server if current else None)

    async def grant_items(
        self,
        character_id: int,
        items: dict[str, int],
        reason: str,
        server_id: str,
        epoch: int,
        key: str | None = None,
    ) -> dict[str, int]:
        self._require_owner(character_id, server_id, epoch)
        if key is not None:
            if (character_id, key) in self._grant_keys:
                return await self.inventory(character_id)
            self._grant_keys.add((character_id, key))
        bag = self._inventory.setdefault(character_id, Counter())
        for item, quantity in items.items():
            bag[item] += quantity
            self.ledger.append((character_id, item, quantity, reason))
        return await self.inventory(character_id)

    async def take_items(
        self, character_id: int, item: str, quantity: int, reason: str, server_id: str, epoch: int
    ) -> dict[str, int]:
        self._require_owner(character_id, server_id, epoch)
        bag = self._inventory.setdefault(character_id, Counter())
        if bag[item] < quantity:
            raise InsufficientItems(f"character {character_id} holds {bag[item]} {item}")
        bag[item] -= quantity
        self.ledger.append((character_id, item, -quantity, reason))
        return await self.inventory(character_id)

    async def move_items(
        self,
        from_id: int,
        to_id: int,
        item: str,
        quantity: int,
        reason: str,
        server_id: str,
        epoch: int,
    ) -> tuple[dict[str, int], dict[str, int]]:
        self._require_owner(from_id, server_id, epoch)
        if to_id not in self._characters:
            raise InsufficientItems(f"character {to_id} does not exist")
        giver = self._inventory.setdefault(from_id, Counter())
        if giver[item] < quantity:
            raise InsufficientItems(f"character {from_id} holds {giver[item]} {item}")
        giver[item] -= quantity
        self._inventory.setdefault(to_id, Counter())[item] += quantity
        self.ledger += [(from_id, item, -quantity, reason), (to_id, item, quantity, reason)]
        return await self.inventory(from_id), await self.inventory(to_id)

    async def item_totals(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for bag in self._inventory.values():
            totals.update(bag)
        return {k: v for k, v in sorted(totals.items()) if v}

    async def audit_items(self) -> list[ItemDiscrepancy]:
        sums: Counter[tuple[int, str]] = Counter()
        for character_id, item, delta, _ in self.ledger:
            sums[(character_id, item)] += delta
        held = {(c, i): q for c, bag in self._inventory.items() for i, q in bag.items()}
        return [
            ItemDiscrepancy(c, i, held.get((c, i), 0), sums.get((c, i), 0))
            for c, i in sorted(set(sums) | set(held))
            if held.get((c, i), 0) != sums.get((c, i), 0)
        ]

    async def record_audit(self, kind: str, account_id: int | None, detail: str) -> None:
        self.audit.append((kind, account_id, detail))
        self._audit_at.append(time.time())

    async def audit_entries(self, limit: int) -> list[AuditEntry]:
        entries = [
            AuditEntry(at, kind, account_id, detail)
            for at, (kind, account_id, detail) in zip(self._audit_at, self.audit, strict=True)
        ]
        return entries[::-1][:limit]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
