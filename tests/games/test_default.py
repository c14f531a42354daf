"""The default world, played through the test kit: its quest, classes, mana, potions, emotes,
chat commands and monsters — the game a player of today's protocol meets."""

import pytest

from openmmo.sim.events import Loot
from openmmo.testing import GameZone, rejected


@pytest.fixture
def town():
    return GameZone("default", zone="town", spawn_npcs=False)


def kill(zone, hero, npc, skill="strike"):
    while npc.alive:
        assert rejected(zone.attack(hero, npc, skill)) in (None, "cooldown")
        zone.sleep(1.0)


def test_five_rats_finish_the_quest_with_a_title_xp_and_gold(town):
    hero = town.add_player("Hero", x=100, y=100)
    kill(town, hero, town.spawn("rat", 103, 100), "fireball")  # one the hard way
    for _ in range(4):
        town.zone.damage(town.spawn("rat", 102, 100), 100, source=hero)
    stats = hero.stats
    assert (stats["quest"], stats["rats_slain"], stats["title"]) == ("done", 5, "Ratcatcher")
    assert hero.xp == 5 * 15 + 100
    assert town.items_given(hero)["gold"] == 25
    assert [e["progress"] for e in town.game_events("quest", to=hero)] == [1, 2, 3, 4, 5]
    assert town.game_events("quest_complete", to=hero) == [
        {"type": "quest_complete", "quest": "rat_problem", "title": "Ratcatcher"}
    ]
    town.zone.damage(town.spawn("rat", 102, 100), 100, source=hero)  # a sixth counts for nothing
    assert stats["rats_slain"] == 5 and town.hook_failures == []


def test_wolves_do_not_count_for_the_rat_quest(town):
    hero = town.add_player("Hero", x=100, y=100, level=10)
    kill(town, hero, town.spawn("wolf", 102, 100))
    assert hero.stats["rats_slain"] == 0
    assert town.items_given(hero) == {"wolf_pelt": 1, "gold": 3}


def test_a_mage_spends_mana_regains_it_and_mends(town):
    mage = town.add_player("Mage", x=100, y=100, cls="mage")
    friend = town.add_player("Friend", x=103, y=100, hp=50)
    rat = town.spawn("rat", 110, 100)
    assert mage.hp_max == 80
    assert town.attack(mage, rat, "frostbolt").result["damage"] == 14
    assert mage.stats["mana"] == 92
    assert town.attack(mage, friend, "mend").result["healed"] == 25
    assert mage.stats["mana"] == 77
    assert rejected(town.attack(mage, rat, "strike")) == "unknown_skill"  # not a mage skill
    town.sleep(3.0)
    assert mage.stats["mana"] > 77  # 4 a second
    mage.stats["mana"] = 3
    town.sleep(1.5)
    assert rejected(town.attack(mage, rat, "frostbolt")) == "not_enough_mana"


def test_potions_heal_and_restore_and_other_items_are_refused(town):
    hero = town.add_player("Hero", x=100, y=100, hp=40, cls="mage")
    assert town.use_item(hero, "health_potion").result == {"healed": 30}
    assert hero.hp >= 70  # (and it regenerates out of combat)
    hero.stats["mana"] = 10
    assert town.use_item(hero, "mana_potion").result == {"mana": 50}
    assert rejected(town.use_item(hero, "rat_tail")) == "cannot_use"


def test_emotes_reach_the_players_nearby(town):
    hero = town.add_player("Hero", x=100, y=100)
    assert town.send(hero, "emote", emote="wave").error is None
    assert town.game_events("emote") == [{"type": "emote", "entity": hero.id, "emote": "wave"}]
    assert rejected(town.send(hero, "emote", emote="moonwalk")) == "unknown_emote"
    with pytest.raises(ValueError, match="emote"):
        town.send(hero, "emote", emote="x" * 40)  # longer than declared: bad_message


def test_chat_commands(town):
    hero = town.add_player("Hero", x=100, y=100)
    assert town.command(hero, "/quest").result["reply"].startswith("The rat problem: 0 of 5")
    assert town.command(hero, "/who").result == {"reply": "1 players in town"}
    assert rejected(town.command(hero, "/fly")) == "unknown_command"


def test_monsters_behave_differently():
    wilds = GameZone("default", zone="wilds", spawn_npcs=False)
    hero = wilds.add_player("Hero", x=500, y=500, level=20)
    goblin = wilds.spawn("goblin", 506, 500)
    wolf = wilds.spawn("wolf", 500, 508)
    wilds.sleep(3.0)
    assert goblin.target == hero  # aggressive: it came for the hero
    assert wolf.target is None  # a wolf only fights back
    rat = wilds.spawn("rat", 515, 510)
    assert rejected(wilds.attack(hero, rat, "arrow")) is None
    rat_hp = rat.hp
    before = rat.distance_to(hero)
    wilds.sleep(0.5)
    assert rat.target == hero and rat.hp == rat_hp
    assert rat.distance_to(hero) < before  # above 40 %: it fights
    wilds.zone.damage(rat, rat.hp - 10, source=hero)  # now badly hurt
    before = rat.distance_to(hero)
    wilds.sleep(1.0)
    assert rat.distance_to(hero) > before  # skittish: it runs


def test_loot_is_rolled_from_the_table_with_chances():
    wins = 0
    for seed in range(40):
        town = GameZone("default", zone="town", spawn_npcs=False, seed=seed)
        hero = town.add_player("Hero", x=100, y=100)
        rat = town.spawn("rat", 102, 100)
        town.zone.damage(rat, 100, source=hero)
        items = town.items_given(hero)
        assert items["rat_tail"] == 1
        wins += items.get("health_potion", 0)
    assert 2 <= wins <= 20  # one in five


def test_the_town_has_its_rats_and_a_portal_to_the_wilds():
    town = GameZone("default", zone="town")
    assert sum(1 for n in town.zone.npcs if n.name == "rat") == 8
    assert [p.target_zone for p in town.zone.spec.portals] == [2]
    assert not town.zone.spec.pvp and GameZone("default", zone="wilds").zone.spec.pvp


def test_loot_events_name_the_kill():
    town = GameZone("default", zone="town", spawn_npcs=False, seed=3)
    hero = town.add_player("Hero", x=100, y=100)
    town.zone.damage(town.spawn("rat", 102, 100), 100, source=hero)
    assert {loot.source for loot in town.events_of(Loot)} == {"kill:rat"}
