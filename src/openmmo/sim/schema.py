"""The character record and its declared schema.

A character is one record, :class:`CharacterState`: the core fields the engine and the
database columns know (zone, position, HP, level, XP) and ``stats``, the fields a game
declares (:class:`Field`), which persist in one JSON column. :class:`CharacterSchema` is
derived from the game's declarations and is what storage, checkpoints, snapshots, ``joined``,
``entity_info`` and the HTTP character view read: who may see a field (everyone, its owner,
nobody), whether it is saved, its type and range. A value is checked where it is set
(:meth:`Field.check`), so an out-of-range stat is a clear error in the hook that set it, never
a silently wrapped number on the wire.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CORE_FIELDS = frozenset({"zone_id", "x", "y", "hp", "hp_max", "level", "xp", "name", "id"})
CLASS_FIELD = "class"
MAX_INT = 2**53  # exact in JSON and a float64, which is what a JavaScript client has


class Visibility(StrEnum):
    EVERYONE = "everyone"  # in entity_info and in area `stats` events
    OWNER = "owner"  # in joined, the HTTP character view and private `stats` events
    NOBODY = "nobody"  # server only


EVERYONE = Visibility.EVERYONE
OWNER = Visibility.OWNER
NOBODY = Visibility.NOBODY

_TYPES: dict[type, str] = {int: "int", float: "float", str: "str", bool: "bool"}


@dataclass(frozen=True, slots=True)
class Field:
    """One declared field of a character (``type`` is int, float, str or bool).

    ``min``/``max`` bound numbers, ``max_chars`` strings. ``persist=False`` fields start from
    ``default`` on every join.
    """

    name: str
    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    max_chars: int = 64
    visible: Visibility = OWNER
    persist: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if not FIELD_NAME.match(self.name) or self.name in CORE_FIELDS:
            raise ValueError(
                f"field {self.name!r}: names are lower_snake_case, not a core field name"
            )
        if self.type not in _TYPES:
            raise ValueError(f"field {self.name!r}: type must be int, float, str or bool")
        self.check(self.default)

    @property
    def type_name(self) -> str:
        return _TYPES[self.type]

    def check(self, value: Any) -> Any:
        """``value`` if it fits the field, else :class:`ValueError` saying why."""
        kind: Any = self.type
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            raise ValueError(f"{self.name}: {value!r} is not {self.type_name}")
        if kind is str and len(value) > self.max_chars:
            raise ValueError(f"{self.name}: longer than {self.max_chars} characters")
        if kind in (int, float):
            if kind is float and not math.isfinite(value):
                raise ValueError(f"{self.name}: {value!r} is not finite")
            low = -MAX_INT if self.min is None else self.min
            high = MAX_INT if self.max is None else self.max
            if value < low:
                raise ValueError(f"{self.name}: {value!r} is below its minimum {low:g}")
            if value > high:
                raise ValueError(f"{self.name}: {value!r} is above its maximum {high:g}")
        return value

    def describe(self) -> dict[str, Any]:
        """The field as announced to clients in ``welcome``."""
        out: dict[str, Any] = {"name": self.name, "type": self.type_name}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.type is str:
            out["max_chars"] = self.max_chars
        out["visible"] = self.visible.value
        return out


@dataclass(frozen=True, slots=True)
class CharacterState:
    """A character's progress: what is saved, checkpointed and transferred."""

    zone_id: int
    x: float
    y: float
    hp: int  # 0 means "full" (a new character, or one saved dead)
    level: int
    xp: int
    stats: Mapping[str, Any] = field(default_factory=dict)

    def placed(self, zone_id: int, x: float, y: float) -> CharacterState:
        return CharacterState(zone_id, x, y, self.hp, self.level, self.xp, self.stats)


class CharacterSchema:
    """The fields of a game's characters: the class, then the game's own fields."""

    def __init__(self, fields: Iterable[Field], class_names: Iterable[str]):
        names = tuple(class_names)
        self.class_field = Field(
            CLASS_FIELD, str, names[0] if names else "", max_chars=32, visible=EVERYONE
        )
        self.class_names = frozenset(names)
        self.fields: dict[str, Field] = {CLASS_FIELD: self.class_field}
        self.fields.update((f.name, f) for f in fields)
        # The views hold the game's own fields; the class travels as its own field.
        own = [f for f in self.fields.values() if f.name != CLASS_FIELD]
        self._owner = tuple(f.name for f in own if f.visible is not NOBODY)
        self._public = tuple(f.name for f in own if f.visible is EVERYONE)
        self._unsaved = frozenset(f.name for f in self.fields.values() if not f.persist)

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields.values())

    def check(self, name: str, value: Any) -> Any:
        declared = self.fields.get(name)
        if declared is None:
            raise KeyError(f"no field {name!r} is declared")
        value = declared.check(value)
        if name == CLASS_FIELD and value not in self.class_names:
            raise ValueError(f"class: {value!r} is not a class of this game")
        return value

    def load(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """Live stats from saved ones: every declared field, stored value when it still
        fits its declaration, else its default. Unknown keys (a field the game no longer
        declares) are kept, so removing a field by mistake loses nothing."""
        stats = {k: v for k, v in stored.items() if k not in self.fields}
        for name, declared in self.fields.items():
            value = stored.get(name, declared.default) if declared.persist else declared.default
            try:
                stats[name] = self.check(name, value)
            except ValueError:
                stats[name] = declared.default
        return stats

    def saved(self, stats: Mapping[str, Any]) -> dict[str, Any]:
        """What of ``stats`` is persisted (declared persistent fields and unknown keys): a
        copy, taken once a second for every player (the checkpoints), so the usual case of
        a game whose fields all persist is a plain dict copy."""
        if not self._unsaved:
            return dict(stats)
        return {k: v for k, v in stats.items() if k not in self._unsaved}

    def owner_view(self, stats: Mapping[str, Any]) -> dict[str, Any]:
        return {name: stats[name] for name in self._owner if name in stats}

    def public_view(self, stats: Mapping[str, Any]) -> dict[str, Any]:
        return {name: stats[name] for name in self._public if name in stats}

    def visibility(self, name: str) -> Visibility:
        return self.fields[name].visible

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.fields.values() if f.visible is not NOBODY]
