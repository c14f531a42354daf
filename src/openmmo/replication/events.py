"""Simulation events as wire events, with who should receive them."""

from __future__ import annotations

from dataclasses import dataclass

from openmmo.protocol.codes import EventType
from openmmo.protocol.snapshot import WireEvent
from openmmo.sim.events import Death, Hit, LevelUp, Respawn, SimEvent, XpGain


@dataclass(frozen=True, slots=True)
class Area:
    """Everyone whose interest area covers (x, y)."""

    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Private:
    """Only the player with this entity id."""

    entity_id: int


Audience = Area | Private


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
