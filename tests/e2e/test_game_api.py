"""Games loaded by a real `openmmo up`, played over real sockets: game code that raises or
overruns is contained while a player keeps playing, hot reload swaps rules under a connected
player, and the example game plays end to end."""

import asyncio
import textwrap
import time
import urllib.request

import pytest

from openmmo.client import GameClient, GatewayClient
from openmmo.client.game import GameError
from openmmo.testing import LocalWorld

pytestmark = pytest.mark.e2e

BUGGY = """
import time

from openmmo.game import Game, Message, PlayerClass, Skill, ZoneSpec

game = Game(
    "buggy",
    zones=[ZoneSpec(1, "yard", 256.0, 256.0, 128.0, 128.0, pvp=False)],
    classes=[PlayerClass("hero", skills=(1,))],
    skills=[Skill(1, "poke", range=3.0, cooldown_s=1.0, damage=1)],
    messages=[Message("explode")],
)


@game.on_join
def broken_join(zone, player):
    raise RuntimeError("on_join is broken on purpose")


@game.on_tick
def slow_tick(zone, dt):
    if zone.players:  # once someone is there to see it disabled
        time.sleep(0.02)  # twice the default 10 ms budget, every tick


@game.on_message("explode")
def explode(zone, player, data):
    raise ValueError("boom")
"""

HIVE = """
from openmmo.game import Game, NpcKind, PlayerClass, Skill, Spawn, ZoneSpec, brains

STING = {sting}

game = Game(
    "hive",
    zones=[
        ZoneSpec(
            1, "meadow", 256.0, 256.0, 128.0, 128.0, pvp=False,
            npc_spawns=(Spawn("bee", 130.0, 128.0, count=1, radius=0.0),),
        )
    ],
    classes=[PlayerClass("keeper", skills=(1,), base_hp=5000, hp_per_level=0)],
    skills=[Skill(1, "swat", range=3.0, cooldown_s=1.0, damage=1)],
    npcs=[
        NpcKind(
            "bee", hp=500, damage=STING, attack_range=5.0, attack_cooldown_s=0.3, speed=0.0,
            xp=1, level=1, brain=brains.Aggressive(sight=50.0),
        )
    ],
)
"""


def write_game(root, package, source):
    folder = root / package
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(textwrap.dedent(source))
    return folder


async def join(world, name):
    gateway = GatewayClient(world.gateway_url)
    await gateway.register(name, "correct horse battery")
    hero = await gateway.create_character(name.capitalize())
    grant = await gateway.join_zone(1, hero["character_id"])
    game = await GameClient.connect(grant["ws_url"], grant["ticket"])
    await game.join()
    await game.wait_snapshot(lambda c: c.me() is not None)
    return gateway, game


def metric(world, name, **labels):
    with urllib.request.urlopen(f"{world.gateway_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{"):
            series, value = line.rsplit(" ", 1)
            got = ",".join(sorted(series[len(name) + 1 : -1].split(",")))
            if got == wanted:
                return float(value)
    return 0.0


async def keep_moving(game, seconds):
    """Move back and forth; every move must be acknowledged within a second."""
    end = time.monotonic() + seconds
    step = 0
    while time.monotonic() < end:
        step += 1
        me = game.me()
        seq = game.move(me.x + (0.5 if step % 2 else -0.5), me.y)
        await game.wait_snapshot(lambda c, seq=seq: c.last_snapshot["ack"] >= seq, timeout_s=1.0)
        await asyncio.sleep(0.1)


async def test_hooks_that_raise_or_overrun_are_contained_while_a_player_plays(tmp_path):
    code = tmp_path / "code"
    write_game(code, "buggy", BUGGY)
    env = {"OPENMMO_GAME": "buggy", "PYTHONPATH": str(code)}
    with LocalWorld(tmp_path / "world", env=env, zones=1) as world:
        gateway, game = await join(world, "tester")  # on_join raised: the player is in anyway
        disabled = game.wait_event(
            lambda e: e["type"] == "announce" and "on_tick" in e["message"], timeout_s=15
        )
        await keep_moving(game, 1.0)
        announce = await disabled
        assert "was disabled" in announce["message"]
        with pytest.raises(GameError) as raised:
            await game.send_game("explode")
        assert raised.value.code == "internal"
        await keep_moving(game, 1.0)  # still playing, and the tick is fast again
        assert game.close_code is None
        await asyncio.sleep(0.2)  # one tick: the counters reach Prometheus
        assert metric(world, "openmmo_game_hook_errors_total", hook="on_join", zone="yard") == 1
        assert (
            metric(world, "openmmo_game_hook_errors_total", hook="on_message:explode", zone="yard")
            == 1
        )
        assert metric(world, "openmmo_game_hooks_disabled_total", hook="on_tick", zone="yard") == 1
        await game.close()
        await gateway.close()
    log = "\n".join(world.log_lines())
    assert "game_hook_failed" in log and "on_join is broken on purpose" in log
    assert "Traceback" in log and "game_hook_disabled" in log
    assert world.returncode == 0


