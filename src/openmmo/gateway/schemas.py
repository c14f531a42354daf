"""Request and response bodies of the HTTP API (also the source of the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Credentials(_Body):
    username: str = Field(examples=["player_1"], max_length=64)
    password: str = Field(examples=["correct horse battery"], max_length=256)


class DeviceLogin(_Body):
    device_id: str = Field(examples=["bot-7f3a9c21"], max_length=256)


class RefreshRequest(_Body):
    refresh_token: str = Field(max_length=256)


class TokenPair(_Body):
    token: str = Field(description="Access token (JWT, `Authorization: Bearer`).")
    refresh_token: str = Field(description="Opaque, single-use; exchange at /auth/refresh.")
    expires_in: int = Field(description="Seconds until the access token expires.")
    token_type: str = "Bearer"
    account_id: int
    username: str


class CharacterCreate(_Body):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    name: str = Field(examples=["Aria"], max_length=64)
    character_class: str | None = Field(
        None,
        alias="class",
        max_length=32,
        description="One of the game's classes (`welcome.game.classes`); default: the first.",
    )


class CharacterOut(_Body):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    character_id: int
    name: str
    zone_id: int
    x: float
    y: float
    hp: int = Field(description="0 means full health.")
    level: int
    xp: int
    character_class: str = Field(alias="class", description="The character's class.")
    stats: dict[str, Any] = Field(
        description="The game's declared fields its owner may see (protocol.md, game fields)."
    )


class CharacterList(_Body):
    characters: list[CharacterOut]


class ChannelOut(_Body):
    channel_id: str
    ws_url: str
    players: int
    max_players: int
    ready: bool
    draining: bool


class ZoneOut(_Body):
    zone_id: int
    name: str
    pvp: bool
    channels: list[ChannelOut]


class ZoneList(_Body):
    zones: list[ZoneOut]


class RegionOut(_Body):
    name: str
    gateway_url: str
    ping_url: str
    up: bool
    this: bool = Field(description="The region of the gateway that answered.")
    seconds_since_seen: float | None = Field(description="Since its ping last answered.")
    probe_ms: float | None = Field(description="Round trip of that answer from this gateway.")
    error: str | None = Field(description="Why its last probe failed.")


class RegionList(_Body):
    region: str = Field(description="The region of the gateway that answered.")
    recommended: str | None = Field(description="Where to play; null when no region is up.")
    reason: str | None = Field(description="hint, network, own or order (see the docs).")
    unavailable: list[str] = Field(description="Preferred regions passed over: they are down.")
    regions: list[RegionOut]


class PingOut(_Body):
    region: str
    time_ms: int = Field(description="The gateway's clock, Unix milliseconds.")


_AVOID = Field(
    None,
    max_length=128,
    description="A channel the client just lost (its connection dropped or was refused): "
    "another channel of the zone is chosen if one can take the player.",
)


class JoinRequest(_Body):
    character_id: int | None = Field(
        None, description="Character to play; default: the account's first character."
    )
    avoid_channel: str | None = _AVOID


class RejoinRequest(_Body):
    avoid_channel: str | None = _AVOID


class JoinGrant(_Body):
    zone_id: int
    channel_id: str
    ws_url: str
    ticket: str = Field(
        description="One-time join ticket: connect with `?token=` or `Authorization: Bearer`."
    )
    expires_in: int
    character_id: int


class MatchRequest(_Body):
    mode: str = Field(examples=["dungeon"], max_length=32, description="A matchmaking mode.")
    character_id: int | None = Field(
        None, description="Character to queue with; default: the account's first character."
    )


class MatchTicketOut(_Body):
    ticket_id: str
    mode: str
    status: str = Field(description="`queued`, `matched`, `cancelled` or `expired`.")
    waited_s: float = Field(description="Seconds since the ticket was queued.")
    match_id: str | None = Field(None, description="When matched: the group's id.")
    grant: JoinGrant | None = Field(
        None,
        description="When matched: the channel the whole group plays on, with a fresh join "
        "ticket for you (poll again for a new one if it expires).",
    )


class ErrorOut(_Body):
    code: str = Field(description="Stable machine-readable error code.")
    message: str


# --- the admin API (the web console) ----------------------------------------------------------
class ServerSample(_Body):
    at: float = Field(description="Unix seconds.")
    players: int
    tick_p95_ms: float
    ack_p95_ms: float
    msgs_in_per_s: float
    msgs_out_per_s: float
    bytes_in_per_s: float
    bytes_out_per_s: float


class ServerOut(_Body):
    channel_id: str
    zone_id: int
    zone_name: str
    ws_url: str
    spectate_url: str = Field(description="The server's spectator socket (admins only).")
    players: int
    max_players: int
    ready: bool
    draining: bool
    heartbeat_age_s: float
    stats: dict[str, float] = Field(
        description="Its live figures over the last 5 s: tick_p95_ms, ack_p95_ms, "
        "msgs_in_per_s, msgs_out_per_s, bytes_in_per_s, bytes_out_per_s."
    )
    history: list[ServerSample] = Field(
        description="Samples every 2 s over the last 5 minutes the gateway has been watching."
    )


class ClusterOut(_Body):
    servers: list[ServerOut]
    at: float


class KickRequest(_Body):
    character: str = Field(max_length=16, description="The character's name.")
    reason: str = Field("", max_length=200)


class BanRequest(_Body):
    username: str = Field(max_length=64)
    reason: str = Field("", max_length=200)
    unban: bool = False


class AnnounceRequest(_Body):
    message: str = Field(min_length=1, max_length=256)


class DrainRequest(_Body):
    drain: bool = Field(True, description="false: take players again.")


class AdminResult(_Body):
    result: str


class AuditEntryOut(_Body):
    at: float
    kind: str
    account_id: int | None
    detail: str


class AuditOut(_Body):
    entries: list[AuditEntryOut]
