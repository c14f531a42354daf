"""The facade game code sees: handles, events, timers and their checks."""

import pytest

from openmmo.sim.events import GameEvent
from openmmo.testing import GameZone


@pytest.fixture
def town():
    return GameZone("default", zone="town", spawn_npcs=False)


def test_a_handle_of_an_entity_that_left_refuses_to_be_used(town):
    hero = town.add_player("Hero", x=100, y=100)
    rat = town.spawn("rat", 101, 100)
    town.zone.despawn(rat)
    assert not rat.in_zone
    with pytest.raises(LookupError, match="has left the zone"):
        _ = rat.hp
    other = town.spawn("rat", 300, 300)  # reuses the slot
    assert other.position == (300.0, 300.0) and hero.in_zone


def test_events_must_be_wire_values_and_not_core_types(town):
    hero = town.add_player("Hero", x=100, y=100)
    hero.send_event("treasure", where=[1, 2], what={"gold": 3}, ok=True, note=None)
    assert town.game_events("treasure", to=hero) == [
        {"type": "treasure", "where": [1, 2], "what": {"gold": 3}, "ok": True, "note": None}
    ]
    with pytest.raises(ValueError, match="not core"):
        town.zone.broadcast("hit", damage=1)
    with pytest.raises(ValueError, match="not a wire value"):
        hero.send_event("bad", value=object())
    with pytest.raises(ValueError, match="finite"):
        hero.send_event("bad", value=float("inf"))
    with pytest.raises(ValueError, match="survive JSON"):
        hero.send_event("bad", value=2**60)
    with pytest.raises(ValueError, match="keys must be strings"):
        hero.send_event("bad", value={1: 2})


def test_audiences_of_game_events(town):
    hero = town.add_player("Hero", x=100, y=100)
    town.zone.emit_near(5, 6, "boom")
    town.zone.broadcast("bell")
    to = {e.body["type"]: e.to for e in town.events_of(GameEvent)}
    assert to == {"boom": (5.0, 6.0), "bell": None}
    assert hero.id


def test_timers_run_at_tick_resolution_repeat_and_cancel(town):
    calls = []
    town.zone.after(0.01, calls.append, "once")
    every = town.zone.every(0.5, calls.append, "tick")
    town.tick()
    assert calls == ["once"]
    town.sleep(1.0)
    assert calls.count("tick") == 2
    every.cancel()
    town.sleep(1.0)
    assert calls.count("tick") == 2
    with pytest.raises(ValueError):
        town.zone.every(0, calls.append)


def test_a_timer_that_raises_is_contained(town):
    town.zone.after(0.0, lambda: 1 / 0)
    town.tick()
    assert [f.hook for f in town.hook_failures] == ["timer"]


def test_stats_are_checked_and_class_is_read_only(town):
    hero = town.add_player("Hero", x=100, y=100)
    with pytest.raises(ValueError, match="above its maximum"):
        hero.stats["mana"] = 500
    with pytest.raises(ValueError, match="chosen at creation"):
        hero.stats["class"] = "mage"
    assert hero.stats["mana"] == 100


def test_damage_heal_and_xp_through_the_facade(town):
    hero = town.add_player("Hero", x=100, y=100)
    rat = town.spawn("rat", 101, 100)
    assert town.zone.damage(rat, 15, source=hero) == 15
    assert rat.target == hero
    assert town.zone.heal(rat, 100) == 15
    town.zone.give_xp(hero, 100)
    assert hero.level == 2 and hero.hp == hero.hp_max == 110
    near = town.zone.entities_near(100, 100, 5)
    assert near[0] == hero and rat in near
