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
that is newer and was written by the previous owner. If the connection went away while
loading, the character is released again.

Joins load from storage at most ``max_concurrent_joins`` at a time; the rest wait their turn.
Each costs a few milliseconds of the zone's CPU (four queries), so a burst of hundreds at
once would otherwise fill the event loop's ready queue and stall the tick of everyone already
playing; with the limit, a burst makes joining players wait instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openmmo.bus import BusUnavailable, Kind
from openmmo.checkpoints import CheckpointsUnavailable
from openmmo.logs import get_logger
from openmmo.protocol.codes import CloseCode, ErrorCode
from openmmo.protocol.messages import JoinGame
from openmmo.protocol.session import Phase
from openmmo.storage import (
    Character,
    CharacterProgress,
    Claim,
    NotOwner,
    StorageUnavailable,
    TransferRefused,
)
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


@dataclass(frozen=True, slots=True)
class State:
    """Where a character enters the world and with what."""

    name: str
    zone_id: int
    x: float
    y: float
    hp: int
    level: int
    xp: int
    epoch: int
    version: int
    inventory: dict[str, int]


def on_join(rt: ZoneRuntime, session: Session, msg: JoinGame, now: float) -> None:
    if msg.map_id is not None and msg.map_id != rt.spec.zone_id:
        rt.send_error(
            session,
            ErrorCode.WRONG_ZONE,
            f"this server hosts zone {rt.spec.zone_id} ({rt.spec.name})",
            msg.seq,
        )
        return
    wanted, ticketed = msg.character_id, session.ticket_character_id
    if ticketed is not None and wanted is not None and wanted != ticketed:
        rt.send_error(
            session,
            ErrorCode.CHARACTER_NOT_FOUND,
            f"your join ticket is for character {ticketed}",
            msg.seq,
        )
        return
    joining = sum(1 for s in rt.sessions.values() if s.phase is Phase.JOINING)
    reserved = sum(1 for t in rt.expected if t != session.transfer_id)
    rejoining = ticketed is not None and ticketed in rt.players
    if not rejoining and len(rt.players) + joining + reserved >= rt.config.max_players:
        rt.refuse(
            session,
            ErrorCode.SERVER_FULL,
            "this channel is full; try another",
            msg.seq,
            CloseCode.TRY_AGAIN_LATER,
        )
        return
    session.phase = Phase.JOINING
    rt.spawn(_join(rt, session, msg.seq, ticketed if ticketed is not None else wanted))


async def _join(rt: ZoneRuntime, session: Session, seq: int, character_id: int | None) -> None:
    try:
        async with rt.join_slots:
            if session.phase is not Phase.JOINING:  # left while waiting for a slot
                return
            character, state = await _take(rt, session, character_id)
    except JoinRefused as exc:
        if exc.close_code is not None:
            rt.refuse(session, exc.code, exc.message, seq, exc.close_code)
        else:
            _back_to_lobby(session)
            rt.send_error(session, exc.code, exc.message, seq)
        return
    except StorageUnavailable:
        _back_to_lobby(session)
        rt.send_error(
            session, ErrorCode.UNAVAILABLE, "character storage is unavailable; retry", seq
        )
        return
    except Exception:  # a bug in one join must not take the zone down
        log.exception("join_failed", account_id=session.account_id)
        rt.refuse(session, ErrorCode.INTERNAL, "internal error", seq, CloseCode.INTERNAL_ERROR)
        return
    if session.phase is not Phase.JOINING:  # the connection went away while loading
        release_character(rt, character.character_id, state)
        return
    if character.character_id in rt.players:  # joined by another connection meanwhile
        release_character(rt, character.character_id, state)
        rt.refuse(
            session,
            ErrorCode.CHARACTER_BUSY,
            "the character joined meanwhile",
            seq,
            CloseCode.SESSION_REPLACED,
        )
        return
    enter_world(rt, session, character.character_id, state)
    rt.send(session, joined_message(rt, session, seq, state.inventory))
    log.info(
        "player_joined",
        zone=rt.spec.name,
        account_id=session.account_id,
        character_id=session.character_id,
        remote=session.transport.remote,
        players=len(rt.players),
        epoch=state.epoch,
    )


def _back_to_lobby(session: Session) -> None:
    if session.phase is Phase.JOINING:
        session.phase = Phase.LOBBY


