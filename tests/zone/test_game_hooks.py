"""Game code inside a zone runtime: refusals with the game's own codes, hooks that raise, and
a tick that keeps going — regressions of what stopped a zone before the game API."""

import copy

from openmmo.sim.world import World
from openmmo.testing import default_game
from tests.zone.conftest import make_zone


def zone_running(game):
    zone = make_zone()
    spec = zone.runtime.play.world.spec
    zone.runtime.play.world = World(spec, game, seed=1)
    zone.runtime.sessions.extensions = game.messages
    return zone


async def test_a_games_own_refusal_code_reaches_the_player_and_the_zone_goes_on(zone):
    a, a_t = await zone.player("aria", x=100, y=100)
    zone.runtime.play.world.actors[a.character_id].player_class = default_game().classes["mage"]
    a.actor.stats["mana"] = 0
    b, _ = await zone.player("bob", x=103, y=100)
    zone.send(a, {"type": "attack", "seq": 2, "target_id": b.character_id, "skill_id": 4})
    await zone.tick()  # before the game API: ErrorCode("not_enough_mana") raised out of here
    error = a_t.last("error")
    assert (error["code"], error["seq"]) == ("not_enough_mana", 2)
    zone.send(a, {"type": "move", "seq": 3, "x": 101, "y": 100})
    await zone.tick()
    assert a_t.last("snapshot")["ack"] == 3


async def test_a_hook_that_raises_every_tick_costs_its_call_not_the_world():
    game = copy.copy(default_game())
    game.hooks = dict(game.hooks)

    def broken_tick(zone, dt):
        raise RuntimeError("a bug in the game")

    game.hooks["on_tick"] = broken_tick
    zone = zone_running(game)
    a, a_t = await zone.player("aria", x=100, y=100)
    for seq in range(2, 6):
        zone.send(a, {"type": "move", "seq": seq, "x": 100 + seq * 0.5, "y": 100})
        await zone.tick()  # never raises
        assert a_t.last("snapshot")["ack"] == seq
    assert a_t.closed is None


async def test_an_undeclared_refusal_code_is_sent_and_reported_as_a_game_bug():
    game = copy.copy(default_game())
    game.message_handlers = dict(game.message_handlers)

    def emote(zone, player, data):
        from openmmo.game import Reject

        raise Reject("made_up_code", "not declared anywhere")

    game.message_handlers["emote"] = emote
    zone = zone_running(game)
    reports = []
    a, a_t = await zone.player("aria")
    zone.send(a, {"type": "emote", "seq": 2, "emote": "wave"})
    original = zone.runtime.play.world.hooks.drain
    zone.runtime.play.world.hooks.drain = lambda: reports.extend(original()) or []
    await zone.tick()
    await zone.tick()
    assert a_t.last("error")["code"] == "made_up_code"
    assert any(f.hook == "undeclared_error_code" for r in reports for f in r.failures)
