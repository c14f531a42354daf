"""Configuration: environment variables (the seed's names) and an optional YAML file.

Precedence, highest first: explicit overrides from the CLI, environment variables, the YAML file
given with ``--config``, the defaults below. Every field is documented here and in
``docs/reference/config.md``; the environment variable is the field name in upper case.

Invalid configuration fails at start with :class:`ConfigError`, whose message names the setting.
Secrets (``JWT_SECRET``, ``DB_PASSWORD``, passwords inside URLs) are ``SecretStr`` so they never
appear in logs or reprs.
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import yaml
from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from openmmo.regions import RegionEndpoint, Regions
from openmmo.scaling.models import PriceSheet, ZoneTarget

MIN_JWT_SECRET_BYTES = 32


class ConfigError(Exception):
    """The configuration cannot be used; the message names the setting and why."""


class Environment(StrEnum):
    DEV = "dev"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """All settings of every role. A role reads the ones it needs."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    # --- identity -------------------------------------------------------------------------
    environment: Environment = Field(
        Environment.DEV,
        validation_alias=AliasChoices("OPENMMO_ENV", "environment"),
        description="`dev` allows generated development secrets; `production` requires them set.",
    )
    server_name: str = Field("", description="Name of this server in logs and the directory.")

    # --- network --------------------------------------------------------------------------
    bind_host: str = Field("0.0.0.0", description="Address every listener binds to.")
    server_port: int = Field(8080, ge=0, le=65535, description="Main port (HTTP API or game).")
    health_port: int = Field(8081, ge=0, le=65535, description="Port of /health/* and /version.")
    metrics_port: int = Field(9090, ge=0, le=65535, description="Port of /metrics.")
    public_ws_url: str = Field(
        "",
        description="WebSocket URL clients use to reach this zone server "
        "(default: ws://<bind_host>:<server_port>/ws).",
    )
    gateway_public_url: str = Field("", description="URL clients use to reach the gateway.")
    accept_zone_tickets: bool = Field(
        False,
        description="Zone servers honour join and transfer tickets issued for any channel of "
        "their zone, not only their own: set it when a zone's channels share one "
        "PUBLIC_WS_URL behind a load balancer, which then picks the channel. Single use and "
        "one owner per character still hold.",
    )
    forwarded_allow_ips: str = Field(
        "",
        description="Proxies whose X-Forwarded-For is trusted for the client address (comma "
        "separated addresses or networks, or *). Empty (the default): the header is ignored "
        "and the peer address is the client's. Set it to your load balancer's addresses so "
        "per-address rate limits see players, not the proxy; trust nothing else, or any "
        "client can pick its own address.",
    )
    gateway_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Gateway processes serving the same ports (SO_REUSEPORT), one core each; "
        "more than 1 needs REDIS_URL. Metrics are added up across them "
        "(PROMETHEUS_MULTIPROC_DIR). Only `openmmo gateway`; `openmmo up` is one process.",
    )
    http_max_header_bytes: int = Field(
        16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Request line plus headers one HTTP request may send (431 beyond).",
    )
    http_header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Time a client has, from connecting or from the first byte of a "
        "keep-alive request, to finish sending the headers (408 beyond).",
    )
    http_keep_alive_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="How long an idle HTTP connection stays open. Behind a load balancer "
        "make it longer than the balancer's idle timeout.",
    )

    # --- the game -------------------------------------------------------------------------
    game: str = Field(
        "default",
        min_length=1,
        validation_alias=AliasChoices("OPENMMO_GAME", "game"),
        description="The game to run: an entry point of the `openmmo.games` group or an "
        "importable module whose `game` is an `openmmo.game.Game` (docs/reference/game-api.md).",
    )
    game_hook_budget_ms: float = Field(
        10.0,
        gt=0,
        le=1000,
        description="Time one game hook may take in one tick (all its calls together).",
    )
    game_hook_max_overruns: int = Field(
        5,
        ge=1,
        description="Overruns of the budget, within GAME_HOOK_WINDOW_TICKS, that disable a "
        "hook in a zone (with an announcement and a log line).",
    )
    game_hook_window_ticks: int = Field(
        200, ge=1, description="Ticks over which GAME_HOOK_MAX_OVERRUNS are counted."
    )

    # --- world ----------------------------------------------------------------------------
    world_zone_id: int = Field(1, ge=1, description="Zone hosted by a zone server.")
    max_players: int = Field(1000, ge=1, le=100_000, description="Players per zone channel.")
    spawn_radius: float | None = Field(
        None,
        ge=0,
        description="Radius of the spawn area of every zone (default: each zone's "
        "own; 0 puts every new character on the spawn point).",
    )
    tick_rate_hz: float = Field(20.0, gt=0, le=120, description="Simulation steps per second.")
    snapshot_rate_hz: float = Field(
        10.0, gt=0, le=120, description="Minimum snapshots per second to each client."
    )
    max_message_bytes: int = Field(
        4096, ge=256, le=1_048_576, description="Largest client message accepted (bytes)."
    )
    snapshot_budget_bytes_s: int = Field(
        16384,
        ge=0,
        description="Protocol v2: snapshot bytes per second a client is sent for its view "
        "(0: no cap). In a crowd the nearest and longest-waiting changes go first; events "
        "and keyframes are not held back.",
    )
    far_refresh_hz: float = Field(
        5.0,
        gt=0,
        le=120,
        description="Protocol v2: how often entities farther than a cell from a client's "
        "cell are refreshed (near ones: every tick they change).",
    )
    compiled_path: bool = Field(
        True,
        description="Read moves with the compiled reader (openmmo.zone._fastpath) where it "
        "was built; false: every message takes the pure-Python path (the same behaviour, "
        "~8x the CPU on the path a move takes). The zone logs which one runs at start.",
    )
    interest_hysteresis: float = Field(
        8.0,
        ge=0,
        description="Protocol v2: how far (world units) beyond the 3x3 cells an entity "
        "already in view may go before it leaves the view.",
    )
    max_connections_per_address: int = Field(
        256,
        ge=0,
        description="Game connections one client address may hold on one zone server (0: no "
        "limit; close 4028 beyond). Behind a NAT or a load balancer that hides the players' "
        "addresses, raise it or list that address in CONNECTION_LIMIT_EXEMPT.",
    )
    max_connections_per_account: int = Field(
        8,
        ge=0,
        description="Game connections one account may hold on one zone server (0: no "
        "limit; close 4028 beyond).",
    )
    connection_limit_exempt: str = Field(
        "127.0.0.1,::1",
        description="Client addresses MAX_CONNECTIONS_PER_ADDRESS does not apply to (comma "
        "separated): the host itself by default, so local load tests are not capped.",
    )
    join_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Time an authenticated game connection may stay without a character "
        "in the world (close 4010 beyond).",
    )
    save_interval_s: float = Field(
        30.0, gt=0, description="Seconds between durable saves of online characters."
    )
    ownership_lease_s: float = Field(
        2.0,
        ge=1.0,
        le=600,
        description="A zone server that misses its heartbeats (every 0.5 s) for this long is "
        "dead: it leaves the directory and any other channel may take its characters over.",
    )
    checkpoint_interval_s: float = Field(
        1.0, gt=0, description="Seconds between hot checkpoints of online characters (Redis)."
    )
    drain_timeout_s: float = Field(
        20.0, ge=0, description="Seconds a draining server waits for players to leave."
    )
    tick_send_budget_s: float = Field(
        0.004,
        gt=0,
        description="Longest time one tick's send loop holds the event loop before yielding.",
    )
    max_concurrent_joins: int = Field(
        8,
        ge=1,
        le=1000,
        description="Joins a zone server loads from storage at once; more wait their turn, "
        "so a burst of joins cannot stall the players already in the world.",
    )

    # --- storage --------------------------------------------------------------------------
    data_dir: Path = Field(Path("var"), description="Directory of the embedded database.")
    database_url: SecretStr | None = Field(
        None, description="SQLAlchemy URL; default: SQLite in DATA_DIR, or built from DB_*."
    )
    db_host: str = Field("", description="PostgreSQL host (used when DATABASE_URL is unset).")
    db_port: int = Field(5432, ge=1, le=65535, description="PostgreSQL port.")
    db_name: str = Field("openmmo", description="PostgreSQL database name.")
    db_user: str = Field("openmmo", description="PostgreSQL user.")
    db_password: SecretStr = Field(SecretStr(""), description="PostgreSQL password.")
    database_pool_size: int = Field(
        10,
        ge=1,
        le=1000,
        description="PostgreSQL connections one process keeps in each of its two pools (the "
        "SQLAlchemy pool, which opens as many again under a burst, and asyncpg's for the hot "
        "reads): up to 3x this many per process, per gateway worker.",
    )
    redis_url: SecretStr | None = Field(None, description="Redis URL (production backends).")
    redis_max_connections: int = Field(
        64,
        ge=1,
        le=10_000,
        description="Redis connections one process opens at most; more concurrent calls wait "
        "for one (up to 2 s) instead of failing.",
    )
    rabbitmq_url: SecretStr | None = Field(None, description="RabbitMQ URL (production backends).")
    namespace: str = Field(
        "openmmo",
        pattern=r"^[A-Za-z0-9_.-]{1,32}$",
        description="Prefix of Redis keys and RabbitMQ exchanges: worlds sharing servers differ.",
    )

    # --- auth -----------------------------------------------------------------------------
    jwt_secret: SecretStr | None = Field(
        None, description=f"HMAC key for tokens, at least {MIN_JWT_SECRET_BYTES} bytes."
    )
    jwt_key_id: str = Field("k1", min_length=1, description="Key id (`kid`) of JWT_SECRET.")
    jwt_previous_secrets: SecretStr | None = Field(
        None,
        description="Retired keys still accepted, as `kid=secret` pairs separated by commas.",
    )
    jwt_issuer: str = Field("openmmo", description="`iss` of issued tokens.")
    access_token_ttl_s: int = Field(900, ge=30, description="Lifetime of access tokens.")
    refresh_token_ttl_s: int = Field(30 * 86400, ge=60, description="Lifetime of refresh tokens.")
    join_ticket_ttl_s: int = Field(30, ge=5, le=600, description="Lifetime of join tickets.")
    auth_rate_per_ip: float = Field(
        20.0,
        gt=0,
        description="Authentication calls per second per client address (a "
        "load test from one address needs more).",
    )
    auth_burst_per_ip: int = Field(
        100, ge=1, description="Authentication calls one client address may make at once."
    )
    argon2_max_concurrency: int = Field(
        4, ge=1, description="Password hashes computed at once (each takes ~19 MiB)."
    )

    # --- where this process runs (cost, regions) ------------------------------------------
    region: str = Field(
        "local",
        min_length=1,
        description="Region this process runs in: the `region` label of openmmo_node_info, "
        "a key of COST_PRICES' regions.",
    )
    node_capacity_type: Literal["on-demand", "spot"] = Field(
        "on-demand",
        description="Capacity type of the node this process runs on (Karpenter's "
        "`karpenter.sh/capacity-type`): which price of COST_PRICES it costs.",
    )

    regions: list[RegionEndpoint] = Field(
        default_factory=list,
        description="Every region of the world, this one included, as JSON: a list of "
        '`{"name": "eu-west", "gateway_url": "https://eu.play.example", "ping_url": "", '
        '"networks": ["10.1.0.0/16"]}` (ping_url defaults to <gateway_url>/api/ping; networks: '
        "client addresses this region serves first). The gateway probes the others and "
        "answers `GET /api/regions`. Empty: one region, this one.",
    )
    region_probe_interval_s: float = Field(
        5.0, gt=0, le=300, description="Seconds between probes of the other regions' ping."
    )
    region_down_after_s: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="A region whose ping has not answered for this long is down.",
    )

    # --- operator tools: predict-scale, cost-report ---------------------------------------
    prometheus_url: str = Field(
        "", description="Prometheus the tools read (`http://prometheus:9090`)."
    )
    prediction_zones: list[ZoneTarget] = Field(
        default_factory=list,
        description="Zones `openmmo predict-scale` plans for, as JSON: a list of "
        '`{"zone": "town", "hpa": "openmmo-zone-town", "min_replicas": 1, "max_replicas": 10, '
        '"players_per_channel": 700}` (the `zone` label of openmmo_players_online, the zone '
        "HPA and its bounds, what a channel holds). Empty: every zone in Prometheus with the "
        "defaults.",
    )
    prediction_selector: str = Field(
        "",
        description='Label matchers added to the players query, e.g. `namespace="games"` '
        "(one release's zones when Prometheus scrapes several).",
    )
    prediction_horizon_minutes: float = Field(
        30, gt=0, le=1440, description="How far ahead `openmmo predict-scale` forecasts."
    )
    prediction_headroom: float = Field(
        0.2,
        ge=0,
        le=5,
        description="Capacity kept above the forecast peak (0.2: channels for 120 % of it).",
    )
    prediction_history_days: float = Field(
        15, ge=2, le=90, description="Days of history the forecast is fitted on."
    )
    prediction_step_s: int = Field(
        300, ge=15, le=3600, description="Resolution of the history and forecast, seconds."
    )
    prediction_model: Literal["holt_winters", "mstl", "seasonal_naive"] = Field(
        "holt_winters",
        description="Forecasting model (docs/howto/predictive-scaling.md compares them).",
    )
    cost_prices: PriceSheet | None = Field(
        None,
        description='Prices, as JSON: `{"currency": "USD", "regions": {"eu-west": '
        '{"on_demand_node_hour": 0.17, "spot_node_hour": 0.06, "egress_gb": 0.09}}, '
        '"target_per_player_hour": 0.02}` (`openmmo cost-report`; the chart renders the '
        "same sheet into the cost recording rules).",
    )

    # --- logs -----------------------------------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Lowest level logged."
    )
    log_format: Literal["json", "console"] = Field(
        "json",
        description="`json`: one JSON object per line, for log collectors; the default of "
        "`openmmo gateway`, `zone`, `matchmaker`, `migrate` and `admin` (the fields: "
        "[logs how-to](../howto/logs.md)). `console`: readable lines; the default of "
        "`openmmo up` (LOG_FORMAT or the config file's `log_format` win over it).",
    )

    @model_validator(mode="before")
    @classmethod
    def _lower_case_enums(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("log_level"), str):
            data = {**data, "log_level": data["log_level"].lower()}
        return data

    @model_validator(mode="after")
    def _check_secrets(self) -> Settings:
        if self.jwt_secret is not None:
            _check_secret_length("JWT_SECRET", self.jwt_secret.get_secret_value())
        for kid, secret in self.previous_jwt_keys().items():
            _check_secret_length(f"JWT_PREVIOUS_SECRETS ({kid})", secret)
        return self

    @model_validator(mode="after")
    def _check_regions(self) -> Settings:
        Regions(self.region, self.regions, self.region_down_after_s)  # raises if inconsistent
        if self.region_down_after_s < self.region_probe_interval_s:
            raise ValueError("REGION_DOWN_AFTER_S is shorter than REGION_PROBE_INTERVAL_S")
        return self

    def require_signing_key(self) -> None:
        """Roles that sign or verify tokens call this: production needs a real key (the
        migration job does not, and should not be handed one)."""
        if self.environment is Environment.PRODUCTION and self.jwt_secret is None:
            raise ConfigError(
                "invalid configuration: JWT_SECRET: must be set when OPENMMO_ENV=production"
            )

    # --- derived values -------------------------------------------------------------------
    def sqlalchemy_url(self) -> str:
        """The database URL: DATABASE_URL, else PostgreSQL from DB_*, else SQLite in DATA_DIR."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        if self.db_host:
            password = quote(self.db_password.get_secret_value(), safe="")
            user = quote(self.db_user, safe="")
            return (
                f"postgresql+asyncpg://{user}:{password}@{self.db_host}:{self.db_port}/"
                f"{self.db_name}"
            )
        return f"sqlite+aiosqlite:///{self.data_dir / 'openmmo.sqlite3'}"

    def previous_jwt_keys(self) -> dict[str, str]:
        """Retired signing keys that still verify, by key id."""
        if self.jwt_previous_secrets is None:
            return {}
        keys: dict[str, str] = {}
        for pair in self.jwt_previous_secrets.get_secret_value().split(","):
            kid, sep, secret = pair.strip().partition("=")
            if not sep or not kid or not secret:
                raise ValueError("JWT_PREVIOUS_SECRETS must look like kid=secret,kid2=secret2")
            keys[kid] = secret
        return keys

    @property
    def tick_interval_s(self) -> float:
        return 1.0 / self.tick_rate_hz

    @property
    def snapshot_interval_s(self) -> float:
        return 1.0 / self.snapshot_rate_hz

    def ws_url(self) -> str:
        if self.public_ws_url:
            return self.public_ws_url
        host = "127.0.0.1" if self.bind_host in ("0.0.0.0", "::", "") else self.bind_host
        return f"ws://{host}:{self.server_port}/ws"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        yaml_file = _YAML_FILE.get("path")
        if yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)


def _check_secret_length(name: str, secret: str) -> None:
    if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise ValueError(f"{name} must be at least {MIN_JWT_SECRET_BYTES} bytes long")


# The YAML path is handed to ``settings_customise_sources`` through this slot because
# pydantic-settings builds sources from the class, not from constructor arguments.
_YAML_FILE: dict[str, Path] = {}


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from overrides, the environment and ``config_file``.

    Raises :class:`ConfigError` with one line per invalid setting, naming it.
    """
    if config_file is not None:
        _check_yaml_file(config_file)
        _YAML_FILE["path"] = config_file
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    finally:
        _YAML_FILE.pop("path", None)


