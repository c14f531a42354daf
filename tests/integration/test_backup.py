"""Backup and restore of the world's database with scripts/backup.sh and scripts/restore.sh.

A world of accounts, characters and items is dumped while items are still being granted; the
PostgreSQL server is then killed and its data deleted, and a fresh server gets the dump back.
The restored world must be the source as it was at one instant: the same accounts and
characters, inventories that agree with the item ledger, every write committed before the
backup started and none begun after it ended, and no gap in between (the dump is one
snapshot). The run prints the figures docs/howto/backup.md quotes (RPO and RTO). The scripts'
refusals are checked too: bad arguments, a missing tool, a database that does not answer, a
target that is not empty, a damaged dump.
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from openmmo.storage import CharacterProgress
from openmmo.storage.migrate import check_schema
from openmmo.storage.sql import SqlStorage, create_engine
from openmmo.testing import free_port
from openmmo.testing.services import ThrowawayPostgres, create_database, drop_database

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BACKUP = ROOT / "scripts" / "backup.sh"
RESTORE = ROOT / "scripts" / "restore.sh"
SEEDER = "backup-seeder"
ACCOUNTS = 200
CHARACTERS_PER_ACCOUNT = 3
ITEM_KINDS = 20  # inventory rows (and ledger entries) per character
WRITES_AFTER_BACKUP_S = 0.5  # the writer goes on this long after the dump: the lost writes
# Ledger history (items granted and taken again, in pairs that cancel out), written with SQL
# to make the world bigger than the storage layer fills in seconds; set
# OPENMMO_BACKUP_LEDGER_ROWS=5000000 for the larger figures of docs/howto/backup.md.
LEDGER_HISTORY_ROWS = int(os.environ.get("OPENMMO_BACKUP_LEDGER_ROWS", "200000")) // 2 * 2
HISTORY = """
WITH heroes AS (
    SELECT character_id, row_number() OVER (ORDER BY character_id) - 1 AS i
    FROM characters WHERE name <> 'Writer'
), n AS (SELECT count(*) AS n FROM heroes)
INSERT INTO item_ledger (character_id, item, delta, reason)
SELECT h.character_id, 'item' || lpad(((g / 2) / n.n % :kinds)::text, 2, '0'),
       CASE WHEN g % 2 = 0 THEN 3 ELSE -3 END, 'history'
FROM generate_series(0, :rows - 1) AS g CROSS JOIN n JOIN heroes h ON h.i = (g / 2) % n.n
"""
TABLES = ("accounts", "characters", "inventory", "item_ledger", "zone_servers")
COUNT_ROWS = "SELECT " + " + ".join(f"(SELECT count(*) FROM {t})" for t in TABLES)


def script_env(**settings):
    """The caller's environment without database settings, `openmmo` on PATH (restore.sh
    migrates with it), and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "DB_", "PG"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **settings}


