"""HTTP routes: each maps one request onto one :class:`GatewayService` call.

Routes are declared with :func:`operation`, which also records what the OpenAPI document
says about them, so the document cannot drift from the code.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openmmo.gateway.console import ConsoleService
from openmmo.gateway.errors import ApiError, unavailable
from openmmo.gateway.schemas import (
    AdminResult,
    AnnounceRequest,
    AuditOut,
    BanRequest,
    CharacterCreate,
    CharacterList,
    CharacterOut,
    ClusterOut,
    Credentials,
    DeviceLogin,
    DrainRequest,
    JoinGrant,
    JoinRequest,
    KickRequest,
    MatchRequest,
    MatchTicketOut,
    PingOut,
    RefreshRequest,
    RegionList,
    RegionOut,
    RejoinRequest,
    TokenPair,
    ZoneList,
)
from openmmo.gateway.service import GatewayService
from openmmo.storage import Account

Handler = Callable[..., Awaitable[BaseModel | None]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    handler: Handler
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    errors: dict[int, str] = field(default_factory=dict)
    tag: str = "game"
    form_ok: bool = False  # also accept application/x-www-form-urlencoded (k6's default)


OPERATIONS: list[Operation] = []


def operation(method: str, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        OPERATIONS.append(Operation(method, path, summary, handler, **options))
        return handler

    return register


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- auth ------------------------------------------------------------------------------------
@operation(
    "POST",
    "/auth/register",
    "Create an account and log in.",
    body=Credentials,
    response=TokenPair,
    status=201,
    auth=False,
    tag="auth",
    form_ok=True,
    errors={409: "username_taken", 422: "invalid_credentials_format", 429: "rate_limited"},
)
async def register(request: Request, service: GatewayService, body: Credentials) -> TokenPair:
    return await service.register(body.username, body.password, _client_ip(request))


@operation(
    "POST",
    "/auth/login",
    "Log in with username and password.",
    body=Credentials,
    response=TokenPair,
    auth=False,
    tag="auth",
    form_ok=True,
    errors={401: "invalid_credentials", 403: "account_banned", 429: "rate_limited"},
)
async def login(request: Request, service: GatewayService, body: Credentials) -> TokenPair:
    return await service.login(body.username, body.password, _client_ip(request))


@operation(
    "POST",
    "/auth/device",
    "Guest login by device id (creates account and character).",
    body=DeviceLogin,
    response=TokenPair,
    auth=False,
    tag="auth",
    form_ok=True,
    errors={422: "invalid_device_id", 429: "rate_limited"},
)
async def device(request: Request, service: GatewayService, body: DeviceLogin) -> TokenPair:
    return await service.device_login(body.device_id, _client_ip(request))


@operation(
    "POST",
    "/auth/refresh",
    "Exchange a refresh token for a new token pair.",
    body=RefreshRequest,
    response=TokenPair,
    auth=False,
    tag="auth",
    errors={401: "invalid_refresh_token or refresh_token_reused"},
)
async def refresh(request: Request, service: GatewayService, body: RefreshRequest) -> TokenPair:
    return await service.refresh(body.refresh_token)


@operation(
    "POST",
    "/auth/logout",
    "Revoke a refresh token and every token rotated from it.",
    body=RefreshRequest,
    status=204,
    auth=False,
    tag="auth",
)
async def logout(request: Request, service: GatewayService, body: RefreshRequest) -> None:
    await service.logout(body.refresh_token)


# --- characters ------------------------------------------------------------------------------
@operation("GET", "/api/characters", "List your characters.", response=CharacterList)
async def list_characters(request: Request, service: GatewayService, claims: Any) -> CharacterList:
    return CharacterList(characters=await service.list_characters(claims.account_id))


@operation(
    "POST",
    "/api/characters",
    "Create a character.",
    body=CharacterCreate,
    response=CharacterOut,
    status=201,
    errors={
        404: "account_not_found",
        409: "name_taken or character_limit",
        422: "invalid_name or invalid_class",
    },
)
async def create_character(
    request: Request, service: GatewayService, claims: Any, body: CharacterCreate
) -> CharacterOut:
    return await service.create_character(claims.account_id, body.name, body.character_class)


@operation(
    "GET",
    "/api/characters/{character_id:int}",
    "One of your characters.",
    response=CharacterOut,
    errors={404: "character_not_found"},
)
async def get_character(request: Request, service: GatewayService, claims: Any) -> CharacterOut:
    return await service.get_character(claims.account_id, request.path_params["character_id"])


# --- regions ---------------------------------------------------------------------------------
def _serving(request: Request) -> bool:
    health = request.app.state.health
    return bool(health.started and not health.draining)


@operation(
    "GET",
    "/api/ping",
    "This gateway's region, for latency probes and the other regions' health checks: 200 "
    "while it serves, 503 unavailable while it drains.",
    response=PingOut,
    auth=False,
    tag="regions",
)
async def ping(request: Request, service: GatewayService) -> PingOut:
    if not _serving(request):
        raise unavailable("this gateway is draining")
    return PingOut(region=service.regions.own, time_ms=int(time.time() * 1000))


@operation(
    "GET",
    "/api/regions",
    "The world's regions, which are up, and where this client should play (`?region=` a "
    "preferred one: the nearest it measured, or its home region).",
    response=RegionList,
    auth=False,
    tag="regions",
)
async def list_regions(request: Request, service: GatewayService) -> RegionList:
    regions, ready = service.regions, _serving(request)
    now = time.monotonic()
    hint = request.query_params.get("region") or None
    chosen, reason, down = regions.choose(hint, _client_ip(request), now, ready)
    listed = regions.listing(now, ready, str(request.base_url).rstrip("/"))
    return RegionList(
        region=regions.own,
        recommended=chosen,
        reason=reason,
        unavailable=down,
        regions=[RegionOut(**r) for r in listed],
    )


# --- zones -----------------------------------------------------------------------------------
@operation(
    "GET", "/api/zones", "The zone directory: every zone and its channels.", response=ZoneList
)
async def list_zones(request: Request, service: GatewayService, claims: Any) -> ZoneList:
    return ZoneList(zones=await service.list_zones())


@operation(
    "POST",
    "/api/zones/{zone_id:int}/join",
    "Allocate a channel of a zone and get a one-time join ticket.",
    body=JoinRequest,
    response=JoinGrant,
    errors={
        403: "account_banned",
        404: "zone_not_found or character_not_found",
        409: "no_character",
        503: "no_channel_available",
    },
)
async def join_zone(
    request: Request, service: GatewayService, claims: Any, body: JoinRequest
) -> JoinGrant:
    return await service.join(
        claims, request.path_params["zone_id"], body.character_id, body.avoid_channel
    )


@operation(
    "POST",
    "/api/characters/{character_id:int}/join",
    "Allocate a channel of the zone the character is in (where a client resumes).",
    body=RejoinRequest,
    response=JoinGrant,
    errors={403: "account_banned", 404: "character_not_found", 503: "no_channel_available"},
)
async def join_character(
    request: Request, service: GatewayService, claims: Any, body: RejoinRequest
) -> JoinGrant:
    return await service.join(claims, None, request.path_params["character_id"], body.avoid_channel)


# --- matchmaking -----------------------------------------------------------------------------
@operation(
    "POST",
    "/api/matchmaking/tickets",
    "Queue for a dungeon or an arena; poll the ticket until it is matched.",
    body=MatchRequest,
    response=MatchTicketOut,
    status=202,
    tag="matchmaking",
    errors={
        403: "account_banned",
        404: "unknown_mode or character_not_found",
        409: "already_queued or no_character",
        503: "unavailable or matchmaking_unavailable",
    },
)
async def queue_match(
    request: Request, service: GatewayService, claims: Any, body: MatchRequest
) -> MatchTicketOut:
    return await service.queue_match(claims, body.mode, body.character_id)


@operation(
    "GET",
    "/api/matchmaking/tickets/{ticket_id}",
    "A matchmaking ticket; once matched, with a join ticket for the group's channel.",
    response=MatchTicketOut,
    tag="matchmaking",
    errors={404: "match_ticket_not_found"},
)
async def match_status(request: Request, service: GatewayService, claims: Any) -> MatchTicketOut:
    return await service.match_status(claims, request.path_params["ticket_id"])


@operation(
    "DELETE",
    "/api/matchmaking/tickets/{ticket_id}",
    "Leave the queue.",
    status=204,
    tag="matchmaking",
    errors={404: "match_ticket_not_found", 409: "not_queued"},
)
async def cancel_match(request: Request, service: GatewayService, claims: Any) -> None:
    await service.cancel_match(claims, request.path_params["ticket_id"])


# --- admin (the web console) -----------------------------------------------------------------
_ADMIN_ERRORS = {401: "unauthorized", 403: "not_admin", 503: "unavailable"}


async def _admin(request: Request, claims: Any) -> tuple[ConsoleService, Account]:
    console: ConsoleService = request.app.state.console
    return console, await console.require_admin(claims)


@operation(
    "GET",
    "/admin/cluster",
    "Every zone server with its live figures and the last minutes of samples.",
    response=ClusterOut,
    tag="admin",
    errors=_ADMIN_ERRORS,
)
async def admin_cluster(request: Request, service: GatewayService, claims: Any) -> ClusterOut:
    console, _ = await _admin(request, claims)
    return await console.cluster()


@operation(
    "POST",
    "/admin/kick",
    "Disconnect a player (saved first); its client is told not to come back by itself.",
    body=KickRequest,
    response=AdminResult,
    tag="admin",
    errors={**_ADMIN_ERRORS, 404: "character_not_found"},
)
async def admin_kick(
    request: Request, service: GatewayService, claims: Any, body: KickRequest
) -> AdminResult:
    console, admin = await _admin(request, claims)
    return AdminResult(result=await console.kick(admin.username, body.character, body.reason))


@operation(
    "POST",
    "/admin/ban",
    "Ban (or unban) an account: refresh tokens revoked, its players kicked everywhere.",
    body=BanRequest,
    response=AdminResult,
    tag="admin",
    errors={**_ADMIN_ERRORS, 404: "account_not_found", 409: "cannot_ban_yourself"},
)
async def admin_ban(
    request: Request, service: GatewayService, claims: Any, body: BanRequest
) -> AdminResult:
    console, admin = await _admin(request, claims)
    return AdminResult(
        result=await console.ban(admin.username, body.username, body.reason, not body.unban)
    )


@operation(
    "POST",
    "/admin/announce",
    "Show a message to every player on every server.",
    body=AnnounceRequest,
    response=AdminResult,
    tag="admin",
    errors=_ADMIN_ERRORS,
)
async def admin_announce(
    request: Request, service: GatewayService, claims: Any, body: AnnounceRequest
) -> AdminResult:
    console, admin = await _admin(request, claims)
    return AdminResult(result=await console.announce(admin.username, body.message))


@operation(
    "POST",
    "/admin/channels/{channel_id}/drain",
    "Drain a channel: no new players, players moved to the zone's other channels (or "
    "told to reconnect); `drain: false` takes players again.",
    body=DrainRequest,
    response=AdminResult,
    tag="admin",
    errors={**_ADMIN_ERRORS, 404: "channel_not_found"},
)
async def admin_drain(
    request: Request, service: GatewayService, claims: Any, body: DrainRequest
) -> AdminResult:
    console, admin = await _admin(request, claims)
    channel_id = request.path_params["channel_id"]
    return AdminResult(result=await console.drain(admin.username, channel_id, body.drain))


@operation(
    "GET",
    "/admin/audit",
    "The newest 100 entries of the audit log (every admin action), newest first.",
    response=AuditOut,
    tag="admin",
    errors=_ADMIN_ERRORS,
)
async def admin_audit(request: Request, service: GatewayService, claims: Any) -> AuditOut:
    console, _ = await _admin(request, claims)
    return AuditOut(entries=await console.audit(100))


# --- plumbing --------------------------------------------------------------------------------
async def _parse_body(request: Request, model: type[BaseModel], form_ok: bool) -> BaseModel:
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    try:
        if form_ok and content_type.startswith("application/x-www-form-urlencoded"):
            return model.model_validate(dict(parse_qsl(raw.decode(), max_num_fields=16)))
        return model.model_validate_json(raw or b"{}")
    except (ValidationError, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(422, "invalid_request", _describe(exc)) from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"]) or "body"
            parts.append(f"{where}: {error['msg']}")
        return "; ".join(parts)
    return f"body is not valid: {exc}"


def _endpoint(op: Operation) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        service: GatewayService = request.app.state.service
        kwargs: dict[str, Any] = {}
        if op.auth:
            kwargs["claims"] = service.authenticate(request.headers.get("authorization"))
        if op.body is not None:
            kwargs["body"] = await _parse_body(request, op.body, op.form_ok)
        result = await op.handler(request, service, **kwargs)
        if result is None:
            return Response(status_code=op.status)
        return Response(
            result.model_dump_json(by_alias=True),
            status_code=op.status,
            media_type="application/json",
        )

    endpoint.__name__ = op.handler.__name__
    return endpoint


def api_routes() -> list[Route]:
    return [Route(op.path, _endpoint(op), methods=[op.method]) for op in OPERATIONS]
