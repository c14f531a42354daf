"""SQL storage adapter (SQLAlchemy Core, async): SQLite embedded, PostgreSQL in production.

How ownership works. ``characters.owner_server`` names the zone server that may change a
character and ``owner_epoch`` counts acquisitions. Acquiring is one conditional UPDATE: it
succeeds when the character has no owner, is the caller's, or its owner's row in
``zone_servers`` has expired; it increments the epoch. Every save carries the epoch it was
acquired at and is an UPDATE that matches only while owner and epoch are unchanged, so a
server that lost ownership (it stalled past its lease, another took over) can never overwrite
newer progress. Transfers and item changes check ownership in the same transaction as their
writes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import (
    and_,
    bindparam,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, RowMapping
from sqlalchemy.exc import DisconnectionError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from openmmo.logs import get_logger
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
    StorageUnavailable,
    TransferRecord,
    TransferRefused,
)
from openmmo.storage.schema import (
    accounts,
    audit_log,
    characters,
    inventory,
    item_ledger,
    transfers,
    zone_servers,
)

# The URL forms people write, and the async driver each means here.
_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def async_url(url: str) -> str:
    """``url`` with the async driver this adapter runs on: ``postgresql://…`` (how every
    PostgreSQL user writes it) becomes ``postgresql+asyncpg://…``, ``sqlite:///…``
    ``sqlite+aiosqlite:///…``; a URL that names an async driver already is kept."""
    scheme, sep, rest = url.partition("://")
    return f"{_ASYNC_DRIVERS.get(scheme.lower(), scheme)}{sep}{rest}" if sep else url


log = get_logger("openmmo.storage")

# Connections one process keeps to PostgreSQL for each of its two pools (SQLAlchemy's, which
# may open as many again under a burst, and asyncpg's for the hot reads); DATABASE_POOL_SIZE.
DEFAULT_POOL_SIZE = 10
# How long a call waits for a pooled connection before it is StorageUnavailable.
POOL_TIMEOUT_S = 5.0
# A hot read that has not answered by then is StorageUnavailable (a link gone silent).
READ_TIMEOUT_S = 10.0


def create_engine(url: str, pool_size: int = DEFAULT_POOL_SIZE) -> AsyncEngine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    url = async_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has one writer anyway, and a transaction that reads before
        # it writes would otherwise fail with "database is locked" instead of waiting.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=30)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        return engine
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=POOL_TIMEOUT_S
    )
    _ping_when_idle(engine)
    return engine


