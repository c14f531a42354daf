"""The composition root: the only module that picks concrete adapters from settings.

Without production URLs everything is embedded: SQLite, and in-process directory, bus,
sessions, rate limits and checkpoints (one process: `openmmo up`). Each URL switches its
ports to the real adapter: ``DATABASE_URL``/``DB_HOST`` → PostgreSQL, ``REDIS_URL`` → Redis
for sessions, directory, rate limits and hot checkpoints, ``RABBITMQ_URL`` → RabbitMQ for the
bus. Every other module depends on the ports only (a test enforces the layering).
"""

from __future__ import annotations

import dataclasses
import os
import socket
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import BlockingConnectionPool, Redis

from openmmo.auth.passwords import PasswordHashing
from openmmo.auth.tokens import KeyRing, TokenService
from openmmo.bus import Bus
from openmmo.bus.memory import MemoryBus
from openmmo.bus.rabbitmq import RabbitBus
from openmmo.checkpoints import Checkpoints
from openmmo.checkpoints.memory import MemoryCheckpoints
from openmmo.checkpoints.redis import RedisCheckpoints
from openmmo.clock import SYSTEM_CLOCK, Clock
from openmmo.config import ConfigError, Settings, generate_dev_secret
from openmmo.directory import Directory
from openmmo.directory.memory import MemoryDirectory
from openmmo.directory.redis import RedisDirectory
from openmmo.game import load_game
from openmmo.gateway.app import create_app
from openmmo.gateway.console import ConsoleService
from openmmo.gateway.service import GatewayLimits, GatewayService
from openmmo.logs import get_logger
from openmmo.matchmaker import Matchmaker
from openmmo.matchmaking import DEFAULT_MODES, MatchQueue
from openmmo.matchmaking.memory import MemoryMatchQueue
from openmmo.matchmaking.redis import RedisMatchQueue
from openmmo.ops.health import Health
from openmmo.ops.http import HttpLimits, HttpServer, bind
from openmmo.protocol.codes import Limits
from openmmo.ratelimit import RateLimiter
from openmmo.ratelimit.memory import MemoryRateLimiter
from openmmo.ratelimit.redis import RedisRateLimiter
from openmmo.regions import Regions
from openmmo.sessions import SessionStore
from openmmo.sessions.memory import MemorySessionStore
from openmmo.sessions.redis import RedisSessionStore
from openmmo.sim.declare import Game, GameError, ZoneSpec
from openmmo.sim.schema import CharacterSchema
from openmmo.sim.step import start
from openmmo.sim.world import World
from openmmo.storage import Storage
from openmmo.storage.migrate import check_schema, upgrade
from openmmo.storage.sql import SqlStorage, create_engine
from openmmo.zone.checkpoint import Checkpointer
from openmmo.zone.replicate import DeltaConfig
from openmmo.zone.runtime import HookLimits, ZoneConfig, ZoneRuntime
from openmmo.zone.server import ZoneServer, default_server_id

log = get_logger("openmmo")


@dataclass
class Shared:
    """Adapters one process shares between its components."""

    settings: Settings
    clock: Clock
    storage: Storage
    directory: Directory
    bus: Bus
    sessions: SessionStore
    limiter: RateLimiter
    checkpoints: Checkpoints
    tokens: TokenService
    health: Health
    matchmaking: MatchQueue


def key_ring(settings: Settings) -> KeyRing:
    """Signing keys from JWT_SECRET, or in dev a generated key kept in DATA_DIR so that the
    processes of one machine agree on it."""
    retired = tuple(settings.previous_jwt_keys().items())
    if settings.jwt_secret is not None:
        return KeyRing(settings.jwt_key_id, settings.jwt_secret.get_secret_value(), retired)
    path = settings.data_dir / "dev-jwt-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(generate_dev_secret())
        log.warning("generated_dev_jwt_secret", path=str(path), hint="set JWT_SECRET in production")
    return KeyRing("dev", path.read_text().strip(), retired)


async def open_storage(settings: Settings, stack: AsyncExitStack) -> Storage:
    """The SQL storage; the embedded SQLite database is migrated on open, any other database
    must already be at this build's schema (``openmmo migrate``)."""
    url = settings.sqlalchemy_url()
    engine = create_engine(url, settings.database_pool_size)
    storage = SqlStorage(engine, settings.database_pool_size)
    stack.push_async_callback(storage.close)
    if url.startswith("sqlite"):
        await upgrade(engine)
    else:
        await check_schema(engine)
        await storage.warm_up()
    return storage