async def wait_sting(game, damage, timeout_s=15.0):
    mark = game.mark()
    await game.wait_event(
        lambda e: e["type"] == "hit" and e["target"] == game.entity_id and e["damage"] == damage,
        timeout_s=timeout_s,
        since=mark,
    )


async def test_hot_reload_changes_a_monster_damage_while_a_player_stays_connected(tmp_path):
    code = tmp_path / "code"
    package = write_game(code, "hive", HIVE.format(sting=3))
    env = {"OPENMMO_GAME": "hive", "PYTHONPATH": str(code)}
    with LocalWorld(tmp_path / "world", env=env, zones=1, args=["--reload"]) as world:
        gateway, game = await join(world, "keeper")
        await wait_sting(game, 3)
        joined = [m for m in game.history if m["type"] == "joined"]
        (package / "__init__.py").write_text(textwrap.dedent(HIVE.format(sting=9)))
        await wait_sting(game, 9)
        assert any("game_reloaded" in line for line in world.log_lines())
        (package / "__init__.py").write_text("this is not python (\n")  # a broken edit
        for _ in range(100):
            if any("game_reload_failed" in line for line in world.log_lines()):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the broken edit was not reported")
        await wait_sting(game, 9)  # the running game is kept
        assert game.close_code is None  # one connection throughout, never rejoined
        assert [m for m in game.history if m["type"] == "joined"] == joined
        await game.close()
        await gateway.close()
    assert world.returncode == 0


async def walk_to(game, x, y, until, timeout_s=40.0):
    """Walk in legal steps (1 unit per 0.1 s) toward (x, y) until ``until()`` holds."""
    deadline = time.monotonic() + timeout_s
    while not until():
        assert time.monotonic() < deadline, "did not get there"
        me = game.me()
        dx, dy = x - me.x, y - me.y
        length = max((dx * dx + dy * dy) ** 0.5, 1e-9)
        step = min(length, 0.95)
        game.move(me.x + dx / length * step, me.y + dy / length * step)
        await asyncio.sleep(0.1)


async def test_capture_the_flag_plays_end_to_end(tmp_path):
    with LocalWorld(tmp_path / "world", env={"OPENMMO_GAME": "ctf"}, zones=1) as world:
        gateway, red = await join(world, "runner_one")
        gateway2, blue = await join(world, "runner_two")
        welcome = next(m for m in red.history if m["type"] == "welcome")
        assert welcome["game"]["name"] == "ctf"
        assert [m["type"] for m in welcome["game"]["messages"]] == ["drop_flag"]
        assert "not_carrying" in welcome["game"]["errors"]
        teams = [await g.wait_event(lambda e: e["type"] == "ctf") for g in (red, blue)]
        assert [t["team"] for t in teams] == ["red", "blue"]
        info = await red.inspect([blue.entity_id])
        assert info["entities"][0]["stats"]["team"] == "blue"
        with pytest.raises(GameError) as raised:
            await red.send_game("drop_flag")
        assert raised.value.code == "not_carrying"
        score = await red.command("/score")
        assert score["result"]["reply"].startswith("red 0 : 0 blue")

        def event(client, kind):
            return any(e["type"] == kind for e in client.events)

        await walk_to(red, 180.0, 60.0, lambda: event(red, "flag_taken"))
        await walk_to(red, 20.0, 60.0, lambda: event(red, "captured"))
        captured = await blue.wait_event(lambda e: e["type"] == "captured")
        assert captured["score"] == {"red": 1, "blue": 0} and captured["by"] == red.entity_id
        for client, gw in ((red, gateway), (blue, gateway2)):
            await client.close()
            await gw.close()
    assert world.returncode == 0
