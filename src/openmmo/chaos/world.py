"""The world a chaos scenario runs in: a gateway and zone servers as separate processes
(:class:`openmmo.testing.cluster.Cluster`) on PostgreSQL, Redis and RabbitMQ — the
machine's own, except the ones the scenario will kill, which are throwaway instances of our
own on free ports (the shared ones are never touched). Plus the probes a scenario reads:
liveness and readiness of every process, and the zone servers' tick times."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from openmmo.chaos.proxy import FaultProxy
from openmmo.storage import StorageUnavailable
from openmmo.storage.sql import SqlStorage, create_engine
from openmmo.testing.cluster import Cluster
from openmmo.testing.services import (
    PG_ADMIN_URL,
    RABBITMQ_URL,
    REDIS_URL,
    Throwaway,
    ThrowawayPostgres,
    ThrowawayRabbitMQ,
    ThrowawayRedis,
    create_database,
    drop_database,
    namespace,
)

DEPENDENCIES = ("redis", "postgres", "rabbitmq")

# Local runs drive every player from 127.0.0.1: lift the per-address login limits, save
# often enough that a scenario sees saves land.
WORLD_ENV = {
    "AUTH_RATE_PER_IP": "1000",
    "AUTH_BURST_PER_IP": "5000",
    "SAVE_INTERVAL_S": "5",
}


@dataclass
class ChaosWorld:
    cluster: Cluster
    database_url: str
    admin_url: str
    throwaways: dict[str, Throwaway] = field(default_factory=dict)
    proxy: FaultProxy | None = None  # in front of the ``proxied`` dependency

    @classmethod
    def start(
        cls,
        workdir: Path,
        zones: list[int],
        throwaway: frozenset[str] = frozenset(),
        proxied: str | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> ChaosWorld:
        """Start the world (blocking: run it in a thread). With ``proxied`` (one of the
        ``throwaway`` dependencies, or a zone server's name) the servers reach that
        dependency, or the players that zone server, through a :class:`FaultProxy` served on
        ``loop``, the caller's event loop."""
        started: dict[str, Throwaway] = {}
        proxy: FaultProxy | None = None

        def through_proxy(url: str, port: int) -> str:
            nonlocal proxy
            assert loop is not None, "a proxied dependency needs the caller's loop"
            proxy = FaultProxy("127.0.0.1", port)
            asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
            return url.replace(f":{port}/", f":{proxy.port}/")

        try:
            redis_url, rabbit_url, admin_url = REDIS_URL, RABBITMQ_URL, PG_ADMIN_URL
            if "redis" in throwaway:
                redis = started["redis"] = ThrowawayRedis(persistent=True)
                redis.start()
                redis_url = redis.url
                if proxied == "redis":
                    redis_url = through_proxy(redis_url, redis.port)
            if "rabbitmq" in throwaway:
                rabbit = started["rabbitmq"] = ThrowawayRabbitMQ()
                rabbit.start(timeout_s=60)
                rabbit_url = rabbit.url
            if "postgres" in throwaway:
                postgres = started["postgres"] = ThrowawayPostgres()
                postgres.start()
                admin_url = postgres.admin_url
            database_url = create_database(admin_url)
            served_url = database_url
            if proxied == "postgres":
                served_url = through_proxy(database_url, started["postgres"].port)
            cluster = Cluster(
                workdir,
                database_url=served_url,
                redis_url=redis_url,
                rabbitmq_url=rabbit_url,
                namespace=namespace(),
                zones=zones,
                env=WORLD_ENV,
            )
            if proxied in cluster.processes:  # players reach this zone server through it
                zone = cluster.processes[proxied]
                through_proxy(f"ws://127.0.0.1:{zone.server_port}/ws", zone.server_port)
                assert proxy is not None
                zone.env["PUBLIC_WS_URL"] = f"ws://127.0.0.1:{proxy.port}/ws"
            world = cls(cluster, database_url, admin_url, started, proxy)
            cluster.start(timeout_s=60)
            return world
        except BaseException:
            for server in started.values():
                server.close()
            if proxy is not None and loop is not None:
                asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(10)
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.cluster.stop_all()
        if "postgres" not in self.throwaways:
            with contextlib.suppress(Exception):
                drop_database(self.database_url, self.admin_url)
        for server in self.throwaways.values():
            server.close()

    def zone_servers(self) -> list[str]:
        return [name for name in self.cluster.processes if name.startswith("zone")]

    def pids(self) -> dict[str, int | None]:
        return {
            name: proc.process.pid if proc.process is not None else None
            for name, proc in self.cluster.processes.items()
        }

    @contextlib.asynccontextmanager
    async def storage(self) -> AsyncIterator[SqlStorage]:
        """The world's database, directly (not through a scenario's proxy)."""
        engine = create_engine(self.database_url)
        try:
            yield SqlStorage(engine)
        finally:
            await engine.dispose()

    async def audit(self) -> dict[str, Any]:
        """What ``openmmo admin audit`` reports: item totals and ledger discrepancies
        (``{"error": ...}`` if the database cannot be read)."""
        try:
            async with self.storage() as storage:
                totals, discrepancies = await storage.item_totals(), await storage.audit_items()
        except StorageUnavailable as exc:
            return {"error": str(exc)[:300]}
        return {"items": totals, "discrepancies": [asdict(d) for d in discrepancies]}

    async def seed_items(self, character_ids: list[int], items: dict[str, int]) -> None:
        """Give characters in play items, as their owner would (fenced by its epoch, with
        ledger rows), so that a scenario's audit has something to count."""
        async with self.storage() as storage:
            for character_id in character_ids:
                character = await storage.load_character(character_id)
                assert character is not None and character.owner_server, character_id
                await storage.grant_items(
                    character_id,
                    items,
                    "chaos_seed",
                    character.owner_server,
                    character.owner_epoch,
                )


def audit_clean(audit: dict[str, Any]) -> bool:
    return "error" not in audit and not audit.get("discrepancies")


@dataclass
class Probes:
    """Polls /health/live and /health/ready of every process of the world."""

    world: ChaosWorld
    every_s: float = 0.25
    live_failures: dict[str, int] = field(default_factory=dict)
    not_ready: dict[str, list[float]] = field(default_factory=dict)  # times seen not ready
    checks: int = 0

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                names = list(self.world.cluster.processes)
                answers = await asyncio.gather(
                    *(self._probe(http, name) for name in names), return_exceptions=True
                )
                self.checks += 1
                now = time.monotonic()
                for name, answer in zip(names, answers, strict=True):
                    live, ready = answer if isinstance(answer, tuple) else (False, False)
                    if not live:
                        self.live_failures[name] = self.live_failures.get(name, 0) + 1
                    if not ready:
                        self.not_ready.setdefault(name, []).append(now)
                await asyncio.sleep(self.every_s)

    async def _probe(self, http: httpx.AsyncClient, name: str) -> tuple[bool, bool]:
        proc = self.world.cluster.processes[name]
        if proc.process is None or proc.process.poll() is not None:
            return True, True  # stopped on purpose by the scenario: not a probe failure
        base = self.world.cluster.health_url(name)
        # As the chart's probes do: liveness and readiness apart, each with 3 s (readiness
        # runs the dependency checks, which give up after 2 s: slow while a link is cut).
        live_answer, ready_answer = await asyncio.gather(
            http.get(f"{base}/health/live", timeout=3.0),
            http.get(f"{base}/health/ready", timeout=3.0),
            return_exceptions=True,
        )
        live = not isinstance(live_answer, BaseException) and live_answer.status_code == 200
        ready = not isinstance(ready_answer, BaseException) and ready_answer.status_code == 200
        return live, ready

    def ready_again_at(self, since: float) -> float | None:
        """When every process was last seen not ready after ``since`` (None: it never was
        not ready after it)."""
        last = [t for times in self.not_ready.values() for t in times if t >= since]
        return max(last) if last else None


async def tick_buckets(world: ChaosWorld) -> dict[float, float]:
    """The zone servers' tick-duration histogram, summed over servers: upper bound → count."""
    buckets: dict[float, float] = {}
    async with httpx.AsyncClient(timeout=5.0) as http:  # a scrape runs the readiness checks
        for name in world.zone_servers():
            with contextlib.suppress(httpx.HTTPError):
                text = (await http.get(f"{world.cluster.health_url(name)}/metrics")).text
                for family in text_string_to_metric_families(text):
                    if family.name != "openmmo_tick_duration_seconds":
                        continue
                    for sample in family.samples:
                        if sample.name.endswith("_bucket"):
                            bound = float(sample.labels["le"])
                            buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def bucket_percentile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The q-th percentile (upper bucket bound, seconds) of what was observed between two
    scrapes of a cumulative histogram."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    for bound, count in zip(bounds, counts, strict=True):
        if count >= q / 100 * total:
            return bound
    return bounds[-1]
