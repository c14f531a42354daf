"""Simulation events as wire events, with who should receive them."""

from __future__ import annotations

from dataclasses import dataclass

from openmmo.protocol.codes import EventType
from openmmo.protocol.snapshot import WireEvent
from openmmo.sim.events import (
    Announcement,
    Death,
    GameEvent,
    Hit,
    LevelUp,
    Respawn,
    SimEvent,
    StatsChanged,
    XpGain,
)


@dataclass(frozen=True, slots=True)
class Area:
    """Everyone whose interest area covers (x, y), except the entity ``exclude``."""

    x: float
    y: float
    exclude: int | None = None


@dataclass(frozen=True, slots=True)
class Private:
    """Only the player with this entity id."""

    entity_id: int


@dataclass(frozen=True, slots=True)
class Everyone:
    """Every player in the zone (this channel)."""


Audience = Area | Private | Everyone


def chat_event(
    channel: str, sender: int, name: str, message: str, time_ms: int, region: str | None = None
) -> WireEvent:
    """``region``: the speaker's, on the channels that cross regions (``global``, ``whisper``);
    ``from`` is an id in that region."""
    event: dict[str, object] = {
        "type": EventType.CHAT.value,
        "channel": channel,
        "from": sender,
        "name": name,
        "message": message,
        "time_ms": time_ms,
    }
    if region is not None:
        event["region"] = region
    return WireEvent(event)


def announce_event(message: str) -> WireEvent:
    return WireEvent({"type": EventType.ANNOUNCE.value, "message": message})


def loot_event(items: dict[str, int], inventory: dict[str, int]) -> WireEvent:
    return WireEvent({"type": EventType.LOOT.value, "items": items, "inventory": inventory})


def received_event(sender: int, item: str, quantity: int, inventory: dict[str, int]) -> WireEvent:
    return WireEvent(
        {
            "type": EventType.RECEIVED.value,
            "from": sender,
            "item": item,
            "quantity": quantity,
            "inventory": inventory,
        }
    )


def routed(event: SimEvent) -> list[tuple[WireEvent, Audience]]:
    """The wire events of one simulation event (loot excepted: it is granted first)."""
    if isinstance(event, StatsChanged):
        out: list[tuple[WireEvent, Audience]] = [
            (_stats(event.entity_id, event.owner), Private(event.entity_id))
        ]
        if event.public:
            out.append(
                (_stats(event.entity_id, event.public), Area(event.x, event.y, event.entity_id))
            )
        return out
    if isinstance(event, GameEvent):
        to = event.to
        audience: Audience = (
            Everyone() if to is None else Private(to) if isinstance(to, int) else Area(*to)
        )
        return [(WireEvent(event.body), audience)]
    if isinstance(event, Announcement):
        return [(announce_event(event.message), Everyone())]
    return [to_wire(event)]


def _stats(entity_id: int, stats: dict[str, object]) -> WireEvent:
    return WireEvent({"type": EventType.STATS.value, "entity": entity_id, "stats": stats})


def to_wire(event: SimEvent) -> tuple[WireEvent, Audience]:
    if isinstance(event, Hit):
        return WireEvent(
            {
                "type": EventType.HIT.value,
                "attacker": event.attacker_id,
                "target": event.target_id,
                "skill": event.skill_id,
                "damage": event.damage,
                "hp": event.target_hp,
            }
        ), Area(event.x, event.y)
    if isinstance(event, Death):
        return WireEvent(
            {"type": EventType.DEATH.value, "entity": event.entity_id, "killer": event.killer_id}
        ), Area(event.x, event.y)
    if isinstance(event, Respawn):
        return WireEvent(
            {
                "type": EventType.RESPAWN.value,
                "entity": event.entity_id,
                "x": round(event.x, 2),
                "y": round(event.y, 2),
                "hp": event.hp,
            }
        ), Area(event.x, event.y)
    if isinstance(event, XpGain):
        return WireEvent(
            {"type": EventType.XP.value, "amount": event.amount, "total": event.total}
        ), Private(event.entity_id)
    if isinstance(event, LevelUp):
        return WireEvent(
            {
                "type": EventType.LEVEL_UP.value,
                "entity": event.entity_id,
                "level": event.level,
                "hp_max": event.hp_max,
            }
        ), Area(event.x, event.y)
    raise TypeError(f"unknown simulation event {event!r}")