def _check_yaml_file(path: Path) -> None:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of setting: value")


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"] if part != ""]
        name = location[0].upper() if location else "configuration"
        if len(location) > 1:  # inside a structured setting: COST_PRICES.regions.eu.egress_gb
            name += "." + ".".join(location[1:])
        shown = error.get("input")
        got = "" if isinstance(shown, dict) or name.endswith("SECRET") else f" (got {shown!r})"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{name}: {message}{got}")
    return "invalid configuration: " + "; ".join(lines)


def generate_dev_secret() -> str:
    """A random signing key for development runs that did not set JWT_SECRET."""
    return secrets.token_urlsafe(48)


def environment_names() -> dict[str, str]:
    """Environment variable → settings field, for every setting (``OPENMMO_GAME`` → game)."""
    names = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        first = alias.choices[0] if isinstance(alias, AliasChoices) else name
        names[(first if isinstance(first, str) else name).upper()] = name
    return names


def reference_markdown() -> str:
    """The settings table of docs/reference/config.md (regenerate with ``make docs``)."""
    lines = [
        "| Environment variable | Default | Meaning |",
        "|---|---|---|",
    ]
    envs = {field: env for env, field in environment_names().items()}
    for name, field in Settings.model_fields.items():
        env = envs[name]
        default = field.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            default = "(empty)" if not default.get_secret_value() else "(set)"
        elif isinstance(default, StrEnum):
            default = default.value
        shown = "—" if default in (None, "", []) else f"`{default}`"
        lines.append(f"| `{env}` | {shown} | {field.description or ''} |")
    return "\n".join(lines) + "\n"