async def _take(
    rt: ZoneRuntime, session: Session, character_id: int | None
) -> tuple[Character, State]:
    assert session.account_id is not None
    account = await rt.storage.account_by_id(session.account_id)
    if account is None or account.banned:
        raise JoinRefused(ErrorCode.BANNED, "this account cannot play", CloseCode.FORBIDDEN)
    if session.transfer_id is not None and character_id not in rt.players:
        assert character_id is not None
        claim = await _claim_transfer(rt, session, character_id)
        return claim.character, await _load(rt, claim)
    character = await _resolve(rt, session, character_id)
    cid = character.character_id
    previous = rt.players.get(cid)
    if previous is not None:
        state = _take_over(rt, previous)
        try:
            inventory = await rt.storage.inventory(cid)
        except StorageUnavailable:
            inventory = {}  # only shown to the player; the items themselves are safe
        return character, dataclasses.replace(state, inventory=inventory)
    await rt.checkpointer.settled(cid)
    staged = rt.checkpointer.pending.pop(cid, None)
    if staged is not None:
        inventory = await rt.storage.inventory(cid)
        return character, _from_progress(character.name, staged, inventory)
    claim = await _acquire(rt, cid)
    return claim.character, await _load(rt, claim)


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
    rt.expected.pop(session.transfer_id, None)
    if claim.character.account_id != session.account_id:
        release_character(rt, character_id, _from_claim(claim, {}))
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


async def _load(rt: ZoneRuntime, claim: Claim) -> State:
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
        release_character(rt, cid, _from_claim(claim, {}))
        raise
    state = _from_claim(claim, inventory)
    if (
        checkpoint is not None
        and checkpoint.epoch == claim.epoch - 1
        and checkpoint.version > state.version
    ):
        log.info("restored_from_checkpoint", character_id=cid, version=checkpoint.version)
        state = State(
            state.name,
            checkpoint.zone_id,
            checkpoint.x,
            checkpoint.y,
            checkpoint.hp,
            checkpoint.level,
            checkpoint.xp,
            claim.epoch,
            checkpoint.version,
            inventory,
        )
    return state


def _from_claim(claim: Claim, inventory: dict[str, int]) -> State:
    c = claim.character
    return State(
        c.name, c.zone_id, c.x, c.y, c.hp, c.level, c.xp, claim.epoch, c.progress_version, inventory
    )


def _from_progress(name: str, p: CharacterProgress, inventory: dict[str, int]) -> State:
    return State(name, p.zone_id, p.x, p.y, p.hp, p.level, p.xp, p.epoch, p.version, inventory)


def _take_over(rt: ZoneRuntime, previous: Session) -> State:
    """The character is playing here: the new connection inherits its state in memory."""
    assert previous.character_id is not None and previous.actor is not None
    progress = rt.progress_of(previous)
    name = previous.actor.name
    rt.send(
        previous,
        {
            "type": "notice",
            "code": "session_replaced",
            "message": "this character joined from another connection",
        },
    )
    rt.leave_world(previous, save=False)
    previous.close(CloseCode.SESSION_REPLACED, "session replaced")
    rt.disconnects[CloseCode.SESSION_REPLACED] += 1
    return _from_progress(name, progress, {})


def release_character(rt: ZoneRuntime, character_id: int, state: State) -> None:
    """Give a character back that we acquired but will not play."""
    rt.checkpointer.stage(
        CharacterProgress(
            character_id,
            state.zone_id,
            state.x,
            state.y,
            state.hp,
            state.level,
            state.xp,
            version=state.version,
            epoch=state.epoch,
            release=True,
        )
    )
    rt.checkpointer.request_flush()


def enter_world(rt: ZoneRuntime, session: Session, character_id: int, state: State) -> None:
    x, y = state.x, state.y
    if state.zone_id != rt.spec.zone_id:
        x, y = rt.spec.spawn_point(rt.world.rng)
    actor = rt.world.add_player(
        character_id, state.name, x, y, state.hp, state.level, state.xp, rt.clock.monotonic()
    )
    session.actor = actor
    session.character_id = character_id
    session.epoch = state.epoch
    session.progress_version = state.version
    session.phase = Phase.PLAYING
    session.unacked = True
    rt.players[character_id] = session


def joined_message(
    rt: ZoneRuntime, session: Session, seq: int, inventory: dict[str, int]
) -> dict[str, Any]:
    assert session.actor is not None
    world, slot = rt.world, session.actor.slot
    return {
        "type": "joined",
        "seq": seq,
        "entity_id": session.character_id,
        "character": {
            "character_id": session.character_id,
            "name": session.actor.name,
            "level": int(world.level[slot]),
            "xp": session.actor.xp,
            "hp": int(world.hp[slot]),
            "hp_max": int(world.hp_max[slot]),
            "x": round(float(world.x[slot]), 2),
            "y": round(float(world.y[slot]), 2),
        },
        "inventory": inventory,
        "zone": rt.zone_info(),
        "channel_id": rt.config.server_id,
        "tick": world.tick & 0xFFFFFFFF,
    }
