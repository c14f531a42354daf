"""Joining the world: who may play which character, and taking ownership of it.

How it works. ``join_game`` names (or implies) a character. The account must own it and not
be banned. Then the server takes ownership in the database (:mod:`openmmo.storage.sql`):

* with a transfer ticket, by claiming that transfer — once only, so a replayed ticket fails;
* if the character is playing on this server already, the new connection takes the old one's
  place with the state in memory (no database round trip);
* if its last save from this server is still staged, from that staged progress (newer than
  the database, and still ours because the release has not landed);
* otherwise by acquiring it, which fails while another live server owns it — that server is
  asked over the bus to save and release it, and acquisition is retried for a few seconds.

A freshly acquired character is loaded from the database, or from its hot checkpoint when
that is newer and was written by the previous owner. The loaded character enters the world
at the next tick (:meth:`openmmo.zone.play.Play.request_enter`), which also sends
``joined``; if the connection went away meanwhile, the character is released again.

Joins load from storage at most ``max_concurrent_joins`` at a time; the rest wait their turn.
Each costs a few milliseconds of the zone's CPU (four queries), so a burst of hundreds at
once would otherwise fill the event loop's ready queue and stall the tick of everyone already
playing; with the limit, a burst makes joining players wait instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from opentelemetry.trace import Span, SpanKind

from openmmo.bus import BusUnavailable, Kind
from openmmo.checkpoints import CheckpointsUnavailable
from openmmo.logs import get_logger
from openmmo.protocol.codes import CloseCode, ErrorCode
from openmmo.protocol.messages import JoinGame
from openmmo.protocol.server import SESSION_REPLACED_HERE
from openmmo.protocol.session import Event, Phase
from openmmo.sim.schema import CharacterState
from openmmo.storage import (
    Character,
    Claim,
    NotOwner,
    StorageUnavailable,
    TransferRefused,
)
from openmmo.tracing import annotate, parent_from, record_error, span
from openmmo.zone.play import Loaded
from openmmo.zone.session import Session

if TYPE_CHECKING:
    from openmmo.zone.runtime import ZoneRuntime

log = get_logger("openmmo.zone")

ACQUIRE_ATTEMPTS = 20  # x 0.25 s: how long a join waits for another server to let go
ACQUIRE_RETRY_S = 0.25


class JoinRefused(Exception):
    def __init__(self, code: ErrorCode, message: str, close_code: CloseCode | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


def on_join(rt: ZoneRuntime, session: Session, msg: JoinGame, now: float) -> None:
    sessions, spec = rt.sessions, rt.spec
    wanted, ticketed = msg.character_id, session.ticket_character_id
    if msg.map_id is not None and msg.map_id != spec.zone_id:
        message = f"this server hosts zone {spec.zone_id} ({spec.name})"
        _trace_refusal(rt, session, wanted, ErrorCode.WRONG_ZONE, message)
        sessions.send_error(session, ErrorCode.WRONG_ZONE, message, msg.seq)
        return
    if ticketed is not None and wanted is not None and wanted != ticketed:
        message = f"your join ticket is for character {ticketed}"
        _trace_refusal(rt, session, wanted, ErrorCode.CHARACTER_NOT_FOUND, message)
        sessions.send_error(session, ErrorCode.CHARACTER_NOT_FOUND, message, msg.seq)
        return
    rejoining = ticketed is not None and ticketed in sessions.players
    taken = len(sessions.players) + sessions.joining() + sessions.seats_held(session.transfer_id)
    if not rejoining and taken >= rt.config.max_players:
        cid = ticketed if ticketed is not None else wanted
        _trace_refusal(rt, session, cid, ErrorCode.SERVER_FULL, "this channel is full")
        sessions.refuse(
            session,
            ErrorCode.SERVER_FULL,
            "this channel is full; try another",
            msg.seq,
            CloseCode.TRY_AGAIN_LATER,
        )
        return
    session.apply(Event.JOIN)
    rt.spawn(_join(rt, session, msg.seq, ticketed if ticketed is not None else wanted))


async def _join(rt: ZoneRuntime, session: Session, seq: int, character_id: int | None) -> None:
    """Traced as ``zone.join``, continuing the trace of the ticket (the gateway's allocation
    or the source server's transfer), if it names one."""
    with _join_span(rt, session, character_id):
        await _join_traced(rt, session, seq, character_id)


def _join_span(
    rt: ZoneRuntime, session: Session, character_id: int | None
) -> AbstractContextManager[Span]:
    return span(
        "zone.join",
        parent=parent_from(session.traceparent),
        kind=SpanKind.SERVER,
        zone_id=rt.spec.zone_id,
        channel_id=rt.config.server_id,
        account_id=session.account_id,
        character_id=character_id,
        transfer_id=session.transfer_id,
    )


def _trace_refusal(
    rt: ZoneRuntime, session: Session, character_id: int | None, code: ErrorCode, message: str
) -> None:
    """A join refused before it started still ends its trace, in a failed ``zone.join``."""
    with _join_span(rt, session, character_id):
        record_error(code, message)


async def _join_traced(
    rt: ZoneRuntime, session: Session, seq: int, character_id: int | None
) -> None:
    sessions = rt.sessions
    try:
        async with rt.join_slots:
            if session.phase is not Phase.JOINING:  # left while waiting for a slot
                return
            loaded = await _take(rt, session, character_id)
    except JoinRefused as exc:
        record_error(exc.code, exc.message)
        if exc.close_code is not None:
            sessions.refuse(session, exc.code, exc.message, seq, exc.close_code)
        else:
            _back_to_lobby(session, rt.clock.monotonic())
            sessions.send_error(session, exc.code, exc.message, seq)
        return
    except StorageUnavailable as exc:
        log.warning("join_storage_unavailable", account_id=session.account_id, error=str(exc))
        record_error(ErrorCode.UNAVAILABLE, "character storage is unavailable")
        _back_to_lobby(session, rt.clock.monotonic())
        sessions.send_error(
            session, ErrorCode.UNAVAILABLE, "character storage is unavailable; retry", seq
        )
        return
    except Exception as exc:  # a bug in one join must not take the zone down
        log.exception("join_failed", account_id=session.account_id)
        record_error(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}", exc=exc)
        sessions.refuse(
            session, ErrorCode.INTERNAL, "internal error", seq, CloseCode.INTERNAL_ERROR
        )
        return
    annotate(character_id=loaded.character_id)
    rt.play.request_enter(session, loaded, seq)


def _back_to_lobby(session: Session, now: float) -> None:
    if session.phase is Phase.JOINING:
        session.apply(Event.JOIN_FAILED)
        session.lobby_since = now  # a new join_timeout_s to try again


async def _take(rt: ZoneRuntime, session: Session, character_id: int | None) -> Loaded:
    assert session.account_id is not None
    account = await rt.storage.account_by_id(session.account_id)
    if account is None or account.banned:
        raise JoinRefused(ErrorCode.BANNED, "this account cannot play", CloseCode.FORBIDDEN)
    if session.transfer_id is not None and character_id not in rt.sessions.players:
        assert character_id is not None
        claim = await _claim_transfer(rt, session, character_id)
        return await _load(rt, claim)
    character = await _resolve(rt, session, character_id)
    cid = character.character_id
    previous = rt.sessions.players.get(cid)
    if previous is not None:
        taken = await _take_over(rt, previous)
        if taken is not None:
            try:
                inventory = await rt.storage.inventory(cid)
            except StorageUnavailable:
                inventory = {}  # only shown to the player; the items themselves are safe
            return Loaded(
                cid, character.name, taken, previous.epoch, previous.progress_version, inventory
            )
    await rt.checkpointer.settled(cid)
    staged = rt.checkpointer.take_staged(cid)
    if staged is not None:
        inventory = await rt.storage.inventory(cid)
        return Loaded(cid, character.name, staged.state, staged.epoch, staged.version, inventory)
    claim = await _acquire(rt, cid)
    return await _load(rt, claim)


async def _resolve(rt: ZoneRuntime, session: Session, character_id: int | None) -> Character:
    assert session.account_id is not None
    if character_id is None:
        characters = await rt.storage.list_characters(session.account_id)
        character = characters[0] if characters else None
    else:
        character = await rt.storage.load_character(character_id)
    if character is None or character.account_id != session.account_id:
        raise JoinRefused(ErrorCode.CHARACTER_NOT_FOUND, "no such character on your account")
    return character


async def _claim_transfer(rt: ZoneRuntime, session: Session, character_id: int) -> Claim:
    assert session.transfer_id is not None
    try:
        claim = await rt.storage.claim_transfer(
            session.transfer_id,
            character_id,
            rt.config.server_id,
            rt.clock.time(),
            rt.spec.zone_id if rt.config.accept_zone_tickets else None,
        )
    except TransferRefused:
        raise JoinRefused(
            ErrorCode.UNAUTHORIZED, "this transfer ticket was already used", CloseCode.UNAUTHORIZED
        ) from None
    except NotOwner:
        raise JoinRefused(
            ErrorCode.CHARACTER_BUSY,
            "the character is busy on another server",
            CloseCode.TRY_AGAIN_LATER,
        ) from None
    rt.sessions.release_seat(session.transfer_id)
    if claim.character.account_id != session.account_id:
        rt.play.release(_from_claim(claim, {}))
        raise JoinRefused(
            ErrorCode.CHARACTER_NOT_FOUND, "no such character on your account", CloseCode.FORBIDDEN
        )
    return claim


async def _acquire(rt: ZoneRuntime, character_id: int) -> Claim:
    """Take ownership; if another live server has the character, ask it to let go."""
    kicked = False
    for _ in range(ACQUIRE_ATTEMPTS):
        try:
            claim = await rt.storage.acquire_character(
                character_id, rt.config.server_id, rt.clock.time()
            )
        except NotOwner as exc:
            if not kicked and exc.owner:
                kicked = True
                with contextlib.suppress(BusUnavailable):  # its lease will run out instead
                    await rt.bus.send(
                        exc.owner,
                        Kind.KICK,
                        {"character_id": character_id, "reason": "session_replaced"},
                        rt.config.server_id,
                    )
            await asyncio.sleep(ACQUIRE_RETRY_S)
            continue
        if claim is None:
            raise JoinRefused(ErrorCode.CHARACTER_NOT_FOUND, "no such character")
        return claim
    raise JoinRefused(
        ErrorCode.CHARACTER_BUSY,
        "your character is still in the world on another server; retry shortly",
    )


async def _load(rt: ZoneRuntime, claim: Claim) -> Loaded:
    """The newest state of a just-acquired character: the database row, or the hot
    checkpoint of the previous owner when it is newer. On failure, release it again."""
    cid = claim.character.character_id
    try:
        inventory = await rt.storage.inventory(cid)
        checkpoint = None
        if rt.checkpointer.checkpoints is not None:
            try:
                checkpoint = await rt.checkpointer.checkpoints.read(cid)
            except CheckpointsUnavailable:
                log.warning("checkpoint_unreadable", character_id=cid)
    except BaseException:
        rt.play.release(_from_claim(claim, {}))
        raise
    loaded = _from_claim(claim, inventory)
    if (
        checkpoint is not None
        and checkpoint.epoch == claim.epoch - 1
        and checkpoint.version > loaded.version
    ):
        log.info("restored_from_checkpoint", character_id=cid, version=checkpoint.version)
        loaded = Loaded(
            cid, loaded.name, checkpoint.state, claim.epoch, checkpoint.version, inventory
        )
    return loaded


def _from_claim(claim: Claim, inventory: dict[str, int]) -> Loaded:
    c = claim.character
    return Loaded(c.character_id, c.name, c.state, claim.epoch, c.progress_version, inventory)


async def _take_over(rt: ZoneRuntime, previous: Session) -> CharacterState | None:
    """The character is playing here: the new connection inherits its state in memory.
    None when it left meanwhile (its save is then staged or in flight)."""
    leaving = rt.play.request_leave(previous, save=False)
    rt.sessions.replace(previous, SESSION_REPLACED_HERE)
    return await leaving
