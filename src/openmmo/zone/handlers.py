"""What a zone server does with each client message, typed per message.

Two entry points, by when a message is handled (:data:`openmmo.zone.sessions.IMMEDIATE`):

* :func:`handle_now` — as it arrives: ``auth``, ``ping``, ``inspect``, chat lines, and the
  requests that start with storage (``join_game``, ``inventory``, ``use_item``) or end the
  session (``leave``). None of them changes the world; work that waits on I/O runs as a task
  of the server's TaskGroup and catches its own errors (a failing request must not take the
  zone down).
* :func:`handle_in_tick` — during the tick, before the step: moves, skills, custom messages
  and chat commands become the step's inputs; ``give`` and ``switch_channel`` check the world
  as it stands.

Joining lives in :mod:`openmmo.zone.joining`, transfers in :mod:`openmmo.zone.transfer`.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import unicodedata
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

from openmmo.bus import BusUnavailable, Kind
from openmmo.logs import get_logger
from openmmo.metrics import BUS_MESSAGES, ITEM_GRANTS
from openmmo.protocol.codes import ChatChannel, CloseCode, ErrorCode
from openmmo.protocol.messages import (
    Attack,
    Auth,
    Chat,
    ClientMessage,
    Custom,
    Give,
    Inspect,
    InventoryRequest,
    JoinGame,
    Leave,
    Move,
    Ping,
    Resync,
    SwitchChannel,
    UseItem,
)
from openmmo.protocol.server import Ack, EntityInfo, Inventory, Notice, Pong
from openmmo.protocol.session import Event, Phase
from openmmo.replication.events import chat_event, loot_event, received_event
from openmmo.sim.events import Loot
from openmmo.sim.step import CommandInput, Inputs, ItemInput, MessageInput, SkillInput
from openmmo.sim.world import EntityKind
from openmmo.storage import InsufficientItems, NotOwner, StorageUnavailable
from openmmo.zone.joining import on_join
from openmmo.zone.session import Session, push_event_to
from openmmo.zone.transfer import on_switch_channel

if TYPE_CHECKING:
    from openmmo.zone.runtime import ZoneRuntime

log = get_logger("openmmo.zone")

# Retries of a loot grant while the database is away (seconds before each): about a minute.
LOOT_RETRY_S = (0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0)

GIVE_RANGE = 5.0


def handle_now(rt: ZoneRuntime, session: Session, message: ClientMessage, now: float) -> None:
    match message:
        case Auth():
            rt.sessions.authenticate(session, message.token, message.seq)
        case Ping():
            on_ping(rt, session, message)
        case Resync():
            session.delta_base = None  # the next snapshot is a keyframe...
            session.unacked = session.playing  # ...and it goes out with the next tick
        case JoinGame():
            on_join(rt, session, message, now)
        case InventoryRequest():
            rt.spawn(_inventory(rt, session, message.seq))
        case UseItem():
            rt.spawn(_use_item(rt, session, message))
        case Leave():
            on_leave(rt, session)
        case Chat():
            on_chat(rt, session, message, None, now)
        case Inspect():
            on_inspect(rt, session, message)
        case _:
            raise TypeError(f"{message.kind} is handled in the tick")


def handle_in_tick(
    rt: ZoneRuntime, session: Session, message: ClientMessage, inputs: Inputs, now: float
) -> None:
    """One message from the inbox, for a session whose character is in the world; ``now``
    is when it arrived."""
    cid = session.character_id
    assert cid is not None and session.actor is not None
    match message:
        case Move():
            inputs.move(session.actor.slot, message.x, message.y, now)
            session.unacked = True
            session.last_input_at = now
        case Attack():
            inputs.actions.append(SkillInput(cid, message.seq, message.target_id, message.skill_id))
        case Custom():
            inputs.actions.append(MessageInput(cid, message.seq, message.name, message.data))
        case Chat():  # a command: the game's, in the tick
            on_chat(rt, session, message, inputs, now)
        case Give():
            on_give(rt, session, message)
        case SwitchChannel():
            on_switch_channel(rt, session, message, now)
        case _:
            raise TypeError(f"{message.kind} is handled as it arrives")


LEAVE_SAVE_TIMEOUT_S = 5.0  # a database outage must not hold a leaving client forever


def on_leave(rt: ZoneRuntime, session: Session) -> None:
    """Save, then close (protocol.md §6.8): the character is taken out at the next tick, its
    save lands, and only then does the connection close with 1000 — so the HTTP API and any
    other server see the saved state once the client sees the close."""
    if session.phase is not Phase.PLAYING:  # lobby or joining: nothing to save
        rt.play.request_leave_nowait(session)
        rt.sessions.close(session, CloseCode.NORMAL, "bye")
        return
    session.apply(Event.LEAVE)
    rt.spawn(_leave(rt, session))


async def _leave(rt: ZoneRuntime, session: Session) -> None:
    left = await rt.play.request_leave(session)
    if left is not None and session.character_id is not None:
        await rt.checkpointer.saved(session.character_id, LEAVE_SAVE_TIMEOUT_S)
    rt.sessions.close(session, CloseCode.NORMAL, "bye")


def on_ping(rt: ZoneRuntime, session: Session, msg: Ping) -> None:
    rt.sessions.send(session, Pong(msg.seq, msg.client_time, int(rt.clock.time() * 1000)))


# --- chat ------------------------------------------------------------------------------------
def on_chat(
    rt: ZoneRuntime, session: Session, msg: Chat, inputs: Inputs | None, now: float
) -> None:
    """A chat line, at once (``inputs`` None; a ``say`` line's audience comes from the last
    tick's grid), or a command in the tick (``inputs`` given)."""
    sessions = rt.sessions
    text = _clean(msg.message)
    if not text:
        sessions.send_error(session, ErrorCode.BAD_MESSAGE, "chat message is empty", msg.seq)
        return
    limit = sessions.limits.max_chat_chars
    if len(text) > limit:
        sessions.send_error(
            session,
            ErrorCode.CHAT_TOO_LONG,
            f"chat messages are limited to {limit} characters",
            msg.seq,
        )
        return
    assert session.character_id is not None and session.actor is not None
    if inputs is not None and text.startswith("/") and "on_chat_command" in rt.play.game.hooks:
        name, _, args = text[1:].partition(" ")
        inputs.actions.append(CommandInput(session.character_id, msg.seq, name, args.strip()))
        return
    if not session.chat_bucket.take(now):
        sessions.send_error(session, ErrorCode.RATE_LIMITED, "you are chatting too fast", msg.seq)
        return
    time_ms = int(rt.clock.time() * 1000)
    payload = {
        "from": session.character_id,
        "name": session.actor.name,
        "message": text,
        "time_ms": time_ms,
        "region": rt.config.region,
    }
    if msg.channel is ChatChannel.GLOBAL:
        rt.spawn(_publish(rt, session, msg.seq, Kind.CHAT, payload, None))
        return
    if msg.channel is ChatChannel.WHISPER:
        assert msg.to is not None
        rt.spawn(_whisper(rt, session, msg, msg.to, payload))
        return
    event = chat_event(msg.channel.value, session.character_id, session.actor.name, text, time_ms)
    if msg.channel is ChatChannel.ZONE:
        push_event_to(sessions.players.values(), event)
    else:
        push_event_to(_near(rt, session), event)
    sessions.send(session, Ack(msg.seq))


async def _publish(
    rt: ZoneRuntime,
    session: Session,
    seq: int,
    kind: Kind,
    payload: dict[str, Any],
    server_id: str | None,
) -> None:
    """Hand a chat line to the bus (to every region's servers when ``server_id`` is None)."""
    try:
        if server_id is None:
            await rt.bus.broadcast_global(kind, payload, rt.config.server_id)
        else:
            await rt.bus.send(server_id, kind, payload, rt.config.server_id)
    except BusUnavailable:
        rt.sessions.send_error(
            session, ErrorCode.UNAVAILABLE, "cross-server chat is unavailable", seq
        )
        return
    BUS_MESSAGES.labels("out", kind.value).inc()
    rt.sessions.send(session, Ack(seq))


async def _whisper(
    rt: ZoneRuntime, session: Session, msg: Chat, to: str, payload: dict[str, Any]
) -> None:
    """To the server the database says the recipient plays on, in this region; else (another
    region named, or not playing here, or the database down) to wherever a character of that
    name is present, by the bus's player routes."""
    seq = msg.seq
    if msg.region in (None, rt.config.region):
        try:
            target = await rt.storage.character_by_name(to)
            owner = (
                None
                if target is None
                else await rt.storage.owner_of(target.character_id, rt.clock.time())
            )
        except StorageUnavailable:
            target = owner = None
        if target is not None and owner is not None:
            payload = {**payload, "to": target.character_id}
            await _publish(rt, session, seq, Kind.WHISPER, payload, owner)
            return
    payload = {**payload, "to_name": to, "to_region": msg.region}
    try:
        sent = await rt.bus.send_player(to, msg.region, Kind.WHISPER, payload, rt.config.server_id)
    except BusUnavailable:
        rt.sessions.send_error(session, ErrorCode.UNAVAILABLE, "whispers are unavailable", seq)
        return
    if not sent:
        where = "in the world" if msg.region is None else f"in region {msg.region}"
        rt.sessions.send_error(session, ErrorCode.PLAYER_OFFLINE, f"{to} is not {where}", seq)
        return
    BUS_MESSAGES.labels("out", Kind.WHISPER.value).inc()
    rt.sessions.send(session, Ack(seq))


def _near(rt: ZoneRuntime, session: Session) -> list[Session]:
    """Players whose interest area covers the speaker (as of the last tick's grid)."""
    assert session.character_id is not None
    found = rt.replicator.players_near(*rt.play.world.position(session.character_id))
    if session not in found:  # identity: sessions do not define equality
        return [*found, session]  # joined after the last grid rebuild: still hears itself
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


# --- world queries ---------------------------------------------------------------------------
def on_inspect(rt: ZoneRuntime, session: Session, msg: Inspect) -> None:
    world = rt.play.world
    entities = []
    for entity_id in msg.ids:
        actor = world.actors.get(entity_id)
        if actor is not None:
            info: dict[str, Any] = {
                "id": entity_id,
                "kind": int(actor.kind),
                "name": actor.name,
                "level": int(world.level[actor.slot]),
            }
            if actor.kind is EntityKind.PLAYER:
                info["stats"] = world.schema.public_view(actor.stats)
            entities.append(info)
    rt.sessions.send(session, EntityInfo(msg.seq, entities))


# --- items -----------------------------------------------------------------------------------
def on_give(rt: ZoneRuntime, session: Session, msg: Give) -> None:
    assert session.character_id is not None
    sessions, world = rt.sessions, rt.play.world
    receiver = sessions.players.get(msg.target_id)
    if receiver is None or msg.target_id == session.character_id:
        sessions.send_error(
            session, ErrorCode.INVALID_TARGET, "give to another player here", msg.seq
        )
        return
    (x0, y0), (x1, y1) = world.position(session.character_id), world.position(msg.target_id)
    if math.hypot(x1 - x0, y1 - y0) > GIVE_RANGE:
        sessions.send_error(
            session, ErrorCode.OUT_OF_RANGE, f"stand within {GIVE_RANGE:g} units to give", msg.seq
        )
        return
    rt.spawn(_give(rt, session, receiver, msg))


async def _give(rt: ZoneRuntime, session: Session, receiver: Session, msg: Give) -> None:
    assert session.character_id is not None
    moved = await _items(
        rt,
        session,
        msg.seq,
        rt.storage.move_items(
            session.character_id,
            msg.target_id,
            msg.item,
            msg.quantity,
            "give",
            rt.config.server_id,
            session.epoch,
        ),
        f"you do not hold {msg.quantity} {msg.item}",
    )
    if moved is None:
        return
    mine, theirs = moved
    rt.sessions.send(session, Ack(msg.seq, {"inventory": mine}))
    receiver.push_event(received_event(session.character_id, msg.item, msg.quantity, theirs))


T = TypeVar("T")


async def _items(
    rt: ZoneRuntime, session: Session, seq: int, change: Awaitable[T], too_few: str
) -> T | None:
    """Run one inventory change (a give, an item use); its failures are answered alike.
    None when it failed."""
    assert session.character_id is not None
    try:
        return await change
    except InsufficientItems:
        rt.sessions.send_error(session, ErrorCode.INSUFFICIENT_ITEMS, too_few, seq)
    except NotOwner:
        rt.ownership_lost([session.character_id])
    except StorageUnavailable:
        rt.sessions.send_error(session, ErrorCode.UNAVAILABLE, "items are unavailable; retry", seq)
    return None


def grant_loot(rt: ZoneRuntime, loot: Loot) -> None:
    """Items were earned (a kill, or the game's ``give_item``): grant them in the database,
    then tell the player (a ``loot`` event is a promise that the items are saved)."""
    session = rt.sessions.players.get(loot.entity_id)
    if session is not None:
        rt.spawn(_grant(rt, session, loot))


async def _grant(rt: ZoneRuntime, session: Session, loot: Loot) -> None:
    """Grant, retrying through a database outage (the same key: granted at most once); the
    ``loot`` event goes out when it is committed, however late. Given up only after
    ``LOOT_RETRY_S`` (or when the server drains), and then the player is told."""
    cid, epoch = session.character_id, session.epoch
    assert cid is not None
    items = dict(loot.items)
    zone = rt.play.label
    key = secrets.token_hex(8)
    for attempt, delay in enumerate((0.0, *LOOT_RETRY_S)):
        if attempt and rt.sessions.draining:
            break
        await asyncio.sleep(delay)
        try:
            inventory = await rt.storage.grant_items(
                cid, items, loot.source, rt.config.server_id, epoch, key=key
            )
        except NotOwner:
            ITEM_GRANTS.labels(zone, "not_owner").inc()
            if session.character_id == cid and session.epoch == epoch:
                rt.ownership_lost([cid])
            else:  # it left or moved on while we retried; the new owner never saw the kill
                log.warning("loot_lost", character_id=cid, items=items, why="owner changed")
            return
        except StorageUnavailable:
            if attempt == 0:
                ITEM_GRANTS.labels(zone, "delayed").inc()
                log.warning("loot_delayed", character_id=cid, items=items)
            continue
        ITEM_GRANTS.labels(zone, "ok").inc()
        if session.character_id == cid:
            session.push_event(loot_event(items, inventory))
        return
    ITEM_GRANTS.labels(zone, "failed").inc()
    log.error("loot_lost", character_id=cid, items=items, why="storage unavailable")
    if session.character_id == cid:
        rt.sessions.send(
            session,
            Notice("loot_unsaved", f"{_describe(items)} could not be saved and were not given"),
        )


def _describe(items: dict[str, int]) -> str:
    return ", ".join(f"{quantity} {item}" for item, quantity in sorted(items.items()))


async def _inventory(rt: ZoneRuntime, session: Session, seq: int) -> None:
    assert session.character_id is not None
    try:
        items = await rt.storage.inventory(session.character_id)
    except StorageUnavailable:
        rt.sessions.send_error(session, ErrorCode.UNAVAILABLE, "items are unavailable; retry", seq)
        return
    rt.sessions.send(session, Inventory(seq, items))


async def _use_item(rt: ZoneRuntime, session: Session, msg: UseItem) -> None:
    """Take the item from the inventory, then let the game's ``on_use_item`` apply it in
    the next tick (a refusal gives the item back: :func:`refund_item`)."""
    assert session.character_id is not None
    sessions = rt.sessions
    if "on_use_item" not in rt.play.game.hooks:
        sessions.send_error(session, ErrorCode.UNAVAILABLE, "items cannot be used here", msg.seq)
        return
    taken = await _items(
        rt,
        session,
        msg.seq,
        rt.storage.take_items(
            session.character_id, msg.item, 1, "use", rt.config.server_id, session.epoch
        ),
        f"you hold no {msg.item}",
    )
    if taken is None:
        return
    rt.play.request_item_use(ItemInput(session.character_id, msg.seq, msg.item))


def refund_item(rt: ZoneRuntime, action: ItemInput) -> None:
    """The game refused (or failed) an item use: give the item back."""
    session = rt.sessions.players.get(action.entity_id)
    if session is None:  # left between taking the item and the tick: nobody to give it to
        log.warning("item_refund_lost", character_id=action.entity_id, item=action.item)
        return
    rt.spawn(_grant(rt, session, Loot(action.entity_id, ((action.item, 1),), "refund:use")))