def open_redis(settings: Settings, stack: AsyncExitStack) -> Redis | None:
    if settings.redis_url is None:
        return None
    # A blocking pool: a burst of more calls than connections waits its turn (up to 2 s)
    # instead of failing. redis-py's default pool refuses the 101st concurrent call ("Too
    # many connections"): a drain handing 200 players over lost half of them to it.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url.get_secret_value(),
        max_connections=settings.redis_max_connections,
        timeout=2,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=10,
    )
    redis = Redis(connection_pool=pool)
    stack.push_async_callback(redis.aclose)
    return redis


async def open_bus(settings: Settings, stack: AsyncExitStack) -> Bus:
    if settings.rabbitmq_url is None:
        return MemoryBus(settings.region)
    bus = RabbitBus(settings.rabbitmq_url.get_secret_value(), settings.namespace, settings.region)
    bus.start()
    stack.push_async_callback(bus.close)
    return bus


async def open_shared(
    settings: Settings, stack: AsyncExitStack, clock: Clock = SYSTEM_CLOCK
) -> Shared:
    storage = await open_storage(settings, stack)
    redis = open_redis(settings, stack)
    ns = settings.namespace
    bus = await open_bus(settings, stack)
    tokens = TokenService(
        key_ring(settings),
        clock,
        issuer=settings.jwt_issuer,
        region=settings.region,
        access_ttl_s=settings.access_token_ttl_s,
        ticket_ttl_s=settings.join_ticket_ttl_s,
    )
    health = Health()
    health.add_check("database", storage.ping)
    if settings.rabbitmq_url is not None:
        health.add_check("rabbitmq", bus.ping)
    if redis is not None:

        async def redis_ping() -> None:
            await redis.ping()

        health.add_check("redis", redis_ping)
        return Shared(
            settings,
            clock,
            storage,
            RedisDirectory(redis, ns),
            bus,
            RedisSessionStore(redis, ns, settings.refresh_token_ttl_s),
            RedisRateLimiter(redis, ns),
            RedisCheckpoints(redis, ns),
            tokens,
            health,
            RedisMatchQueue(redis, ns),
        )
    return Shared(
        settings,
        clock,
        storage,
        MemoryDirectory(clock),
        bus,
        MemorySessionStore(),
        MemoryRateLimiter(clock),
        MemoryCheckpoints(),
        tokens,
        health,
        MemoryMatchQueue(clock),
    )


def build_gateway_service(shared: Shared) -> GatewayService:
    settings = shared.settings
    game = game_of(settings)
    return GatewayService(
        storage=shared.storage,
        sessions=shared.sessions,
        limiter=shared.limiter,
        directory=shared.directory,
        tokens=shared.tokens,
        passwords=PasswordHashing(),
        zones=world_zones(settings, game),
        schema=CharacterSchema(game.fields, game.classes),
        clock=shared.clock,
        refresh_ttl_s=settings.refresh_token_ttl_s,
        hash_concurrency=settings.argon2_max_concurrency,
        fallback_limiter=MemoryRateLimiter(shared.clock),
        limits=GatewayLimits(
            auth_per_ip_per_s=settings.auth_rate_per_ip,
            auth_per_ip_burst=settings.auth_burst_per_ip,
        ),
        matchmaking=shared.matchmaking,
        match_modes=DEFAULT_MODES,
        regions=Regions(settings.region, settings.regions, settings.region_down_after_s),
    )


def build_matchmaker(shared: Shared) -> Matchmaker:
    return Matchmaker(shared.matchmaking, shared.directory, shared.clock, DEFAULT_MODES)


def build_console(shared: Shared) -> ConsoleService:
    """The web console's actions on the shared services (also what ``openmmo admin`` runs)."""
    return ConsoleService(
        storage=shared.storage,
        directory=shared.directory,
        bus=shared.bus,
        sessions=shared.sessions,
        clock=shared.clock,
    )


def gateway_http(shared: Shared, service: GatewayService, ports: list[int]) -> HttpServer:
    app = create_app(service, shared.health, build_console(shared))
    settings = shared.settings
    return HttpServer(
        app,
        [bind(settings.bind_host, p, settings.gateway_workers > 1) for p in dict.fromkeys(ports)],
        settings.forwarded_allow_ips,
        http_limits(settings),
    )


