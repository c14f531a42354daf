"""Matchmaking end to end: `openmmo up` runs the matchmaker in-process; three players queue
for a dungeon over HTTP, are matched into one group, and meet on the same channel."""

import asyncio

import pytest

from openmmo.client import GameClient, GatewayClient

pytestmark = pytest.mark.e2e


async def test_three_players_queue_are_matched_and_meet(world):
    gateways = [GatewayClient(world.gateway_url) for _ in range(3)]
    games = []
    try:
        tickets = []
        for n, gateway in enumerate(gateways):
            await gateway.device_login(f"matchmaking-e2e-{n}")
            tickets.append(await gateway.queue_match("dungeon"))
        assert {t["status"] for t in tickets} == {"queued"}
        waits = [
            g.wait_for_match(t["ticket_id"], timeout_s=20)
            for g, t in zip(gateways, tickets, strict=True)
        ]
        results = await asyncio.gather(*waits)
        assert {r["status"] for r in results} == {"matched"}
        assert len({r["match_id"] for r in results}) == 1
        grants = [r["grant"] for r in results]
        assert {g["zone_id"] for g in grants} == {2}
        assert len({g["ws_url"] for g in grants}) == 1
        for grant in grants:
            game = await GameClient.connect(grant["ws_url"], grant["ticket"])
            joined = await game.join(map_id=2)
            assert joined["entity_id"] == grant["character_id"]
            games.append(game)
        ids = {g["character_id"] for g in grants}
        for game in games:
            await game.wait_snapshot(lambda c: ids <= set(c.entities))
    finally:
        for game in games:
            await game.close()
        for gateway in gateways:
            await gateway.close()


async def test_a_lone_player_waits_and_can_leave_the_queue(world):
    async with GatewayClient(world.gateway_url) as gateway:
        await gateway.device_login("matchmaking-e2e-alone")
        ticket = await gateway.queue_match("duel")
        await asyncio.sleep(1.5)  # a few matchmaker rounds: nobody to duel
        assert (await gateway.match_status(ticket["ticket_id"]))["status"] == "queued"
        await gateway.cancel_match(ticket["ticket_id"])
        assert (await gateway.match_status(ticket["ticket_id"]))["status"] == "cancelled"
