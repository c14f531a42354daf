"""Declared fields: checked where set, loaded tolerantly, shown to whom they say."""

import pytest

from openmmo.sim.schema import EVERYONE, NOBODY, OWNER, CharacterSchema, Field


def schema():
    return CharacterSchema(
        [
            Field("mana", int, 100, min=0, max=200, visible=OWNER),
            Field("title", str, "", max_chars=8, visible=EVERYONE),
            Field("secret", float, 0.5, visible=NOBODY),
            Field("buff", bool, False, persist=False),
        ],
        ["knight", "mage"],
    )


def test_values_are_checked_for_type_and_range_where_they_are_set():
    s = schema()
    assert s.check("mana", 150) == 150
    assert s.check("secret", 2) == 2.0  # an int is a fine float
    with pytest.raises(ValueError, match="mana: 500 is above its maximum 200"):
        s.check("mana", 500)
    with pytest.raises(ValueError, match="mana: -1 is below its minimum 0"):
        s.check("mana", -1)
    with pytest.raises(ValueError, match="is not int"):
        s.check("mana", 1.5)
    with pytest.raises(ValueError, match="is not int"):
        s.check("mana", True)
    with pytest.raises(ValueError, match="longer than 8"):
        s.check("title", "Grandmaster")
    with pytest.raises(ValueError, match="not finite"):
        s.check("secret", float("nan"))
    with pytest.raises(ValueError, match="not a class"):
        s.check("class", "rogue")
    with pytest.raises(KeyError):
        s.check("gold", 1)


def test_unbounded_integers_stay_within_what_json_clients_read():
    with pytest.raises(ValueError, match="above its maximum"):
        Field("big", int, 2**60)


def test_loading_fills_defaults_drops_misfits_and_keeps_unknown_keys():
    loaded = schema().load({"mana": 999, "title": "Sir", "old_field": 3, "buff": True})
    assert loaded == {
        "class": "knight",
        "mana": 100,  # out of range now: the default
        "title": "Sir",
        "secret": 0.5,
        "buff": False,  # not persisted: always starts at its default
        "old_field": 3,  # a field the game no longer declares is kept
    }


def test_what_is_saved_and_who_sees_what():
    s = schema()
    stats = s.load({"class": "mage", "mana": 40, "title": "Dr", "old_field": 1})
    assert s.saved(stats) == {
        "class": "mage",
        "mana": 40,
        "title": "Dr",
        "secret": 0.5,
        "old_field": 1,
    }
    assert s.owner_view(stats) == {"mana": 40, "title": "Dr", "buff": False}
    assert s.public_view(stats) == {"title": "Dr"}
    assert [f["name"] for f in s.describe()] == ["class", "mana", "title", "buff"]


def test_field_names_are_checked():
    with pytest.raises(ValueError, match="lower_snake_case"):
        Field("Mana", int, 0)
    with pytest.raises(ValueError, match="core field"):
        Field("hp", int, 0)
    with pytest.raises(ValueError, match="type must be"):
        Field("bag", list, [])
