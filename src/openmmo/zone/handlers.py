"""One function per client message type, called by :meth:`ZoneRuntime.on_message`.

Each handler runs on the event loop and must not block; what waits on I/O is spawned into the
server's TaskGroup and catches its own errors (a failing join must not take the zone down).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from openmmo.bus import BusUnavailable, ChatMessage
from openmmo.logs import get_logger
from openmmo.protocol.codes import ChatChannel, ClientType, CloseCode, ErrorCode
from openmmo.protocol.messages import (
    Attack,
    Auth,
    Chat,
    Inspect,
    JoinGame,
    Leave,
    Move,
    Ping,
)
from openmmo.protocol.session import Phase
from openmmo.protocol.snapshot import WireEvent
from openmmo.sim.combat import apply_attack
from openmmo.sim.movement import apply_move
from openmmo.sim.world import EntityKind
from openmmo.storage import Character, StorageUnavailable
from openmmo.zone.session import Session

if TYPE_CHECKING:
    from openmmo.zone.runtime import ZoneRuntime

log = get_logger("openmmo.zone")

Handler = Callable[["ZoneRuntime", Session, Any, float], None]


def on_auth(rt: ZoneRuntime, session: Session, msg: Auth, now: float) -> None:
    rt.authenticate(session, msg.token, msg.seq)


def on_move(rt: ZoneRuntime, session: Session, msg: Move, now: float) -> None:
    assert session.character_id is not None
    apply_move(rt.world, session.character_id, msg.x, msg.y, now)
    session.unacked = True


def on_attack(rt: ZoneRuntime, session: Session, msg: Attack, now: float) -> None:
    assert session.character_id is not None
    hit = apply_attack(rt.world, session.character_id, msg.target_id, msg.skill_id, now)
    rt.send(
        session,
        {
            "type": "ack",
            "seq": msg.seq,
            "result": {
                "target": hit.target_id,
                "damage": hit.damage,
                "hp": hit.target_hp,
                "killed": hit.target_hp == 0,
            },
        },
    )


def on_chat(rt: ZoneRuntime, session: Session, msg: Chat, now: float) -> None:
    text = _clean(msg.message)
    if not text:
        rt.send_error(session, ErrorCode.BAD_MESSAGE, "chat message is empty", msg.seq)
        return
    if len(text) > rt.limits.max_chat_chars:
        rt.send_error(
            session,
            ErrorCode.CHAT_TOO_LONG,
            f"chat messages are limited to {rt.limits.max_chat_chars} characters",
            msg.seq,
        )
        return
    if not session.chat_bucket.take(now):
        rt.send_error(session, ErrorCode.RATE_LIMITED, "you are chatting too fast", msg.seq)
        return
    assert session.character_id is not None and session.actor is not None
    time_ms = int(rt.clock.time() * 1000)
    if msg.channel is ChatChannel.GLOBAL:
        rt.spawn(
            _publish_global(
                rt,
                session,
                msg.seq,
                ChatMessage(
                    msg.channel.value,
                    session.character_id,
                    session.actor.name,
                    text,
                    time_ms,
                    rt.config.server_id,
                ),
            )
        )
        return
    event = WireEvent(
        {
            "type": "chat",
            "channel": msg.channel.value,
            "from": session.character_id,
            "name": session.actor.name,
            "message": text,
            "time_ms": time_ms,
        }
    )
    if msg.channel is ChatChannel.ZONE:
        recipients: Any = rt.players.values()
    else:
        recipients = _near(rt, session)
    for recipient in recipients:
        recipient.push_event(event)
    rt.send(session, {"type": "ack", "seq": msg.seq})


async def _publish_global(
    rt: ZoneRuntime, session: Session, seq: int, message: ChatMessage
) -> None:
    try:
        await rt.bus.publish_chat(message)
    except BusUnavailable:
        rt.send_error(session, ErrorCode.UNAVAILABLE, "global chat is unavailable", seq)
        return
    rt.send(session, {"type": "ack", "seq": seq})


def _near(rt: ZoneRuntime, session: Session) -> list[Session]:
    """Players whose interest area covers the speaker (as of the last tick's grid)."""
    assert session.actor is not None
    x, y = rt.world.position(session.actor.entity_id)
    found = []
    for slot in rt.grid.slots_near(rt.grid.cell_at(x, y)).tolist():
        actor = rt.world.actor_at(slot)
        if actor is not None and actor.kind is EntityKind.PLAYER:
            recipient = rt.players.get(actor.entity_id)
            if recipient is not None:
                found.append(recipient)
    if session not in found:
        found.append(session)  # joined after the last grid rebuild: still hears itself
    return found


_JOINERS = frozenset("\u200c\u200d")  # format characters that emoji and scripts need


def _clean(text: str) -> str:
    """One line of visible text: whitespace controls become spaces, other control and format
    characters (bidi overrides, zero-width tricks) are dropped, joiners are kept. Unassigned and
    private-use code points stay: new emoji are unassigned to older Unicode tables."""
    out = []
    for c in text:
        category = unicodedata.category(c)
        if category == "Cc":
            if c.isspace():
                out.append(" ")
        elif category in ("Cf", "Cs") and c not in _JOINERS:
            continue
        else:
            out.append(c)
    return "".join(out).strip()


def on_ping(rt: ZoneRuntime, session: Session, msg: Ping, now: float) -> None:
    rt.send(
        session,
        {
            "type": "pong",
            "seq": msg.seq,
            "client_time": msg.client_time,
            "server_time_ms": int(rt.clock.time() * 1000),
        },
    )


def on_inspect(rt: ZoneRuntime, session: Session, msg: Inspect, now: float) -> None:
    entities = []
    for entity_id in msg.ids:
        actor = rt.world.actors.get(entity_id)
        if actor is not None:
            entities.append(
                {
                    "id": entity_id,
                    "kind": int(actor.kind),
                    "name": actor.name,
                    "level": int(rt.world.level[actor.slot]),
                }
            )
    rt.send(session, {"type": "entity_info", "seq": msg.seq, "entities": entities})


def on_leave(rt: ZoneRuntime, session: Session, msg: Leave, now: float) -> None:
    rt.leave_world(session)
    session.close(CloseCode.NORMAL, "bye")


def on_join(rt: ZoneRuntime, session: Session, msg: JoinGame, now: float) -> None:
    if msg.map_id is not None and msg.map_id != rt.spec.zone_id:
        rt.send_error(
            session,
            ErrorCode.WRONG_ZONE,
            f"this server hosts zone {rt.spec.zone_id} ({rt.spec.name})",
            msg.seq,
        )
        return
    wanted = msg.character_id
    ticketed = session.ticket_character_id
    if ticketed is not None and wanted is not None and wanted != ticketed:
        rt.send_error(
            session,
            ErrorCode.CHARACTER_NOT_FOUND,
            f"your join ticket is for character {ticketed}",
            msg.seq,
        )
        return
    joining = sum(1 for s in rt.sessions.values() if s.phase is Phase.JOINING)
    rejoining = ticketed is not None and ticketed in rt.players
    if not rejoining and len(rt.players) + joining >= rt.config.max_players:
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
        character = await _load(rt, session, character_id)
    except StorageUnavailable:
        session.phase = Phase.LOBBY if session.phase is Phase.JOINING else session.phase
        rt.send_error(
            session, ErrorCode.UNAVAILABLE, "character storage is unavailable; retry", seq
        )
        return
    except Exception:  # a bug in one join must not take the zone down
        log.exception("join_failed", account_id=session.account_id)
        rt.refuse(session, ErrorCode.INTERNAL, "internal error", seq, CloseCode.INTERNAL_ERROR)
        return
    if session.phase is not Phase.JOINING:
        return  # disconnected while loading
    if character is None:
        session.phase = Phase.LOBBY
        rt.send_error(
            session, ErrorCode.CHARACTER_NOT_FOUND, "no such character on your account", seq
        )
        return
    _enter_world(rt, session, character)
    rt.send(session, _joined(rt, session, seq))
    log.info(
        "player_joined",
        zone=rt.spec.name,
        account_id=session.account_id,
        character_id=session.character_id,
        remote=session.transport.remote,
        players=len(rt.players),
    )


async def _load(rt: ZoneRuntime, session: Session, character_id: int | None) -> Character | None:
    assert session.account_id is not None
    if character_id is None:
        characters = await rt.storage.list_characters(session.account_id)
        return characters[0] if characters else None
    character = await rt.storage.load_character(character_id)
    if character is None or character.account_id != session.account_id:
        return None
    return character


def _enter_world(rt: ZoneRuntime, session: Session, character: Character) -> None:
    """Place the character; if it is already playing here, the new connection takes over."""
    cid = character.character_id
    previous = rt.players.get(cid)
    staged = rt.checkpointer.pending.get(cid)
    if previous is not None:
        rt.send(
            previous,
            {
                "type": "notice",
                "code": "session_replaced",
                "message": "this character joined from another connection",
            },
        )
        rt.leave_world(previous)
        previous.close(CloseCode.SESSION_REPLACED, "session replaced")
        rt.disconnects[CloseCode.SESSION_REPLACED] += 1
        staged = rt.checkpointer.pending.get(cid)
    if staged is not None:  # newer than the database: a save is still pending
        zone_id, x, y, hp, level, xp = (
            staged.zone_id,
            staged.x,
            staged.y,
            staged.hp,
            staged.level,
            staged.xp,
        )
    else:
        zone_id, x, y, hp, level, xp = (
            character.zone_id,
            character.x,
            character.y,
            character.hp,
            character.level,
            character.xp,
        )
    if zone_id != rt.spec.zone_id:
        x, y = rt.spec.spawn_x, rt.spec.spawn_y
    actor = rt.world.add_player(cid, character.name, x, y, hp, level, xp, rt.clock.monotonic())
    session.actor = actor
    session.character_id = cid
    session.phase = Phase.PLAYING
    session.unacked = True
    rt.players[cid] = session


def _joined(rt: ZoneRuntime, session: Session, seq: int) -> dict[str, Any]:
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
        "zone": rt.zone_info(),
        "tick": world.tick & 0xFFFFFFFF,
    }


HANDLERS: dict[ClientType, Handler] = {
    ClientType.AUTH: on_auth,
    ClientType.JOIN_GAME: on_join,
    ClientType.MOVE: on_move,
    ClientType.ATTACK: on_attack,
    ClientType.CHAT: on_chat,
    ClientType.PING: on_ping,
    ClientType.INSPECT: on_inspect,
    ClientType.LEAVE: on_leave,
}
