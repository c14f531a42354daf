"""The capture-the-flag example, played through OpenMMO's test kit (no sockets)."""

import pytest
from ctf import BASES, ROUND_S, game

from openmmo.testing import GameZone, rejected


@pytest.fixture
def arena():
    return GameZone(game)


def walk(arena, player, x, y):
    """Walk in legal steps until (x, y) is reached."""
    for _ in range(1000):
        if player.distance_to((x, y)) < 0.01:
            return
        arena.move(player, x, y)
        arena.tick()
    raise AssertionError(f"{player} did not reach {(x, y)}")


def test_players_join_the_smaller_team_at_its_base(arena):
    red, blue, third = (arena.add_player(name) for name in ("A", "B", "C"))
    assert [p.stats["team"] for p in (red, blue, third)] == ["red", "blue", "red"]
    assert red.position == BASES["red"] and blue.position == BASES["blue"]
    assert arena.game_events("ctf", to=blue)[0]["team"] == "blue"
    assert arena.hook_failures == []


def test_taking_the_flag_home_scores_and_sends_it_back(arena):
    red = arena.add_player("A")
    blue_flag = arena.npc("blue_flag")
    walk(arena, red, *BASES["blue"])
    assert arena.game_events("flag_taken")[-1] == {
        "type": "flag_taken",
        "flag": "blue_flag",
        "by": red.id,
    }
    walk(arena, red, *BASES["red"])
    assert arena.zone.state["score"] == {"red": 1, "blue": 0}
    assert red.stats["captures"] == 1
    assert blue_flag.position == BASES["blue"]
    assert arena.game_events("captured")[-1]["score"] == {"red": 1, "blue": 0}
    assert arena.hook_failures == []


def test_a_tagged_carrier_drops_the_flag_and_its_team_can_return_it(arena):
    red, blue = arena.add_player("A"), arena.add_player("B")
    walk(arena, red, *BASES["blue"])  # red takes the blue flag, at blue's base
    while red.alive:
        assert rejected(arena.attack(blue, red, "tag")) in (None, "cooldown")
        arena.sleep(0.8)
    flag = arena.npc("blue_flag")
    assert not flag.state["carrier"]
    assert arena.game_events("flag_dropped")
    arena.zone.move(flag, 150.0, 60.0)  # kicked away from home
    walk(arena, blue, 150.0, 60.0)
    assert flag.position == BASES["blue"]
    assert arena.game_events("flag_returned")[-1]["by"] == blue.id
    arena.sleep(3.5)  # the respawn: back at its own base
    assert red.alive and red.position == BASES["red"]


def test_no_friendly_fire_and_flags_cannot_be_hurt(arena):
    a, _, c = arena.add_player("A"), arena.add_player("B"), arena.add_player("C")  # a, c red
    arena.zone.move(c, a.x + 1, a.y)
    reply = arena.attack(a, c, "tag")
    assert reply.result["damage"] == 0 and c.hp == 100
    flag = arena.npc("red_flag")
    arena.zone.move(flag, a.x + 1, a.y)
    arena.sleep(1.0)  # the tag's cooldown
    reply = arena.attack(a, flag, "tag")
    assert (reply.result["damage"], reply.result["hp"]) == (0, 1000)


def test_the_round_ends_with_a_winner_and_everything_resets(arena):
    red = arena.add_player("A")
    walk(arena, red, *BASES["blue"])
    walk(arena, red, *BASES["red"])
    arena.sleep(ROUND_S)
    over = arena.game_events("round_over")
    assert over == [{"type": "round_over", "winner": "red", "score": {"red": 1, "blue": 0}}]
    assert arena.zone.state["score"] == {"red": 0, "blue": 0}


def test_dropping_a_flag_on_purpose_and_the_custom_error(arena):
    red = arena.add_player("A")
    assert rejected(arena.send(red, "drop_flag")) == "not_carrying"
    walk(arena, red, *BASES["blue"])
    reply = arena.send(red, "drop_flag")
    assert reply.result == {"dropped": True}
    arena.sleep(1.0)  # standing on it: not taken back at once
    assert not arena.npc("blue_flag").state["carrier"]
    arena.sleep(1.5)
    assert arena.npc("blue_flag").state["carrier"] == red.id


def test_chat_commands(arena):
    red = arena.add_player("A")
    assert arena.command(red, "/team").result == {"reply": "you are red"}
    assert arena.command(red, "/score").result["reply"].startswith("red 0 : 0 blue")
    assert rejected(arena.command(red, "/dance")) == "unknown_command"


def test_a_character_leaving_with_the_flag_drops_it(arena):
    red = arena.add_player("A")
    walk(arena, red, *BASES["blue"])
    saved = arena.remove_player(red)
    assert "team" not in saved.stats  # not persisted: a new team every join
    assert saved.stats["captures"] == 0
    assert not arena.npc("blue_flag").state["carrier"]
