"""One function per client message type, called by :meth:`ZoneRuntime.on_message`.

Each handler runs on the event loop and must not block; what waits on I/O is spawned into the
server's TaskGroup and catches its own errors (a failing request must not take the zone
down). Joining lives in :mod:`openmmo.zone.joining`, transfers in :mod:`openmmo.zone.transfer`.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from openmmo.bus import BusUnavailable, Kind
from openmmo.logs import get_logger
from openmmo.metrics import BUS_MESSAGES, ITEM_GRANTS
from openmmo.protocol.codes import ChatChannel, ClientType, CloseCode, ErrorCode
from openmmo.protocol.messages import (
    Attack,
    Auth,
    Chat,
    Give,
    Inspect,
    InventoryRequest,
    Leave,
    Move,
    Ping,
)
from openmmo.protocol.snapshot import WireEvent
from openmmo.sim.combat import apply_attack
from openmmo.sim.events import Loot
from openmmo.sim.movement import apply_move
from openmmo.storage import InsufficientItems, NotOwner, StorageUnavailable
from openmmo.zone.joining import on_join
from openmmo.zone.session import Session, push_event_to
from openmmo.zone.transfer import check_portal, on_switch_channel

if TYPE_CHECKING:
    from openmmo.zone.runtime import ZoneRuntime

log = get_logger("openmmo.zone")

Handler = Callable[["ZoneRuntime", Session, Any, float], None]

GIVE_RANGE = 5.0


def on_auth(rt: ZoneRuntime, session: Session, msg: Auth, now: float) -> None:
    rt.authenticate(session, msg.token, msg.seq)


def on_move(rt: ZoneRuntime, session: Session, msg: Move, now: float) -> None:
    assert session.character_id is not None
    apply_move(rt.world, session.character_id, msg.x, msg.y, now)
    session.unacked = True
    session.last_input_at = now
    if rt.spec.portals:
        check_portal(rt, session, now)


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


# --- chat ------------------------------------------------------------------------------------
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
    payload = {
        "from": session.character_id,
        "name": session.actor.name,
        "message": text,
        "time_ms": int(rt.clock.time() * 1000),
    }
    if msg.channel is ChatChannel.GLOBAL:
        rt.spawn(_publish(rt, session, msg.seq, Kind.CHAT, payload, None))
        return
    if msg.channel is ChatChannel.WHISPER:
        assert msg.to is not None
        rt.spawn(_whisper(rt, session, msg.seq, msg.to, payload))
        return
    event = WireEvent({"type": "chat", "channel": msg.channel.value, **payload})
    recipients: Any = rt.players.values() if msg.channel is ChatChannel.ZONE else _near(rt, session)
    push_event_to(recipients, event)
    rt.send(session, {"type": "ack", "seq": msg.seq})


async def _publish(
    rt: ZoneRuntime,
    session: Session,
    seq: int,
    kind: Kind,
    payload: dict[str, Any],
    server_id: str | None,
) -> None:
    try:
        if server_id is None:
            await rt.bus.broadcast(kind, payload, rt.config.server_id)
        else:
            await rt.bus.send(server_id, kind, payload, rt.config.server_id)
    except BusUnavailable:
        rt.send_error(session, ErrorCode.UNAVAILABLE, "cross-server chat is unavailable", seq)
        return
    BUS_MESSAGES.labels("out", kind.value).inc()
    rt.send(session, {"type": "ack", "seq": seq})


async def _whisper(
    rt: ZoneRuntime, session: Session, seq: int, to: str, payload: dict[str, Any]
) -> None:
    try:
        target = await rt.storage.character_by_name(to)
        owner = (
            None
            if target is None
            else await rt.storage.owner_of(target.character_id, rt.clock.time())
        )
    except StorageUnavailable:
        rt.send_error(session, ErrorCode.UNAVAILABLE, "whispers are unavailable", seq)
        return
    if target is None or owner is None:
        rt.send_error(session, ErrorCode.PLAYER_OFFLINE, f"{to} is not in the world", seq)
        return
    await _publish(rt, session, seq, Kind.WHISPER, {**payload, "to": target.character_id}, owner)


def _near(rt: ZoneRuntime, session: Session) -> list[Session]:
    """Players whose interest area covers the speaker (as of the last tick's grid)."""
    assert session.actor is not None
    found = rt.players_near(*rt.world.position(session.actor.entity_id))
    if not any(s is session for s in found):
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


# --- items -----------------------------------------------------------------------------------
def on_give(rt: ZoneRuntime, session: Session, msg: Give, now: float) -> None:
    assert session.character_id is not None
    receiver = rt.players.get(msg.target_id)
    if receiver is None or msg.target_id == session.character_id:
        rt.send_error(session, ErrorCode.INVALID_TARGET, "give to another player here", msg.seq)
        return
    (x0, y0), (x1, y1) = rt.world.position(session.character_id), rt.world.position(msg.target_id)
    if math.hypot(x1 - x0, y1 - y0) > GIVE_RANGE:
        rt.send_error(
            session, ErrorCode.OUT_OF_RANGE, f"stand within {GIVE_RANGE:g} units to give", msg.seq
        )
        return
    rt.spawn(_give(rt, session, receiver, msg))


async def _give(rt: ZoneRuntime, session: Session, receiver: Session, msg: Give) -> None:
    assert session.character_id is not None
    try:
        mine, theirs = await rt.storage.move_items(
            session.character_id,
            msg.target_id,
            msg.item,
            msg.quantity,
            "give",
            rt.config.server_id,
            session.epoch,
        )
    except InsufficientItems:
        rt.send_error(
            session,
            ErrorCode.INSUFFICIENT_ITEMS,
            f"you do not hold {msg.quantity} {msg.item}",
            msg.seq,
        )
        return
    except NotOwner:
        rt.ownership_lost([session.character_id])
        return
    except StorageUnavailable:
        rt.send_error(session, ErrorCode.UNAVAILABLE, "items are unavailable; retry", msg.seq)
        return
    rt.send(session, {"type": "ack", "seq": msg.seq, "result": {"inventory": mine}})
    receiver.push_event(
        WireEvent(
            {
                "type": "received",
                "from": session.character_id,
                "item": msg.item,
                "quantity": msg.quantity,
                "inventory": theirs,
            }
        )
    )


def grant_loot(rt: ZoneRuntime, loot: Loot) -> None:
    """A kill earned items: grant them in the database, then tell the player (a ``loot``
    event is a promise that the items are saved)."""
    session = rt.players.get(loot.entity_id)
    if session is not None:
        rt.spawn(_grant(rt, session, loot))


async def _grant(rt: ZoneRuntime, session: Session, loot: Loot) -> None:
    assert session.character_id is not None
    items = dict(loot.items)
    try:
        inventory = await rt.storage.grant_items(
            session.character_id, items, loot.source, rt.config.server_id, session.epoch
        )
    except NotOwner:
        ITEM_GRANTS.labels(rt.spec.name, "not_owner").inc()
        rt.ownership_lost([session.character_id])
        return
    except StorageUnavailable:
        ITEM_GRANTS.labels(rt.spec.name, "failed").inc()
        log.warning("loot_lost", character_id=session.character_id, items=items)
        return
    ITEM_GRANTS.labels(rt.spec.name, "ok").inc()
    session.push_event(WireEvent({"type": "loot", "items": items, "inventory": inventory}))


def on_inventory(rt: ZoneRuntime, session: Session, msg: InventoryRequest, now: float) -> None:
    rt.spawn(_inventory(rt, session, msg.seq))


async def _inventory(rt: ZoneRuntime, session: Session, seq: int) -> None:
    assert session.character_id is not None
    try:
        items = await rt.storage.inventory(session.character_id)
    except StorageUnavailable:
        rt.send_error(session, ErrorCode.UNAVAILABLE, "items are unavailable; retry", seq)
        return
    rt.send(session, {"type": "inventory", "seq": seq, "items": items})


# --- the rest --------------------------------------------------------------------------------
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


HANDLERS: dict[ClientType, Handler] = {
    ClientType.AUTH: on_auth,
    ClientType.JOIN_GAME: on_join,
    ClientType.MOVE: on_move,
    ClientType.ATTACK: on_attack,
    ClientType.CHAT: on_chat,
    ClientType.PING: on_ping,
    ClientType.INSPECT: on_inspect,
    ClientType.LEAVE: on_leave,
    ClientType.GIVE: on_give,
    ClientType.INVENTORY: on_inventory,
    ClientType.SWITCH_CHANNEL: on_switch_channel,
}
