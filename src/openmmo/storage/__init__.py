"""Accounts and characters: the storage port.

Kind: **port + adapters**. :class:`Storage` is the interface the gateway and zone servers use;
:mod:`openmmo.storage.memory` keeps everything in dicts (unit tests), :mod:`openmmo.storage.sql`
speaks SQL through SQLAlchemy to SQLite (the embedded default) or PostgreSQL (production).
Both pass ``tests/storage/test_contract.py``. Adapter errors are translated to the exceptions
below at the adapter boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from openmmo.sim.schema import CharacterState


class StorageError(Exception):
    """Root of storage errors."""


class StorageUnavailable(StorageError):
    """The database cannot be reached or failed; the operation may be retried."""


class Conflict(StorageError):
    """A unique name (username, device id, character name) is already taken."""


class AccountMissing(StorageError):
    """The account a character would belong to does not exist (any more)."""


class NotOwner(StorageError):
    """Another live zone server owns the character, or the caller's epoch is stale."""

    def __init__(self, character_id: int, owner: str | None):
        super().__init__(f"character {character_id} is owned by {owner or 'nobody'}")
        self.character_id = character_id
        self.owner = owner


class TransferRefused(StorageError):
    """The transfer is unknown, already claimed, or for another server or character."""


class InsufficientItems(StorageError):
    """The character does not hold enough of the item."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float  # Unix seconds
    kind: str  # ban, unban, kick, announce, drain, grant_admin, ...
    account_id: int | None  # whom it concerns
    detail: str


@dataclass(frozen=True, slots=True)
class Account:
    account_id: int
    username: str
    password_hash: str | None  # None for device (guest) accounts
    device_id: str | None
    banned: bool = False
    admin: bool = False  # may use the web console and the admin API


@dataclass(frozen=True, slots=True)
class Character:
    character_id: int
    account_id: int
    name: str
    state: CharacterState  # zone, position, HP (0 = full), level, XP and the game's fields
    progress_version: int = 0
    owner_server: str | None = None
    owner_epoch: int = 0
    rating: int = 1000  # matchmaking rating (new characters start at 1000)

    @property
    def zone_id(self) -> int:
        return self.state.zone_id

    @property
    def level(self) -> int:
        return self.state.level


@dataclass(frozen=True, slots=True)
class CharacterProgress:
    """The part of a character that play changes, as saved by zone servers.

    ``epoch`` fences the save: it is applied only while the saving server still owns the
    character at that epoch. ``release`` gives up ownership in the same statement.
    """

    character_id: int
    state: CharacterState
    version: int = 0
    epoch: int = 0
    release: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    """Ownership acquired: the character as stored, and the new fencing epoch."""

    character: Character
    epoch: int


@dataclass(frozen=True, slots=True)
class TransferRecord:
    transfer_id: str
    character_id: int
    from_server: str
    to_zone: int
    to_server: str


@dataclass(frozen=True, slots=True)
class ItemDiscrepancy:
    """An inventory row that does not equal the sum of its ledger entries."""

    character_id: int
    item: str
    inventory: int
    ledger: int


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
        self,
        account_id: int,
        name: str,
        zone_id: int,
        x: float,
        y: float,
        level: int = 1,
        stats: Mapping[str, Any] | None = None,
    ) -> Character:
        """Raises :class:`Conflict` when the name is taken (case-insensitive) and
        :class:`AccountMissing` when the account does not exist. ``stats`` are the game's
        declared fields (the class among them), saved as JSON."""
        ...

    async def list_characters(self, account_id: int) -> list[Character]: ...

    async def load_character(self, character_id: int) -> Character | None: ...

    async def character_by_name(self, name: str) -> Character | None: ...

    async def set_banned(self, account_id: int, banned: bool) -> None: ...

    async def set_admin(self, account_id: int, admin: bool) -> None: ...

    # --- ownership (one owner per character, fenced by epoch) ------------------------------
    async def heartbeat_server(self, server_id: str, alive_until: float) -> None:
        """Keep ``server_id`` alive until ``alive_until``; its characters stay owned."""
        ...

    async def remove_server(self, server_id: str) -> None: ...

    async def release_characters(self, server_id: str) -> int:
        """Give up every character ``server_id`` owns (a server starting up owns none in
        memory: what the database says it owns is left from a previous life). Epochs are
        kept, so the next owner still trusts that life's hot checkpoints. Returns how many."""
        ...

    async def acquire_character(
        self, character_id: int, server_id: str, now: float
    ) -> Claim | None:
        """Become the character's owner (``None`` if it does not exist). Succeeds when it has
        no owner, is already ours, or its owner is no longer alive at ``now``; raises
        :class:`NotOwner` otherwise. Every success increments the epoch."""
        ...

    async def owner_of(self, character_id: int, now: float) -> str | None:
        """The live owner of the character, if any."""
        ...

    async def save_progress(self, progress: list[CharacterProgress], server_id: str) -> list[int]:
        """Save many characters in one transaction, each only if ``server_id`` owns it at its
        epoch; returns the ids that were refused (ownership lost or unknown)."""
        ...

    async def begin_transfer(
        self, progress: CharacterProgress, server_id: str, transfer: TransferRecord, now: float
    ) -> None:
        """In one transaction: save the character (already placed in the target zone),
        release it, and record the transfer. Raises :class:`NotOwner`."""
        ...

    async def claim_transfer(
        self,
        transfer_id: str,
        character_id: int,
        server_id: str,
        now: float,
        zone_id: int | None = None,
    ) -> Claim:
        """In one transaction: mark the transfer claimed by ``server_id`` (once only) and
        acquire the character. Only the transfer's target server may claim it, or, with
        ``zone_id``, any server of the target zone (channels behind one load balancer).
        Raises :class:`TransferRefused` or :class:`NotOwner`."""
        ...

    # --- items (every change is in the ledger, in the same transaction) --------------------
    async def inventory(self, character_id: int) -> dict[str, int]: ...

    async def grant_items(
        self,
        character_id: int,
        items: dict[str, int],
        reason: str,
        server_id: str,
        epoch: int,
        key: str | None = None,
    ) -> dict[str, int]:
        """Add items to an owned character; returns its inventory. Raises NotOwner.

        With ``key`` the grant happens at most once: a retry with the same key (after an
        error that left it unknown whether the first try committed) changes nothing."""
        ...

    async def take_items(
        self, character_id: int, item: str, quantity: int, reason: str, server_id: str, epoch: int
    ) -> dict[str, int]:
        """Take items from an owned character (using one up); returns its inventory. Raises
        NotOwner or InsufficientItems."""
        ...

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
        """Move items between characters (the giver owned by the caller); returns both
        inventories. Raises NotOwner or InsufficientItems."""
        ...

    async def item_totals(self) -> dict[str, int]:
        """How many of each item exist in the world."""
        ...

    async def audit_items(self) -> list[ItemDiscrepancy]:
        """Inventory rows that disagree with the ledger (empty when all is well)."""
        ...

    async def record_audit(self, kind: str, account_id: int | None, detail: str) -> None: ...

    async def audit_entries(self, limit: int) -> list[AuditEntry]:
        """The newest ``limit`` audit entries, newest first."""
        ...

    async def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless the database answers."""
        ...

    async def close(self) -> None: ...
