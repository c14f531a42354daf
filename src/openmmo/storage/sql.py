"""SQL storage adapter (SQLAlchemy Core, async): SQLite embedded, PostgreSQL in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, func, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from openmmo.storage import (
    Account,
    Character,
    CharacterProgress,
    Conflict,
    StorageUnavailable,
)
from openmmo.storage.schema import accounts, characters


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _account(row: RowMapping) -> Account:
    return Account(
        row["account_id"],
        row["username"],
        row["password_hash"],
        row["device_id"],
        bool(row["banned"]),
    )


def _character(row: RowMapping) -> Character:
    return Character(
        row["character_id"],
        row["account_id"],
        row["name"],
        row["zone_id"],
        row["x"],
        row["y"],
        row["hp"],
        row["level"],
        row["xp"],
    )


class SqlStorage:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def _one(self, statement: Any) -> RowMapping | None:
        try:
            async with self.engine.connect() as connection:
                result = await connection.execute(statement)
                return result.mappings().first()
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def _insert(self, statement: Any) -> RowMapping:
        try:
            async with self.engine.begin() as connection:
                result = await connection.execute(statement)
                return result.mappings().one()
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from exc
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def create_account(
        self, username: str, password_hash: str | None, device_id: str | None = None
    ) -> Account:
        row = await self._insert(
            insert(accounts)
            .values(
                username=username,
                username_key=username.lower(),
                password_hash=password_hash,
                device_id=device_id,
            )
            .returning(*accounts.c)
        )
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
        try:
            async with self.engine.begin() as connection:
                await connection.execute(
                    update(accounts)
                    .where(accounts.c.account_id == account_id)
                    .values(password_hash=password_hash)
                )
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def create_character(
        self, account_id: int, name: str, zone_id: int, x: float, y: float, level: int = 1
    ) -> Character:
        row = await self._insert(
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
            )
            .returning(*characters.c)
        )
        return _character(row)

    async def list_characters(self, account_id: int) -> list[Character]:
        try:
            async with self.engine.connect() as connection:
                result = await connection.execute(
                    select(characters)
                    .where(characters.c.account_id == account_id)
                    .order_by(characters.c.character_id)
                )
                return [_character(row) for row in result.mappings()]
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def load_character(self, character_id: int) -> Character | None:
        row = await self._one(select(characters).where(characters.c.character_id == character_id))
        return None if row is None else _character(row)

    async def save_progress(self, progress: list[CharacterProgress]) -> None:
        if not progress:
            return
        statement = (
            update(characters)
            .where(characters.c.character_id == bindparam("b_id"))
            .values(
                zone_id=bindparam("b_zone"),
                x=bindparam("b_x"),
                y=bindparam("b_y"),
                hp=bindparam("b_hp"),
                level=bindparam("b_level"),
                xp=bindparam("b_xp"),
                updated_at=func.now(),
            )
        )
        rows = [
            {
                "b_id": p.character_id,
                "b_zone": p.zone_id,
                "b_x": p.x,
                "b_y": p.y,
                "b_hp": p.hp,
                "b_level": p.level,
                "b_xp": p.xp,
            }
            for p in progress
        ]
        try:
            async with self.engine.begin() as connection:
                await connection.execute(statement, rows)
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def ping(self) -> None:
        await self._one(select(1))

    async def close(self) -> None:
        await self.engine.dispose()