# A pooled connection that has been idle this long is pinged before it is handed out.
PING_IF_IDLE_S = 5.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Check a pooled connection before use only when it has sat idle for PING_IF_IDLE_S.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip per query,
    ~0.1-0.3 ms of CPU each (a third of a simple query's cost; docs/benchmarks.md). A database
    restart shows up on the idle connections, which are still pinged and replaced here. A busy
    connection is not: the first query on it after a restart fails (StorageUnavailable, which
    every caller retries or reports), and SQLAlchemy then invalidates the whole pool, so the
    rest reconnect.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connected(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < PING_IF_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards this one and tries a fresh connection
            raise DisconnectionError(str(exc)) from exc


# What "the database is unreachable or failed" looks like: SQLAlchemy wraps driver errors, but a
# refused connection surfaces from asyncpg as a plain OSError and a pool wait as TimeoutError.
DB_ERRORS = (SQLAlchemyError, OSError, TimeoutError)


def _is_foreign_key_violation(exc: IntegrityError) -> bool:
    """A row pointing at one that does not exist (PostgreSQL SQLSTATE 23503; SQLite says
    so in its message), rather than a unique name taken."""
    orig: Any = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code == "23503" or "FOREIGN KEY" in str(orig).upper()


def _unix(at: datetime) -> float:
    """SQLite hands back naive UTC datetimes (CURRENT_TIMESTAMP), PostgreSQL aware ones."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _account(row: RowMapping) -> Account:
    return Account(
        row["account_id"],
        row["username"],
        row["password_hash"],
        row["device_id"],
        bool(row["banned"]),
        bool(row["admin"]),
    )


_LOAD_CHARACTER = (
    "SELECT character_id, account_id, name, zone_id, x, y, hp, level, xp, stats,"
    " progress_version, owner_server, owner_epoch, rating FROM characters WHERE character_id = $1"
)


def _character(row: Any) -> Character:
    stats = row["stats"]
    if isinstance(stats, str):  # json read by asyncpg directly arrives as text
        stats = json.loads(stats)
    return Character(
        row["character_id"],
        row["account_id"],
        row["name"],
        CharacterState(
            row["zone_id"],
            row["x"],
            row["y"],
            row["hp"],
            row["level"],
            row["xp"],
            stats or {},
        ),
        row["progress_version"],
        row["owner_server"],
        row["owner_epoch"],
        row["rating"],
    )


def _alive_owner(now: float) -> Any:
    """SQL condition: the character's owner is a zone server alive at ``now``."""
    return exists().where(
        and_(
            zone_servers.c.server_id == characters.c.owner_server, zone_servers.c.alive_until >= now
        )
    )


def _owned_by(character_id: Any, server_id: str, epoch: Any) -> Any:
    return and_(
        characters.c.character_id == character_id,
        characters.c.owner_server == server_id,
        characters.c.owner_epoch == epoch,
    )


_SAVE = (
    update(characters)
    .where(
        characters.c.character_id == bindparam("b_id"),
        characters.c.owner_server == bindparam("b_server"),
        characters.c.owner_epoch == bindparam("b_epoch"),
    )
    .values(
        zone_id=bindparam("b_zone"),
        x=bindparam("b_x"),
        y=bindparam("b_y"),
        hp=bindparam("b_hp"),
        level=bindparam("b_level"),
        xp=bindparam("b_xp"),
        stats=bindparam("b_stats"),
        progress_version=bindparam("b_version"),
        owner_server=bindparam("b_owner"),
        updated_at=func.now(),
    )
    .returning(characters.c.character_id)
)


# _SAVE for a whole batch on PostgreSQL: the rows come in as arrays, one per column.
_SAVE_MANY = """
UPDATE characters AS c SET
    zone_id = b.zone_id, x = b.x, y = b.y, hp = b.hp, level = b.level, xp = b.xp,
    stats = b.stats::json, progress_version = b.version,
    owner_server = CASE WHEN b.release THEN NULL ELSE $2 END, updated_at = now()
FROM unnest($1::bigint[], $3::bigint[], $4::int[], $5::float8[], $6::float8[], $7::int[],
            $8::int[], $9::bigint[], $10::text[], $11::bigint[], $12::bool[])
    AS b(id, epoch, zone_id, x, y, hp, level, xp, stats, version, release)
WHERE c.character_id = b.id AND c.owner_server = $2 AND c.owner_epoch = b.epoch
RETURNING c.character_id
"""


def _save_params(p: CharacterProgress, server_id: str) -> dict[str, Any]:
    state = p.state
    return {
        "b_id": p.character_id,
        "b_server": server_id,
        "b_epoch": p.epoch,
        "b_zone": state.zone_id,
        "b_x": state.x,
        "b_y": state.y,
        "b_hp": state.hp,
        "b_level": state.level,
        "b_xp": state.xp,
        "b_stats": dict(state.stats),
        "b_version": p.version,
        "b_owner": None if p.release else server_id,
    }


class _Direct:
    """asyncpg's own pool for the hot statements (a character read by id, the zone servers'
    batched saves): it skips SQLAlchemy's statement building, pool checkout (a greenlet
    switch) and result wrapping, most of a simple query's ~0.4 ms of CPU. Connections open on
    first use and stay open; one found dead (a database restart) asyncpg replaces; one that
    fails or times out on the link has every pooled one replaced on its next use, as
    SQLAlchemy's pool does, since a link that went silent took the others with it."""

    def __init__(self, url: URL, size: int):
        self._dsn = url.render_as_string(hide_password=False)
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            pool = self._pool or await self._open()
            async with pool.acquire(timeout=POOL_TIMEOUT_S) as connection:
                return await connection.fetch(sql, *args)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            if self._pool is not None and not isinstance(exc, asyncpg.PostgresError):
                await self._pool.expire_connections()  # the link died: the others did too
            raise StorageUnavailable(str(exc) or type(exc).__name__) from exc

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                # min_size=0: nothing connects until the first read, so creating the pool
                # cannot fail while the database is down.
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=self._size,
                    max_inactive_connection_lifetime=60,
                    command_timeout=READ_TIMEOUT_S,
                )
            return self._pool

    async def warm(self, attempts: int = 3) -> bool:
        """Open the first connection now rather than on a player's first join; whether it
        opened. In containers the first one sometimes stalls past POOL_TIMEOUT_S (seen in the
        container smoke test: a join refused as unavailable); a second attempt connects."""
        for _ in range(attempts):
            try:
                await self.fetch("SELECT 1")
                return True
            except StorageUnavailable as exc:
                log.warning("database_pool_warm_up_failed", error=str(exc))  # next attempt
        return False

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


class SqlStorage:
    def __init__(self, engine: AsyncEngine, pool_size: int = DEFAULT_POOL_SIZE):
        self.engine = engine
        self._pool_size = pool_size
        self._direct: _Direct | None = None
        self._dialect = engine.dialect.name
        # Single statements need no transaction around them: without one, a read or an atomic
        # UPDATE ... RETURNING is one round trip instead of three (BEGIN, the statement,
        # ROLLBACK/COMMIT). Joining a zone server makes four such calls.
        self._single = engine.execution_options(isolation_level="AUTOCOMMIT")

    # --- plumbing -------------------------------------------------------------------------
    async def _one(self, statement: Any) -> RowMapping | None:
        try:
            async with self._single.connect() as connection:
                result = await connection.execute(statement)
                return result.mappings().first()
        except DB_ERRORS as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def _all(self, statement: Any) -> Sequence[RowMapping]:
        try:
            async with self._single.connect() as connection:
                return (await connection.execute(statement)).mappings().all()
        except DB_ERRORS as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def _write(self, statement: Any) -> RowMapping | None:
        try:
            async with self.engine.begin() as connection:
                result = await connection.execute(statement)
                return result.mappings().first() if result.returns_rows else None
        except IntegrityError as exc:
            if _is_foreign_key_violation(exc):
                raise AccountMissing(str(exc.orig)) from exc
            raise Conflict(str(exc.orig)) from exc
        except DB_ERRORS as exc:
            raise StorageUnavailable(str(exc)) from exc

    def _upsert_inventory(self, character_id: int, item: str, delta: int) -> Any:
        dialect: Any = postgresql if self._dialect == "postgresql" else sqlite
        statement = dialect.insert(inventory).values(
            character_id=character_id, item=item, quantity=delta
        )
        return statement.on_conflict_do_update(
            index_elements=[inventory.c.character_id, inventory.c.item],
            set_={"quantity": inventory.c.quantity + statement.excluded.quantity},
        )

    # --- accounts -------------------------------------------------------------------------
    async def create_account(
        self, username: str, password_hash: str | None, device_id: str | None = None
    ) -> Account:
        row = await self._write(
            insert(accounts)
            .values(
                username=username,
                username_key=username.lower(),
                password_hash=password_hash,
                device_id=device_id,
            )
            .returning(*accounts.c)
        )
        assert row is not None
        return _account(row)

    async def account_by_username(self, username: str) -> Account | None:
        row = await self._one(select(accounts).where(accounts.c.username_key == username.lower()))
        return None if row is None else _account(row)

    async def account_by_device(self, device_id: str) -> Account | None:
        row = await self._one(select(accounts).where(accounts.c.device_id == device_id))
        return None if row is None else _account(row)

    async def account_by_id(self, account_id: int) -> Account | None:
        row = await self._one(select(accounts).where(accounts.c.account_id == account_id))
        return None if row is None else _account(row)

    async def update_password_hash(self, account_id: int, password_hash: str) -> None:
        await self._write(
            update(accounts)
            .where(accounts.c.account_id == account_id)
            .values(password_hash=password_hash)
        )

    async def set_banned(self, account_id: int, banned: bool) -> None:
        await self._write(
            update(accounts).where(accounts.c.account_id == account_id).values(banned=banned)
        )

    async def set_admin(self, account_id: int, admin: bool) -> None:
        await self._write(
            update(accounts).where(accounts.c.account_id == account_id).values(admin=admin)
        )

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
        row = await self._write(
            insert(characters)
            .values(
                account_id=account_id,
                name=name,
                name_key=name.lower(),
                zone_id=zone_id,
                x=x,
                y=y,
                hp=0,
                level=level,
                xp=0,
                stats=dict(stats or {}),
            )
            .returning(*characters.c)
        )
        assert row is not None
        return _character(row)

    async def list_characters(self, account_id: int) -> list[Character]:
        rows = await self._all(
            select(characters)
            .where(characters.c.account_id == account_id)
            .order_by(characters.c.character_id)
        )
        return [_character(row) for row in rows]

    async def load_character(self, character_id: int) -> Character | None:
        if self._dialect == "postgresql":
            found = await self._fetchrow(_LOAD_CHARACTER, character_id)
            return None if found is None else _character(found)
        row = await self._one(select(characters).where(characters.c.character_id == character_id))
        return None if row is None else _character(row)

    def _asyncpg(self) -> _Direct:
        """asyncpg directly (see :class:`_Direct`); PostgreSQL only."""
        if self._direct is None:
            url = self.engine.url.set(drivername="postgresql")
            self._direct = _Direct(url, self._pool_size)
        return self._direct

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        return await self._asyncpg().fetchrow(sql, *args)

    async def character_by_name(self, name: str) -> Character | None:
        row = await self._one(select(characters).where(characters.c.name_key == name.lower()))
        return None if row is None else _character(row)

    # --- ownership ------------------------------------------------------------------------
    async def heartbeat_server(self, server_id: str, alive_until: float) -> None:
        dialect: Any = postgresql if self._dialect == "postgresql" else sqlite
        statement = dialect.insert(zone_servers).values(
            server_id=server_id, alive_until=alive_until
        )
        await self._write(
            statement.on_conflict_do_update(
                index_elements=[zone_servers.c.server_id], set_={"alive_until": alive_until}
            )
        )

    async def remove_server(self, server_id: str) -> None:
        await self._write(delete(zone_servers).where(zone_servers.c.server_id == server_id))

    async def release_characters(self, server_id: str) -> int:
        try:
            async with self.engine.begin() as connection:
                result = await connection.execute(
                    update(characters)
                    .where(characters.c.owner_server == server_id)
                    .values(owner_server=None)
                )
                return int(result.rowcount or 0)
        except DB_ERRORS as exc:
            raise StorageUnavailable(str(exc)) from exc

    def _acquire_statement(self, character_id: int, server_id: str, now: float) -> Any:
        return (
            update(characters)
            .where(
                characters.c.character_id == character_id,
                or_(
                    characters.c.owner_server.is_(None),
                    characters.c.owner_server == server_id,
                    ~_alive_owner(now),
                ),
            )
            .values(owner_server=server_id, owner_epoch=characters.c.owner_epoch + 1)
            .returning(*characters.c)
        )

    async def _acquire(
        self, connection: AsyncConnection, character_id: int, server_id: str, now: float
    ) -> Claim | None:
        row = (
            (await connection.execute(self._acquire_statement(character_id, server_id, now)))
            .mappings()
            .first()
        )
        if row is not None:
            character = _character(row)
            return Claim(character, character.owner_epoch)
        current = (
            await connection.execute(
                select(characters.c.owner_server).where(characters.c.character_id == character_id)
            )
        ).first()
        if current is None:
            return None
        raise NotOwner(character_id, current[0])

    async def acquire_character(
        self, character_id: int, server_id: str, now: float
    ) -> Claim | None:
        try:  # the UPDATE ... RETURNING is atomic on its own
            async with self._single.connect() as connection:
                return await self._acquire(connection, character_id, server_id, now)
        except DB_ERRORS as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def owner_of(self, character_id: int, now: float) -> str | None:
        row = await self._one(
            select(characters.c.owner_server).where(
                characters.c.character_id == character_id, _alive_owner(now)
            )
        )
        return None if row is None else row["owner_server"]

    async def save_progress(self, progress: list[CharacterProgress], server_id: str) -> list[int]:
        if not progress:
            return []
        if self._dialect == "postgresql":
            return await self._save_many(progress, server_id)
        refused = []
        try:
            async with self.engine.begin() as connection:
                for p in progress:
                    saved = (await connection.execute(_SAVE, _save_params(p, server_id))).first()
                    if saved is None:
                        refused.append(p.character_id)
        except DB_ERRORS as exc:
            raise StorageUnavailable(str(exc)) from exc
        return refused

    async def _save_many(self, progress: list[CharacterProgress], server_id: str) -> list[int]:
        """The batch in one statement (one round trip, atomic by itself) instead of one
        UPDATE per character in a transaction; the same rule: a row is written only while
        this server owns it at the save's epoch."""
        latest = {p.character_id: p for p in progress}  # one row per character: the last
        batch = list(latest.values())
        saved = await self._asyncpg().fetch(
            _SAVE_MANY,
            [p.character_id for p in batch],
            server_id,
            [p.epoch for p in batch],
            [p.state.zone_id for p in batch],
            [p.state.x for p in batch],
            [p.state.y for p in batch],
            [p.state.hp for p in batch],
            [p.state.level for p in batch],
            [p.state.xp for p in batch],
            [json.dumps(dict(p.state.stats)) for p in batch],
            [p.version for p in batch],
            [p.release for p in batch],
        )
        written = {row["character_id"] for row in saved}
        return [p.character_id for p in batch if p.character_id not in written]

    async def begin_transfer(
        self, progress: CharacterProgress, server_id: str, transfer: TransferRecord, now: float
    ) -> None:
        params = _save_params(progress, server_id)
        params["b_owner"] = None
        try:
            async with self.engine.begin() as connection:
                if (await connection.execute(_SAVE, params)).first() is None:
                    raise NotOwner(progress.character_id, None)
                await connection.execute(
                    insert(transfers).values(
                        transfer_id=transfer.transfer_id,
                        character_id=transfer.character_id,
                        from_server=transfer.from_server,
                        to_zone=transfer.to_zone,
                        to_server=transfer.to_server,
                        created_at=now,
                    )
                )
        except DB_ERRORS as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def claim_transfer(
        self,
        transfer_id: str,
        character_id: int,
        server_id: str,
        now: float,
        zone_id: int | None = None,
    ) -> Claim:
        if zone_id is None:
            target = transfers.c.to_server == server_id
        else:
            target = transfers.c.to_zone == zone_id
        try:
            async with self.engine.begin() as connection:
                claimed = (
                    await connection.execute(
                        update(transfers)
                        .where(
                            transfers.c.transfer_id == transfer_id,
                            transfers.c.character_id == character_id,
                            target,
                            transfers.c.claimed_by.is_(None),
                        )
                        .values(claimed_by=server_id, claimed_at=now)
                        .returning(transfers.c.transfer_id)
                    )
                ).first()
                if claimed is None:
                    raise TransferRefused(f"transfer {transfer_id} cannot be claimed")
                claim = await self._acquire(connection, character_id, server_id, now)
                if claim is None:
                    raise TransferRefused(f"character {character_id} does not exist")
                return claim
        except DB_ERRORS as exc:
            raise StorageUnavailable(str(exc)) from exc

    # --- items ----------------------------------------------------------------------------
    async def inventory(self, character_id: int) -> dict[str, int]:
        rows = await self._all(
            select(inventory.c.item, inventory.c.quantity)
            .where(inventory.c.character_id == character_id, inventory.c.quantity > 0)
            .order_by(inventory.c.item)
        )
        return {row["item"]: row["quantity"] for row in rows}

    async def _fence(
        self, connection: AsyncConnection, character_id: int, server_id: str, epoch: int
    ) -> None:
        """Lock the character row if, and only if, the caller owns it at ``epoch``."""
        locked = (
            await connection.execute(
                select(characters.c.character_id)
                .where(_owned_by(character_id, server_id, epoch))
                .with_for_update()
            )
        ).first()
        if locked is None:
            raise NotOwner(character_id, None)

    async def _bag(self, connection: AsyncConnection, character_id: int) -> dict[str, int]:
        rows = await connection.execute(
            select(inventory.c.item, inventory.c.quantity)
            .where(inventory.c.character_id == character_id, inventory.c.quantity > 0)
            .order_by(inventory.c.item)
        )
        return {row[0]: row[1] for row in rows.all()}

    async def grant_items(
        self,
        character_id: int,
        items: dict[str, int],
        reason: str,
        server_id: str,
        epoch: int,
        key: str | None = None,
    ) -> dict[str, int]:
        ref = None if key is None else f"grant:{key}"
        try:
            async with self.engine.begin() as connection:
                await self._fence(connection, character_id, server_id, epoch)  # locks the row
                if ref is not None and await self._granted(connection, character_id, ref):
                    return await self._bag(connection, character_id)
                for item, quantity in items.items():
                    await connection.execute(self._upsert_inventory(character_id, item, quantity))
                    await connection.execute(
                        insert(item_ledger).values(
                            character_id=character_id,
                            item=item,
                            delta=quantity,
                            reason=reason,
                            ref=ref,
                        )
                    )
                return await self._bag(connection, character_id)
        except DB_ERRORS as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def _granted(self, connection: AsyncConnection, character_id: int, ref: str) -> bool:
        found = await connection.execute(
            select(item_ledger.c.entry_id)
            .where(item_ledger.c.character_id == character_id, item_ledger.c.ref == ref)
            .limit(1)
        )
        return found.first() is not None

    async def _take(
        self, connection: AsyncConnection, character_id: int, item: str, quantity: int
    ) -> None:
        """Lower an inventory row by ``quantity``, or raise :class:`InsufficientItems`."""
        taken = (
            await connection.execute(
                update(inventory)
                .where(
                    inventory.c.character_id == character_id,
                    inventory.c.item == item,
                    inventory.c.quantity >= quantity,
                )
                .values(quantity=inventory.c.quantity - quantity)
                .returning(inventory.c.quantity)
            )
        ).first()
        if taken is None:
            raise InsufficientItems(f"character {character_id} holds fewer than {quantity} {item}")

    async def take_items(
        self, character_id: int, item: str, quantity: int, reason: str, server_id: str, epoch: int
    ) -> dict[str, int]:
        try:
            async with self.engine.begin() as connection:
                await self._fence(connection, character_id, server_id, epoch)
                await self._take(connection, character_id, item, quantity)
                await connection.execute(
                    insert(item_ledger).values(
                        character_id=character_id, item=item, delta=-quantity, reason=reason
                    )
                )
                return await self._bag(connection, character_id)
        except DB_ERRORS as exc:
            raise StorageUnavailable(str(exc)) from exc

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
        try:
            async with self.engine.begin() as connection:
                await self._fence(connection, from_id, server_id, epoch)
                await self._take(connection, from_id, item, quantity)
                receiver = (
                    await connection.execute(
                        select(characters.c.character_id).where(characters.c.character_id == to_id)
                    )
                ).first()
                if receiver is None:
                    raise InsufficientItems(f"character {to_id} does not exist")
                await connection.execute(self._upsert_inventory(to_id, item, quantity))
                await connection.execute(
                    insert(item_ledger),
                    [
                        {
                            "character_id": from_id,
                            "item": item,
                            "delta": -quantity,
                            "reason": reason,
                            "ref": str(to_id),
                        },
                        {
                            "character_id": to_id,
                            "item": item,
                            "delta": quantity,
                            "reason": reason,
                            "ref": str(from_id),
                        },
                    ],
                )
                return await self._bag(connection, from_id), await self._bag(connection, to_id)
        except DB_ERRORS as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def item_totals(self) -> dict[str, int]:
        rows = await self._all(
            select(inventory.c.item, func.sum(inventory.c.quantity).label("total"))
            .group_by(inventory.c.item)
            .order_by(inventory.c.item)
        )
        return {row["item"]: int(row["total"]) for row in rows if row["total"]}

    async def audit_items(self) -> list[ItemDiscrepancy]:
        held = {
            (r["character_id"], r["item"]): r["quantity"]
            for r in await self._all(select(inventory))
        }
        ledger = {
            (r["character_id"], r["item"]): int(r["total"])
            for r in await self._all(
                select(
                    item_ledger.c.character_id,
                    item_ledger.c.item,
                    func.sum(item_ledger.c.delta).label("total"),
                ).group_by(item_ledger.c.character_id, item_ledger.c.item)
            )
        }
        return [
            ItemDiscrepancy(c, i, held.get((c, i), 0), ledger.get((c, i), 0))
            for c, i in sorted(set(held) | set(ledger))
            if held.get((c, i), 0) != ledger.get((c, i), 0)
        ]

    async def record_audit(self, kind: str, account_id: int | None, detail: str) -> None:
        await self._write(insert(audit_log).values(kind=kind, account_id=account_id, detail=detail))

    async def audit_entries(self, limit: int) -> list[AuditEntry]:
        rows = await self._all(select(audit_log).order_by(audit_log.c.entry_id.desc()).limit(limit))
        return [AuditEntry(_unix(r["at"]), r["kind"], r["account_id"], r["detail"]) for r in rows]

    async def ping(self) -> None:
        await self._one(select(1))

    async def warm_up(self) -> None:
        """PostgreSQL: open asyncpg's first connection at start (see :meth:`_Direct.warm`)."""
        if self._dialect == "postgresql":
            await self._asyncpg().warm()

    async def close(self) -> None:
        if self._direct is not None:
            await self._direct.close()
        await self.engine.dispose()