def run(script, *args, env=None, cwd=None):
    return subprocess.run(
        [str(script), *map(str, args)],
        env=env or script_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def output(result):
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def migrate(url):
    subprocess.run(
        [sys.executable, "-m", "openmmo", "migrate"],
        env=script_env(DATABASE_URL=url),
        check=True,
        capture_output=True,
        timeout=60,
    )


def libpq(url):
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
def servers():
    """Start throwaway PostgreSQL servers; all are killed and deleted at the end."""
    started = []

    def start():
        server = ThrowawayPostgres()
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def database():
    """A migrated database on the shared server."""
    url = create_database()
    migrate(url)
    yield url
    drop_database(url)


# --- the world ------------------------------------------------------------------------------
async def seed_account(storage, a):
    account = await storage.create_account(f"backup_{a}", f"argon2-hash-{a}")
    for c in range(CHARACTERS_PER_ACCOUNT):
        hero = await storage.create_character(
            account.account_id,
            f"Hero{a}x{c}",
            zone_id=1 + c % 2,
            x=100.0 + a,
            y=50.0 + c,
            level=1 + (a * 7 + c) % 60,
            stats={"class": ("warrior", "mage", "rogue")[c]},
        )
        claim = await storage.acquire_character(hero.character_id, SEEDER, 0.0)
        items = {f"item{i:02}": 1 + (a + c + i) % 9 for i in range(ITEM_KINDS)}
        await storage.grant_items(hero.character_id, items, "seed", SEEDER, claim.epoch)
        moved = claim.character.state.placed(1 + c % 2, 200.5 + a, 75.25 * c)
        progress = CharacterProgress(
            hero.character_id,
            moved,
            version=claim.character.progress_version,
            epoch=claim.epoch,
        )
        assert await storage.save_progress([progress], SEEDER) == []


async def seed_world(storage):
    """Accounts with characters placed in both zones, each holding items granted through the
    ledger, all owned by a live seeder server; and one more character for the writer."""
    await storage.heartbeat_server(SEEDER, 1e12)
    for first in range(0, ACCOUNTS, 10):
        await asyncio.gather(*(seed_account(storage, a) for a in range(first, first + 10)))
    account = await storage.create_account("backup_writer", "argon2-hash-writer")
    hero = await storage.create_character(account.account_id, "Writer", 1, 10.0, 10.0)
    claim = await storage.acquire_character(hero.character_id, SEEDER, 0.0)
    return hero.character_id, claim.epoch


async def world_of(storage):
    """Every account (as stored) with its characters and their inventories."""
    world = {}
    for a in [*range(ACCOUNTS), "writer"]:
        account = await storage.account_by_username(f"backup_{a}")
        characters = await storage.list_characters(account.account_id)
        world[account.username] = (
            account,
            [(c, await storage.inventory(c.character_id)) for c in characters],
        )
    return world


class Writer:
    """Grants one coin at a time to a character, recording when each grant began and when it
    was committed (``writer:N`` in the ledger)."""

    def __init__(self, storage, character_id, epoch):
        self.storage = storage
        self.character_id = character_id
        self.epoch = epoch
        self.writes = []  # (n, began, committed), wall-clock seconds
        self.stop = asyncio.Event()

    async def run(self):
        while not self.stop.is_set():
            n = len(self.writes) + 1
            began = time.time()
            await self.storage.grant_items(
                self.character_id, {"coin": 1}, f"writer:{n}", SEEDER, self.epoch
            )
            self.writes.append((n, began, time.time()))

    def committed_before(self, t):
        return sum(1 for _, _, committed in self.writes if committed < t)

    def begun_before(self, t):
        return sum(1 for _, began, _ in self.writes if began < t)


async def backup_while_writing(writer, url, directory):
    """backup.sh on ``url`` with the writer granting items all along; returns the script's
    result and when it started and ended."""

    async def backup():
        await asyncio.sleep(0.2)  # the writer is well under way
        began = time.time()
        process = await asyncio.create_subprocess_exec(
            str(BACKUP),
            "--dir",
            str(directory),
            env=script_env(DATABASE_URL=url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = await process.communicate()
        ended = time.time()
        await asyncio.sleep(WRITES_AFTER_BACKUP_S)
        writer.stop.set()
        result = subprocess.CompletedProcess(
            BACKUP, process.returncode, stdout.decode(), stderr.decode()
        )
        return result, began, ended

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(writer.run())
        done = tasks.create_task(backup())
    return done.result()


# --- backup, lose the server, restore -------------------------------------------------------
@pytest.mark.timeout(300)
async def test_a_world_backed_up_under_writes_comes_back_on_a_new_server(servers, tmp_path):
    source = servers()
    source_url = create_database(source.admin_url)  # postgresql+asyncpg://
    migrate(source_url)
    engine = create_engine(source_url)
    storage = SqlStorage(engine)
    writer_id, epoch = await seed_world(storage)
    async with engine.begin() as connection:
        await connection.execute(text(HISTORY), {"rows": LEDGER_HISTORY_ROWS, "kinds": ITEM_KINDS})
    before = await world_of(storage)
    totals = await storage.item_totals()
    writer = Writer(storage, writer_id, epoch)
    result, began, ended = await backup_while_writing(writer, source_url, tmp_path)
    assert result.returncode == 0, output(result)
    await engine.dispose()

    (dump,) = tmp_path.glob("*.dump")
    manifest = json.loads(dump.with_suffix(".json").read_text())
    assert manifest["file"] == dump.name and manifest["size_bytes"] == dump.stat().st_size
    assert manifest["tables"] == 8 and manifest["database"] == source_url.rsplit("/", 1)[1]
    assert manifest["pg_dump_version"] and manifest["server_version"]

    source.close()  # the server dies and its disk is gone
    assert not source.data.exists()

    lost_at = time.time()
    target = servers()
    target_url = create_database(target.admin_url)
    started_at = time.time()
    restore = run(RESTORE, dump, libpq(target_url))
    assert restore.returncode == 0, output(restore)
    restored_at = time.time()
    engine = create_engine(target_url)
    storage = SqlStorage(engine)
    await check_schema(engine)  # migrated to this build's head: servers may start
    ready_at = time.time()

    # The restored world is the source as it was when the dump began...
    assert await storage.audit_items() == [], "inventories and ledger disagree"
    after = await world_of(storage)
    _, [(writer_hero, writer_bag)] = after.pop("backup_writer")
    _, [(source_writer, _)] = before.pop("backup_writer")
    assert after == before
    assert writer_hero == source_writer
    # ...with the writes up to one instant, all of them, and none after it.
    kept = writer_bag.get("coin", 0)
    async with engine.connect() as connection:
        reasons = set(
            (
                await connection.execute(
                    text("SELECT reason FROM item_ledger WHERE reason LIKE 'writer:%'")
                )
            ).scalars()
        )
        rows = (await connection.execute(text(COUNT_ROWS))).scalar_one()
    assert reasons == {f"writer:{n}" for n in range(1, kept + 1)}, "not one snapshot"
    assert writer.committed_before(began) <= kept <= writer.begun_before(ended)
    assert await storage.item_totals() == {**totals, "coin": kept}
    await engine.dispose()

    lost = len(writer.writes) - kept
    assert lost > 0, "the writes after the backup are gone with the server"
    # The snapshot came after write `kept` began and before write `kept + 1` was committed.
    snapshot_from = writer.writes[kept - 1][1] - began if kept else 0.0
    snapshot_to = writer.writes[kept][2] - began
    print(
        f"\n[backup] rows={rows} dump_bytes={manifest['size_bytes']} "
        f"backup_s={ended - began:.2f} pg_dump_s={manifest['duration_s']} "
        f"restore_s={restored_at - started_at:.2f} rto_s={ready_at - lost_at:.2f} "
        f"writes={len(writer.writes)} during_backup={kept - writer.committed_before(began)} "
        f"lost_writes={lost} snapshot_s={snapshot_from:.2f}..{snapshot_to:.2f} "
        f"lost_window_s={writer.writes[-1][2] - began - snapshot_from:.2f}"
    )
    print(f"[backup] {result.stdout.strip()}\n[restore] {restore.stdout.strip()}")


# --- what the scripts refuse ----------------------------------------------------------------
def test_bad_arguments_print_the_usage_and_exit_2(tmp_path):
    for script, args, env, message in (
        (RESTORE, (), None, "DUMP is missing"),
        (RESTORE, ("--bogus", "x.dump"), None, "unknown option"),
        (RESTORE, (tmp_path / "none.dump", "postgresql://h/db"), None, "no such readable file"),
        (BACKUP, (), script_env(), "no database"),
        (BACKUP, ("--keep", "0"), script_env(DATABASE_URL="postgresql://h/d"), "--keep"),
        (BACKUP, ("--dir",), None, "--dir needs"),
        (BACKUP, ("extra",), None, "unknown argument"),
        (BACKUP, (), script_env(DATABASE_URL="sqlite+aiosqlite:///var/x.db"), "not PostgreSQL"),
    ):
        result = run(script, *args, env=env, cwd=tmp_path)
        assert result.returncode == 2, output(result)
        assert message in result.stderr and "Usage:" in result.stderr, output(result)
    for script in (BACKUP, RESTORE):
        result = run(script, "--help")
        assert result.returncode == 0 and result.stdout.startswith("Usage:"), output(result)
    assert not list(tmp_path.iterdir()), "a refused backup writes nothing"


def test_a_missing_tool_is_named(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "awk", "sha256sum"):  # no pg_dump, pg_restore, psql
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = script_env(DATABASE_URL="postgresql://h/d", PATH=str(bin_dir))
    for script, args in ((BACKUP, ()), (RESTORE, (BACKUP,))):
        result = run(script, *args, env=env, cwd=tmp_path)
        assert result.returncode == 3, output(result)
        assert "not found on PATH" in result.stderr and "postgresql-client" in result.stderr


def test_a_database_that_does_not_answer_fails_clearly_and_keeps_the_password(tmp_path):
    port = free_port()
    url = f"postgres://postgres:s3cret-pw@127.0.0.1:{port}/openmmo"
    result = run(BACKUP, "--dir", tmp_path, env=script_env(DATABASE_URL=url))
    assert result.returncode == 1, output(result)
    assert "Connection refused" in result.stderr  # pg_dump's own words, then ours:
    assert f"pg_dump of postgresql://postgres@127.0.0.1:{port}/openmmo failed" in result.stderr
    assert "no backup was written" in result.stderr and "s3cret" not in output(result)
    assert not list(tmp_path.iterdir()), "no partial dump is left behind"


def test_restore_refuses_a_target_it_cannot_reach_or_that_is_not_empty_unless_forced(
    database, tmp_path
):
    backup = run(BACKUP, "--dir", tmp_path, env=script_env(DATABASE_URL=database))
    assert backup.returncode == 0, output(backup)
    (dump,) = tmp_path.glob("*.dump")
    gone = f"postgresql+asyncpg://postgres:s3cret-pw@127.0.0.1:{free_port()}/openmmo"
    unreachable = run(RESTORE, dump, gone)
    assert unreachable.returncode == 1, output(unreachable)
    assert "cannot reach the target" in unreachable.stderr and "s3cret" not in output(unreachable)
    refused = run(RESTORE, dump, database)
    assert refused.returncode == 4, output(refused)
    assert "not empty" in refused.stderr and "--force" in refused.stderr
    forced = run(RESTORE, dump, database, env=script_env(RESTORE_FORCE="1"))
    assert forced.returncode == 0, output(forced)
    assert "restored" in forced.stdout and "migrate" in forced.stdout
    # a dump that does not match its manifest is not restored
    data = bytearray(dump.read_bytes())
    data[-1] ^= 0xFF
    dump.write_bytes(bytes(data))
    damaged = run(RESTORE, "--force", dump, database)
    assert damaged.returncode == 1 and "does not match its manifest" in damaged.stderr


def test_backup_keeps_the_newest_dumps_of_its_database(database, tmp_path):
    name = database.rsplit("/", 1)[1]
    old = [f"{name}-2000010{day}T000000Z" for day in (1, 2, 3)]
    for stem in [*old, "other-20000101T000000Z"]:
        (tmp_path / f"{stem}.dump").write_bytes(b"old")
        (tmp_path / f"{stem}.json").write_text("{}")
    result = run(BACKUP, "--dir", tmp_path, env=script_env(DATABASE_URL=database, BACKUP_KEEP="2"))
    assert result.returncode == 0, output(result)
    assert "pruned 2, kept 2" in result.stdout
    dumps = sorted(p.name for p in tmp_path.glob("*.dump"))
    assert dumps[0] == f"{old[2]}.dump" and dumps[1].startswith(f"{name}-20")
    assert "other-20000101T000000Z.dump" in dumps, "another database's dumps are left alone"
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == [p[:-5] for p in dumps]