def http_limits(settings: Settings) -> HttpLimits:
    return HttpLimits(
        max_header_bytes=settings.http_max_header_bytes,
        header_timeout_s=settings.http_header_timeout_s,
        keep_alive_s=settings.http_keep_alive_s,
    )


def game_of(settings: Settings) -> Game:
    """The game ``OPENMMO_GAME`` names, loaded and checked (one clear error otherwise)."""
    try:
        return load_game(settings.game)
    except GameError as exc:
        raise ConfigError(str(exc)) from None


def world_zones(settings: Settings, game: Game | None = None) -> dict[int, ZoneSpec]:
    """The zones of the world, with the settings' overrides applied."""
    zones = (game or game_of(settings)).zones
    if settings.spawn_radius is None:
        return dict(zones)
    return {
        zone_id: dataclasses.replace(spec, spawn_radius=settings.spawn_radius)
        for zone_id, spec in zones.items()
    }


def zone_spec(zone_id: int, settings: Settings, game: Game | None = None) -> ZoneSpec:
    zones = world_zones(settings, game)
    try:
        return zones[zone_id]
    except KeyError:
        known = ", ".join(f"{z.zone_id} ({z.name})" for z in zones.values())
        raise ConfigError(f"WORLD_ZONE_ID: there is no zone {zone_id} (known: {known})") from None


def build_zone_server(
    shared: Shared,
    spec: ZoneSpec,
    port: int,
    ws_url: str | None = None,
    server_id: str | None = None,
    game: Game | None = None,
) -> ZoneServer:
    """A zone server listening on ``port`` (0 picks a free port, reported once bound)."""
    settings = shared.settings
    if port == 0:
        port = _free_port(settings.bind_host)
    world = World(spec, game or game_of(settings), seed=spec.zone_id)
    world.spec = spec  # with the settings' overrides
    start(world, shared.clock.monotonic())
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "::") else settings.bind_host
    config = ZoneConfig(
        server_id=server_id or settings.server_name or default_server_id(spec.name, port),
        ws_url=ws_url or settings.public_ws_url or f"ws://{host}:{port}/ws",
        region=settings.region,
        max_players=settings.max_players,
        tick_interval_s=settings.tick_interval_s,
        snapshot_interval_s=settings.snapshot_interval_s,
        send_budget_s=settings.tick_send_budget_s,
        delta=DeltaConfig(
            budget_bytes_s=settings.snapshot_budget_bytes_s,
            far_refresh_hz=settings.far_refresh_hz,
            hysteresis=settings.interest_hysteresis,
        ),
        max_concurrent_joins=settings.max_concurrent_joins,
        limits=Limits(
            max_message_bytes=settings.max_message_bytes,
            join_timeout_s=settings.join_timeout_s,
            max_connections_per_address=settings.max_connections_per_address,
            max_connections_per_account=settings.max_connections_per_account,
        ),
        connection_limit_exempt=frozenset(
            a.strip() for a in settings.connection_limit_exempt.split(",") if a.strip()
        ),
        accept_zone_tickets=settings.accept_zone_tickets,
        compiled_inputs=settings.compiled_path,
        hooks=HookLimits(
            budget_s=settings.game_hook_budget_ms / 1000,
            max_overruns=settings.game_hook_max_overruns,
            window_ticks=settings.game_hook_window_ticks,
        ),
    )
    checkpointer = Checkpointer(shared.storage, spec.name, config.server_id, shared.checkpoints)
    runtime = ZoneRuntime(
        world,
        config,
        tokens=shared.tokens,
        storage=shared.storage,
        bus=shared.bus,
        clock=shared.clock,
        checkpointer=checkpointer,
        directory=shared.directory,
    )
    return ZoneServer(
        runtime,
        directory=shared.directory,
        bus=shared.bus,
        storage=shared.storage,
        health=shared.health,
        clock=shared.clock,
        host=settings.bind_host,
        port=port,
        save_interval_s=settings.save_interval_s,
        checkpoint_interval_s=settings.checkpoint_interval_s,
        ownership_lease_s=settings.ownership_lease_s,
    )


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host if host not in ("0.0.0.0", "") else "127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def data_dir_note(settings: Settings) -> str:
    url = settings.sqlalchemy_url()
    if url.startswith("sqlite"):
        return str(Path(url.split("///", 1)[-1]).resolve())
    return url.split("@")[-1]
