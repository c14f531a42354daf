"""Finding and loading games: entry points, module paths, and one clear error otherwise."""

import sys

import pytest

from openmmo.game import Game, GameError, load_game
from openmmo.game.loader import resolve

MINIMAL = """
from openmmo.game import Game, PlayerClass, Skill, ZoneSpec

game = Game(
    "tiny",
    zones=[ZoneSpec(1, "room", 100.0, 100.0, 50.0, 50.0, pvp=False)],
    classes=[PlayerClass("guest", skills=(1,))],
    skills=[Skill(1, "poke", range=2.0, cooldown_s=1.0, damage={damage})],
)
"""


@pytest.fixture
def code_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith(("tiny", "broken", "nogame", "badly"))]:
        del sys.modules[name]


def test_the_default_game_is_an_entry_point_and_a_module():
    assert resolve("default") == ("openmmo.games.default", "game")
    game = load_game()
    assert isinstance(game, Game) and game.module == "openmmo.games.default"
    assert resolve("ctf") == ("ctf", "game")  # the example, installed by make install


def test_a_module_path_with_an_attribute(code_dir):
    (code_dir / "tiny.py").write_text(MINIMAL.format(damage=3).replace("game =", "TINY ="))
    game = load_game("tiny:TINY")
    assert game.name == "tiny" and game.skills[1].damage == 3


def test_names_that_lead_nowhere_say_so(code_dir):
    with pytest.raises(GameError, match=r"no module named 'nothing_here'.*PYTHONPATH"):
        load_game("nothing_here")
    (code_dir / "nogame.py").write_text("x = 1\n")
    with pytest.raises(GameError, match=r"has no `game = Game\(...\)`"):
        load_game("nogame")
    (code_dir / "broken.py").write_text("import missing_dependency_xyz\n")
    with pytest.raises(GameError, match="importing broken failed: No module named"):
        load_game("broken")
    with pytest.raises(GameError, match="empty"):
        load_game("  ")


def test_inconsistent_declarations_fail_at_load_naming_each_problem(code_dir):
    bad = """
from openmmo.game import Game, PlayerClass, Skill, Spawn, ZoneSpec

game = Game(
    "badly",
    zones=[ZoneSpec(1, "room", 100.0, 100.0, 50.0, 50.0, pvp=False,
                    npc_spawns=(Spawn("ogre", 1.0, 1.0, 1, 1.0),))],
    classes=[PlayerClass("guest", skills=(1, 7))],
    skills=[Skill(1, "poke", range=2.0, cooldown_s=1.0)],
)
"""
    (code_dir / "badly.py").write_text(bad)
    with pytest.raises(GameError) as raised:
        load_game("badly")
    message = str(raised.value)
    assert "class 'guest' uses unknown skill 7" in message
    assert "spawns unknown NPC kind 'ogre'" in message


def test_a_fresh_load_reads_the_edited_source_and_a_failed_one_keeps_the_old(code_dir):
    path = code_dir / "tiny.py"
    path.write_text(MINIMAL.format(damage=3))
    assert load_game("tiny").skills[1].damage == 3
    path.write_text(MINIMAL.format(damage=9))  # same size, same second: no stale bytecode
    assert load_game("tiny", fresh=True).skills[1].damage == 9
    path.write_text("this is not python (\n")
    with pytest.raises(GameError, match="SyntaxError"):
        load_game("tiny", fresh=True)
    assert load_game("tiny").skills[1].damage == 9  # the old module is still there


def test_wire_ranges_are_checked_at_load():
    from openmmo.game import NpcKind, PlayerClass, Skill, XpCurve, ZoneSpec

    game = Game(
        "huge",
        zones=[ZoneSpec(1, "z", 10.0, 10.0, 5.0, 5.0, pvp=False)],
        classes=[PlayerClass("titan", skills=(1,), base_hp=60_000, hp_per_level=100)],
        skills=[Skill(1, "s", range=1.0, cooldown_s=1.0)],
        npcs=[NpcKind("ogre", 70_000, 1, 1.0, 1.0, 1.0, 1, 300)],
        xp_curve=XpCurve(max_level=300),
        default_brain=None,
    )
    with pytest.raises(GameError) as raised:
        game.check()
    message = str(raised.value)
    assert "hp 70000, outside the wire range 1..65535" in message
    assert "level 300, outside 1..255" in message
    assert "xp_curve.max_level 300 is outside the wire range" in message
    assert "reaches hp_max" in message


def test_error_codes_and_messages_may_not_clash_with_the_core():
    from openmmo.game import Message, PlayerClass, Skill, ZoneSpec

    game = Game(
        "clash",
        zones=[ZoneSpec(1, "z", 10.0, 10.0, 5.0, 5.0, pvp=False)],
        classes=[PlayerClass("c", skills=(1,))],
        skills=[Skill(1, "s", range=1.0, cooldown_s=1.0)],
        errors={"cooldown": "mine", "Bad Code": "x"},
        messages=[Message("move"), Message("dance")],
    )
    with pytest.raises(GameError) as raised:
        game.check(core_error_codes=["cooldown"])
    message = str(raised.value)
    assert "error code 'cooldown' is a core code" in message
    assert "error code 'Bad Code' must be lower_snake_case" in message
    assert "message 'move' must be a lower_snake_case name that is not core" in message
    assert "message 'dance' has no @game.on_message handler" in message


def test_a_hook_is_registered_once():
    game = load_game()
    with pytest.raises(GameError, match="on_join is registered twice"):
        game.on_join(lambda zone, player: None)
