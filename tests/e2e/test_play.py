"""Real processes, real sockets: `openmmo up` and players speaking the protocol."""

import asyncio

import pytest

pytestmark = pytest.mark.e2e


async def test_two_players_see_each_other_move(players):
    a = await players(1)
    b = await players(1, encoding="msgpack", token_in="header")
    await a.game.wait_snapshot(lambda c: b.game.entity_id in c.entities)
    start = a.game.entities[b.game.entity_id]
    seq = b.game.move(start.x + 0.7, start.y - 0.4)
    await b.game.wait_snapshot(lambda c: c.last_snapshot["ack"] >= seq)
    moved = await a.game.wait_snapshot(
        lambda c: abs(c.entities[b.game.entity_id].x - (start.x + 0.7)) < 1e-3
    )
    assert moved["type"] == "snapshot"
    assert b.game.me().y == pytest.approx(start.y - 0.4, abs=1e-3)
    assert b.game.latencies()["move"]  # action->ack latency was measured


async def test_chat_reaches_the_other_player_nearby_and_across_zones(players):
    a = await players(1)
    b = await players(1)
    c = await players(2)
    await a.game.chat("hello town", "say")
    heard = await b.game.wait_event(lambda e: e["type"] == "chat" and e["message"] == "hello town")
    assert heard["from"] == a.game.entity_id and heard["channel"] == "say"
    await a.game.chat("hello world", "global")
    shout = await c.game.wait_event(lambda e: e["type"] == "chat" and e["message"] == "hello world")
    assert shout["channel"] == "global"


async def test_an_attack_lowers_hp_and_a_kill_respawns_the_target(players):
    a = await players(2)  # the wilds allow player combat; both start at the spawn point
    b = await players(2)
    victim = b.game.entity_id
    first = await a.game.attack(victim, 1)
    assert first["result"]["damage"] == 12 and first["result"]["hp"] == 88
    await b.game.wait_snapshot(lambda c: c.me().hp == 88)
    killed = False
    while not killed:
        for skill in (3, 1, 2):
            try:
                result = await a.game.attack(victim, skill)
            except Exception as exc:  # cooldown: try the next skill
                assert "cooldown" in str(exc)
                continue
            killed = result["result"]["killed"]
            if killed:
                break
        await asyncio.sleep(0.3)
    death = await b.game.wait_event(lambda e: e["type"] == "death" and e["entity"] == victim)
    assert death["killer"] == a.game.entity_id
    await a.game.wait_event(lambda e: e["type"] == "xp")
    respawn = await b.game.wait_event(
        lambda e: e["type"] == "respawn" and e["entity"] == victim, timeout_s=15
    )
    assert respawn["hp"] == 100
    await b.game.wait_snapshot(lambda c: not c.me().dead and c.me().hp == 100)
