"""The gateway's core functions, independent of HTTP: accounts, tokens, characters, allocation.

Every method takes plain values and returns schema objects or raises :class:`ApiError`;
storage and directory failures become ``503 unavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from openmmo.auth.names import (
    character_name_problem,
    device_id_problem,
    password_problem,
    username_problem,
)
from openmmo.auth.passwords import PasswordHashing
from openmmo.auth.tokens import AccessClaims, TokenError, TokenService
from openmmo.clock import Clock
from openmmo.directory import ChannelInfo, Directory, DirectoryUnavailable, choose_channel
from openmmo.gateway.errors import ApiError, rate_limited, unauthorized, unavailable
from openmmo.gateway.schemas import (
    ChannelOut,
    CharacterOut,
    JoinGrant,
    MatchTicketOut,
    TokenPair,
    ZoneOut,
)
from openmmo.logs import get_logger
from openmmo.matchmaking import (
    DEFAULT_MODES,
    AlreadyQueued,
    MatchmakingUnavailable,
    MatchMode,
    MatchQueue,
    QueueTicket,
    Status,
    TicketState,
)
from openmmo.metrics import (
    ALLOCATIONS,
    LOGINS,
    MATCHMAKING_TICKETS,
    initialise_gateway,
    initialise_matchmaking,
    watch_gc,
)
from openmmo.ratelimit import RateLimiter, RateLimiterUnavailable
from openmmo.regions import Regions
from openmmo.sessions import (
    ConsumeResult,
    RefreshRecord,
    SessionStore,
    SessionStoreUnavailable,
)
from openmmo.sim.declare import ZoneSpec
from openmmo.sim.schema import CharacterSchema
from openmmo.storage import (
    Account,
    AccountMissing,
    Character,
    Conflict,
    Storage,
    StorageUnavailable,
)
from openmmo.tracing import annotate, current_traceparent, traced

log = get_logger("openmmo.gateway")
T = TypeVar("T")

MAX_CHARACTERS_PER_ACCOUNT = 5
# A channel's heartbeat lags allocations by up to a second; allocations younger than this
# count as players on it, so a burst of joins spreads over the channels.
PENDING_WINDOW_S = 3.0
VERIFIED_CACHE_SIZE = 10_000
DIRECTORY_CACHE_S = 0.5
MATCH_RESULT_TTL_S = 120.0  # a finished matchmaking ticket can be read this long


@dataclass(frozen=True, slots=True)
class GatewayLimits:
    """Rate limits of the authentication endpoints.

    Password guesses are limited per (username, client address) — 10 at once, then one a
    minute — so that one attacker can neither guess fast nor lock the real player out, and
    per username over every address — 100 at once, then one every 10 s — which refills
    faster than one address may try (it never trips for a single attacker) and bounds what
    many addresses together can guess (about 8,700 a day)."""

    login_per_username_address_per_s: float = 1 / 60
    login_per_username_address_burst: int = 10
    login_per_username_per_s: float = 1 / 10
    login_per_username_burst: int = 100
    auth_per_ip_per_s: float = 20.0
    auth_per_ip_burst: int = 100


class GatewayService:
    def __init__(
        self,
        *,
        storage: Storage,
        sessions: SessionStore,
        limiter: RateLimiter,
        directory: Directory,
        tokens: TokenService,
        passwords: PasswordHashing,
        zones: dict[int, ZoneSpec],
        schema: CharacterSchema,
        clock: Clock,
        refresh_ttl_s: int,
        hash_concurrency: int = 4,
        limits: GatewayLimits | None = None,
        fallback_limiter: RateLimiter | None = None,
        matchmaking: MatchQueue | None = None,
        match_modes: dict[str, MatchMode] | None = None,
        regions: Regions | None = None,
    ):
        self.regions = regions or Regions("local", [], down_after_s=15)
        self.storage = storage
        self.sessions = sessions
        self.limiter = limiter
        self.directory = directory
        self.tokens = tokens
        self.passwords = passwords
        self.zones = zones
        self.schema = schema
        self.clock = clock
        self.refresh_ttl_s = refresh_ttl_s
        self.limits = limits or GatewayLimits()
        self._hashing = asyncio.Semaphore(hash_concurrency)
        # Hashing runs on threads of its own at a lower CPU priority: a burst of logins takes
        # the CPU the requests leave, instead of stalling every read behind it.
        self._hashers = ThreadPoolExecutor(
            hash_concurrency, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._recent_allocations: dict[str, deque[float]] = defaultdict(deque)
        self._fallback_limiter = fallback_limiter
        self._rng = random.Random()
        self._verified: dict[str, AccessClaims] = {}
        self._channels_cache: tuple[float, list[ChannelInfo]] | None = None
        self.matchmaking = matchmaking
        self.match_modes = DEFAULT_MODES if match_modes is None else match_modes
        initialise_gateway([spec.name for spec in zones.values()])
        watch_gc()
        initialise_matchmaking(list(self.match_modes))

    # --- accounts -------------------------------------------------------------------------
    @traced("auth.register")
    async def register(self, username: str, password: str, client_ip: str) -> TokenPair:
        await self._limit(
            f"auth-ip:{client_ip}", self.limits.auth_per_ip_per_s, self.limits.auth_per_ip_burst
        )
        problem = username_problem(username) or password_problem(password)
        if problem:
            raise ApiError(422, "invalid_credentials_format", problem)
        password_hash = await self._hash(password)
        try:
            account = await self.storage.create_account(username, password_hash)
        except Conflict:
            raise ApiError(409, "username_taken", f"username {username!r} is taken") from None
        except StorageUnavailable as exc:
            raise unavailable("account storage is unavailable") from exc
        log.info("account_registered", account_id=account.account_id)
        return await self._token_pair(account, family_id=None)

    @traced("auth.login")
    async def login(self, username: str, password: str, client_ip: str) -> TokenPair:
        await self._limit(
            f"auth-ip:{client_ip}", self.limits.auth_per_ip_per_s, self.limits.auth_per_ip_burst
        )
        name = username.lower()
        await self._limit(
            f"login:{name}:{client_ip}",
            self.limits.login_per_username_address_per_s,
            self.limits.login_per_username_address_burst,
        )
        await self._limit(
            f"login:{name}",
            self.limits.login_per_username_per_s,
            self.limits.login_per_username_burst,
        )
        account = await self._storage_call(self.storage.account_by_username(username))
        password_hash = account.password_hash if account else None
        ok = await self._verify(password_hash, password)
        if account is None or not ok:
            LOGINS.labels("password", "failed").inc()
            raise unauthorized("wrong username or password", code="invalid_credentials")
        if account.banned:
            LOGINS.labels("password", "banned").inc()
            raise ApiError(403, "account_banned", "this account is banned")
        if password_hash is not None and self.passwords.needs_rehash(password_hash):
            await self._storage_call(
                self.storage.update_password_hash(account.account_id, await self._hash(password))
            )
        LOGINS.labels("password", "ok").inc()
        return await self._token_pair(account, family_id=None)

    @traced("auth.device")
    async def device_login(self, device_id: str, client_ip: str) -> TokenPair:
        """Guest login: the device id is the credential. A new device gets an account and a
        character, so a bot or a quick-play client can join at once."""
        await self._limit(
            f"auth-ip:{client_ip}", self.limits.auth_per_ip_per_s, self.limits.auth_per_ip_burst
        )
        problem = device_id_problem(device_id)
        if problem:
            raise ApiError(422, "invalid_device_id", problem)
        account = await self._storage_call(self.storage.account_by_device(device_id))
        if account is None:
            account = await self._create_guest(device_id)
        if account.banned:
            LOGINS.labels("device", "banned").inc()
            raise ApiError(403, "account_banned", "this account is banned")
        LOGINS.labels("device", "ok").inc()
        return await self._token_pair(account, family_id=None)

    async def _create_guest(self, device_id: str) -> Account:
        tag = hashlib.sha256(device_id.encode()).hexdigest()
        try:
            account = await self.storage.create_account(f"guest_{tag[:24]}", None, device_id)
        except Conflict:  # the same device raced us: use the account it created
            existing = await self._storage_call(self.storage.account_by_device(device_id))
            if existing is None:
                raise ApiError(409, "device_conflict", "device id is in use") from None
            return existing
        except StorageUnavailable as exc:
            raise unavailable("account storage is unavailable") from exc
        spec = self.zones[min(self.zones)]
        for attempt in range(5):
            name = f"Guest_{tag[attempt * 8 : attempt * 8 + 8]}"
            try:
                await self.storage.create_character(
                    account.account_id,
                    name,
                    spec.zone_id,
                    *spec.spawn_point(self._rng),
                    stats=self.new_stats(None),
                )
                break
            except Conflict:
                continue
            except StorageUnavailable as exc:
                raise unavailable("character storage is unavailable") from exc
        return account

    @traced("auth.refresh")
    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token. Everything that can fail for a passing reason (the
        database, Redis) is done before the old token is used up, so a 503 burns nothing and
        the client's retry succeeds: a dependency blip never logs a player out."""
        token_hash = _token_hash(refresh_token)
        now = self.clock.time()
        result, record = await self._sessions_call(self.sessions.peek(token_hash, now))
        if result is ConsumeResult.REUSED:
            await self._consume(refresh_token)  # a replay: consuming it revokes the family
            self._reused()
        if record is None:
            raise unauthorized("unknown or expired refresh token", code="invalid_refresh_token")
        account = await self._storage_call(self.storage.account_by_id(record.account_id))
        if account is None or account.banned:
            raise unauthorized("account is not active", code="invalid_refresh_token")
        pair = await self._token_pair(account, family_id=record.family_id)
        result, _ = await self._consume(refresh_token)
        if result is ConsumeResult.REUSED:  # raced by a replay: the new token is revoked too
            self._reused()
        if result is not ConsumeResult.VALID:
            raise unauthorized("unknown or expired refresh token", code="invalid_refresh_token")
        return pair

    def _reused(self) -> NoReturn:
        log.warning("refresh_token_reused")
        raise unauthorized(
            "refresh token was already used; log in again", code="refresh_token_reused"
        )

    @traced("auth.logout")
    async def logout(self, refresh_token: str) -> None:
        _, record = await self._consume(refresh_token)
        if record is not None:
            await self._sessions_call(self.sessions.revoke_family(record.family_id))

    async def _consume(self, refresh_token: str) -> tuple[ConsumeResult, RefreshRecord | None]:
        return await self._sessions_call(
            self.sessions.consume(_token_hash(refresh_token), self.clock.time())
        )

    async def _token_pair(self, account: Account, family_id: str | None) -> TokenPair:
        annotate(account_id=account.account_id)
        refresh_token = secrets.token_urlsafe(32)
        record = RefreshRecord(
            account.account_id,
            family_id or secrets.token_urlsafe(12),
            self.clock.time() + self.refresh_ttl_s,
        )
        await self._sessions_call(self.sessions.put(_token_hash(refresh_token), record))
        return TokenPair(
            token=self.tokens.issue_access(account.account_id, account.username),
            refresh_token=refresh_token,
            expires_in=self.tokens.access_ttl_s,
            account_id=account.account_id,
            username=account.username,
        )

    def authenticate(self, authorization: str | None) -> AccessClaims:
        """The claims of an ``Authorization: Bearer`` header, or 401."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("send an access token as 'Authorization: Bearer <token>'")
        token = token.strip()
        cached = self._verified.get(token)
        if cached is not None and cached.expires_at > self.clock.time():
            return cached
        try:
            claims = self.tokens.verify_access(token)
        except TokenError as exc:
            raise unauthorized(
                str(exc), code="token_expired" if exc.expired else "unauthorized"
            ) from None
        # Verified tokens are remembered until they expire: a client polling with the same
        # token costs one signature check, not one per request. Bounded, oldest out first.
        self._verified[token] = claims
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]
        return claims

    # --- characters -----------------------------------------------------------------------
    async def list_characters(self, account_id: int) -> list[CharacterOut]:
        characters = await self._storage_call(self.storage.list_characters(account_id))
        return [self._character_out(c) for c in characters]

    async def get_character(self, account_id: int, character_id: int) -> CharacterOut:
        return self._character_out(await self._own_character(account_id, character_id))

    async def create_character(
        self, account_id: int, name: str, character_class: str | None = None
    ) -> CharacterOut:
        problem = character_name_problem(name)
        if problem:
            raise ApiError(422, "invalid_name", problem)
        stats = self.new_stats(character_class)
        existing = await self._storage_call(self.storage.list_characters(account_id))
        if len(existing) >= MAX_CHARACTERS_PER_ACCOUNT:
            raise ApiError(
                409,
                "character_limit",
                f"an account holds at most {MAX_CHARACTERS_PER_ACCOUNT} characters",
            )
        spec = self.zones[min(self.zones)]
        try:
            character = await self.storage.create_character(
                account_id, name, spec.zone_id, *spec.spawn_point(self._rng), stats=stats
            )
        except Conflict:
            raise ApiError(409, "name_taken", f"the name {name!r} is taken") from None
        except AccountMissing:
            raise ApiError(404, "account_not_found", "this account no longer exists") from None
        except StorageUnavailable as exc:
            raise unavailable("character storage is unavailable") from exc
        return self._character_out(character)

    def new_stats(self, character_class: str | None) -> dict[str, Any]:
        """A new character's declared fields: their defaults, in the chosen class."""
        schema = self.schema
        chosen = character_class or schema.class_field.default
        if chosen not in schema.class_names:
            known = ", ".join(sorted(schema.class_names))
            raise ApiError(422, "invalid_class", f"class must be one of: {known}")
        return schema.saved(schema.load({"class": chosen}))

    def _character_out(self, c: Character) -> CharacterOut:
        """The owner's view of a character, derived from the game's schema."""
        state = c.state
        stats = self.schema.load(state.stats)
        return CharacterOut(
            character_id=c.character_id,
            name=c.name,
            zone_id=state.zone_id,
            x=round(state.x, 2),
            y=round(state.y, 2),
            hp=state.hp,
            level=state.level,
            xp=state.xp,
            character_class=stats["class"],
            stats=self.schema.owner_view(stats),
        )

    async def _own_character(self, account_id: int, character_id: int) -> Character:
        character = await self._storage_call(self.storage.load_character(character_id))
        if character is None or character.account_id != account_id:
            raise ApiError(404, "character_not_found", f"you have no character {character_id}")
        return character

    # --- zones ----------------------------------------------------------------------------
    async def list_zones(self) -> list[ZoneOut]:
        channels = await self._channels()
        now = self.clock.time()
        zones = []
        for spec in sorted(self.zones.values(), key=lambda z: z.zone_id):
            mine = [c for c in channels if c.zone_id == spec.zone_id and c.alive(now)]
            zones.append(
                ZoneOut(
                    zone_id=spec.zone_id,
                    name=spec.name,
                    pvp=spec.pvp,
                    channels=[_channel_out(c) for c in mine],
                )
            )
        return zones

    @traced("zone.allocate")
    async def join(
        self,
        claims: AccessClaims,
        zone_id: int | None,
        character_id: int | None,
        avoid_channel: str | None = None,
    ) -> JoinGrant:
        """Allocate the least-loaded ready channel and sign a one-time join ticket for it.

        With no ``zone_id`` the character's own zone is used. A banned account gets no ticket,
        even while its last access token is still valid. ``avoid_channel`` (one the client
        just lost) is passed over when another channel can take the player: a crashed
        server is listed until its heartbeats are missed, and its players should not spend
        that time trying it. Traced as ``zone.allocate``; the ticket carries its context."""
        annotate(account_id=claims.account_id, zone_id=zone_id, character_id=character_id)
        account = await self._storage_call(self.storage.account_by_id(claims.account_id))
        if account is None or account.banned:
            raise ApiError(403, "account_banned", "this account is banned")
        character = await self._pick_character(claims.account_id, character_id)
        zone_id = character.zone_id if zone_id is None else zone_id
        annotate(zone_id=zone_id, character_id=character.character_id)
        spec = self.zones.get(zone_id)
        if spec is None:
            raise ApiError(404, "zone_not_found", f"there is no zone {zone_id}")
        # Read fresh: a channel that began draining, or whose heartbeats stopped, must not
        # get one more player after the directory says so.
        channels = await self._channels(fresh=True)
        now, pending = self.clock.time(), self._pending()
        channel = None
        if avoid_channel is not None:
            others = [c for c in channels if c.server_id != avoid_channel]
            channel = choose_channel(others, zone_id, now, pending)
        if channel is None:
            channel = choose_channel(channels, zone_id, now, pending)
        if channel is None:
            ALLOCATIONS.labels(spec.name, "no_channel").inc()
            raise ApiError(
                503,
                "no_channel_available",
                f"no channel of {spec.name} accepts players now; retry shortly",
                {"Retry-After": "2"},
            )
        self._recent_allocations[channel.server_id].append(self.clock.monotonic())
        ALLOCATIONS.labels(spec.name, "ok").inc()
        annotate(channel_id=channel.server_id)
        ticket = self.tokens.issue_join_ticket(
            claims.account_id,
            claims.username,
            zone_id,
            channel.server_id,
            character.character_id,
            traceparent=current_traceparent(),
        )
        return JoinGrant(
            zone_id=zone_id,
            channel_id=channel.server_id,
            ws_url=channel.ws_url,
            ticket=ticket,
            expires_in=self.tokens.ticket_ttl_s,
            character_id=character.character_id,
        )

    # --- matchmaking ----------------------------------------------------------------------
    async def queue_match(
        self, claims: AccessClaims, mode_name: str, character_id: int | None
    ) -> MatchTicketOut:
        """Queue the character for a mode; the matchmaker places it with a group."""
        queue = self._queue()
        mode = self.match_modes.get(mode_name)
        if mode is None:
            known = ", ".join(sorted(self.match_modes)) or "none"
            raise ApiError(404, "unknown_mode", f"no matchmaking mode {mode_name!r} ({known})")
        account = await self._storage_call(self.storage.account_by_id(claims.account_id))
        if account is None or account.banned:
            raise ApiError(403, "account_banned", "this account is banned")
        character = await self._pick_character(claims.account_id, character_id)
        ticket = QueueTicket(
            secrets.token_urlsafe(12),
            mode.name,
            claims.account_id,
            claims.username,
            character.character_id,
            character.rating,
            character.level,
            self.clock.time(),
        )
        try:
            await queue.enqueue(ticket, mode.max_wait_s + MATCH_RESULT_TTL_S)
        except AlreadyQueued as exc:
            raise ApiError(
                409,
                "already_queued",
                f"you are already queued (ticket {exc.ticket_id}); cancel it first",
            ) from None
        except MatchmakingUnavailable as exc:
            raise unavailable("matchmaking is unavailable") from exc
        MATCHMAKING_TICKETS.labels(mode.name, "queued").inc()
        return self._match_out(TicketState(ticket, Status.QUEUED), claims)

    async def match_status(self, claims: AccessClaims, ticket_id: str) -> MatchTicketOut:
        """The ticket's state; once matched, with a fresh join ticket for the group's channel."""
        return self._match_out(await self._own_match(claims, ticket_id), claims)

    async def cancel_match(self, claims: AccessClaims, ticket_id: str) -> None:
        state = await self._own_match(claims, ticket_id)
        try:
            cancelled = await self._queue().finish(ticket_id, Status.CANCELLED, MATCH_RESULT_TTL_S)
        except MatchmakingUnavailable as exc:
            raise unavailable("matchmaking is unavailable") from exc
        if not cancelled:
            raise ApiError(
                409, "not_queued", f"the ticket is {state.status.value}, no longer waiting"
            )
        MATCHMAKING_TICKETS.labels(state.ticket.mode, "cancelled").inc()

    def _queue(self) -> MatchQueue:
        if self.matchmaking is None:
            raise ApiError(503, "matchmaking_unavailable", "this gateway has no matchmaking")
        return self.matchmaking

    async def _own_match(self, claims: AccessClaims, ticket_id: str) -> TicketState:
        try:
            state = await self._queue().state(ticket_id)
        except MatchmakingUnavailable as exc:
            raise unavailable("matchmaking is unavailable") from exc
        if state is None or state.ticket.account_id != claims.account_id:
            raise ApiError(404, "match_ticket_not_found", f"you have no ticket {ticket_id!r}")
        return state

    def _match_out(self, state: TicketState, claims: AccessClaims) -> MatchTicketOut:
        ticket, assignment = state.ticket, state.assignment
        grant = None
        if assignment is not None:
            grant = JoinGrant(
                zone_id=assignment.zone_id,
                channel_id=assignment.server_id,
                ws_url=assignment.ws_url,
                ticket=self.tokens.issue_join_ticket(
                    claims.account_id,
                    claims.username,
                    assignment.zone_id,
                    assignment.server_id,
                    ticket.character_id,
                    traceparent=current_traceparent(),
                ),
                expires_in=self.tokens.ticket_ttl_s,
                character_id=ticket.character_id,
            )
        end = assignment.matched_at if assignment is not None else self.clock.time()
        return MatchTicketOut(
            ticket_id=ticket.ticket_id,
            mode=ticket.mode,
            status=state.status.value,
            waited_s=round(max(0.0, end - ticket.enqueued_at), 3),
            match_id=assignment.match_id if assignment is not None else None,
            grant=grant,
        )

    async def _pick_character(self, account_id: int, character_id: int | None) -> Character:
        if character_id is not None:
            return await self._own_character(account_id, character_id)
        characters = await self._storage_call(self.storage.list_characters(account_id))
        if not characters:
            raise ApiError(409, "no_character", "create a character first (POST /api/characters)")
        return characters[0]

    def _pending(self) -> dict[str, int]:
        horizon = self.clock.monotonic() - PENDING_WINDOW_S
        pending = {}
        for server_id, times in list(self._recent_allocations.items()):
            while times and times[0] < horizon:
                times.popleft()
            if times:
                pending[server_id] = len(times)
            else:
                del self._recent_allocations[server_id]
        return pending

    async def _channels(self, fresh: bool = False) -> list[ChannelInfo]:
        """The directory; listings read it at most every DIRECTORY_CACHE_S, allocations
        (``fresh``) every time (one small read; what was allocated since the last heartbeat
        is counted by ``_pending``)."""
        now = self.clock.monotonic()
        if (
            not fresh
            and self._channels_cache is not None
            and now - self._channels_cache[0] < DIRECTORY_CACHE_S
        ):
            return self._channels_cache[1]
        try:
            channels = await self.directory.channels()
        except DirectoryUnavailable as exc:
            raise unavailable("the zone directory is unavailable") from exc
        self._channels_cache = (now, channels)
        return channels

    # --- helpers --------------------------------------------------------------------------
    async def _limit(self, key: str, rate_per_s: float, burst: int) -> None:
        """Shared limits; while the shared limiter is down, limit per replica instead of
        refusing every login (an outage of Redis must not lock players out)."""
        try:
            allowed, retry_after = await self.limiter.allow(key, rate_per_s, burst)
        except RateLimiterUnavailable as exc:
            if self._fallback_limiter is None:
                raise unavailable("rate limits are unavailable; retry shortly") from exc
            allowed, retry_after = await self._fallback_limiter.allow(key, rate_per_s, burst)
        if not allowed:
            raise rate_limited(retry_after)

    async def _sessions_call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except SessionStoreUnavailable as exc:
            raise unavailable("sessions are unavailable; retry shortly") from exc

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._hashers, self.passwords.hash, password)

    async def _verify(self, password_hash: str | None, password: str) -> bool:
        async with self._hashing:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._hashers, self.passwords.verify, password_hash, password
            )

    async def _storage_call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except StorageUnavailable as exc:
            raise unavailable("storage is unavailable; retry shortly") from exc


# How much nicer the hashing threads are than the process: CFS weighs a thread 10 nice levels
# down at about a tenth of the event loop, so with four hashes running the loop still gets
# ~70 % of a busy core (docs/benchmarks.md: reads during 50 logins/s).
HASHING_NICE = 10


def _lower_priority() -> None:
    """Lower the calling thread's CPU priority (Linux: the nice value is per thread)."""
    with contextlib.suppress(OSError, AttributeError):
        thread = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + HASHING_NICE))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _channel_out(c: ChannelInfo) -> ChannelOut:
    return ChannelOut(
        channel_id=c.server_id,
        ws_url=c.ws_url,
        players=c.players,
        max_players=c.max_players,
        ready=c.ready,
        draining=c.draining,
    )
