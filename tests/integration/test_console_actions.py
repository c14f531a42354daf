"""The console's actions on real processes: the admin API → the bus → the zone servers."""

import asyncio
import os
import sys

import httpx
import pytest

from openmmo.client import GameClient, GatewayClient
from openmmo.testing.cluster import on_shared_services

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with on_shared_services(tmp_path_factory.mktemp("world"), [1, 1]) as world:
        yield world


async def admin_headers(cluster, name):
    gateway = GatewayClient(cluster.gateway_url)
    await gateway.register(name, "correct horse battery")
    granted = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "openmmo", "admin", "grant-admin", name,
        env={**os.environ, **cluster.base_env},
    )  # fmt: skip
    assert await granted.wait() == 0
    return {"Authorization": f"Bearer {gateway.token}"}


async def player_on(cluster, name, channel):
    gateway = GatewayClient(cluster.gateway_url)
    await gateway.register(name.lower(), "correct horse battery")
    character = await gateway.create_character(name)
    game = await GameClient.connect(cluster.zone_url(channel), gateway.token)
    await game.join(character_id=character["character_id"])
    return gateway, game


async def channels(http, headers):
    servers = (await http.get("/admin/cluster", headers=headers)).json()["servers"]
    return {s["channel_id"]: s for s in servers}


async def test_a_drain_moves_players_away_and_an_undrain_takes_them_again(cluster):
    headers = await admin_headers(cluster, "drainer")
    gateway, game = await player_on(cluster, "Mover", "zone1-1")
    async with httpx.AsyncClient(base_url=cluster.gateway_url) as http:
        drained = await http.post("/admin/channels/zone1-1/drain", json={}, headers=headers)
        assert drained.status_code == 200, drained.text
        transfer = await game.wait_for(lambda m: m["type"] == "transfer", timeout_s=10)
        assert transfer["channel_id"] == "zone1-2"  # handed over, not told to reconnect
        moved = await game.follow(transfer)
        joined = next(m for m in moved.history if m["type"] == "joined")
        assert joined["channel_id"] == "zone1-2"
        for _ in range(20):  # the directory shows it on the next heartbeat
            state = (await channels(http, headers))["zone1-1"]
            if state["draining"]:
                break
            await asyncio.sleep(0.25)
        assert state["draining"] and not state["ready"]
        # the drained channel is not allocated while it drains; the server stays up
        for _ in range(4):
            grant = await gateway.join_zone(1)
            assert grant["channel_id"] == "zone1-2"
        assert cluster.ready("zone1-2") and not cluster.ready("zone1-1")
        await http.post("/admin/channels/zone1-1/drain", json={"drain": False}, headers=headers)
        for _ in range(20):
            if (await channels(http, headers))["zone1-1"]["ready"]:
                break
            await asyncio.sleep(0.25)
        assert (await channels(http, headers))["zone1-1"]["ready"]
        audit = (await http.get("/admin/audit", headers=headers)).json()["entries"]
        assert [e["kind"] for e in audit[:2]] == ["undrain", "drain"]
    await moved.close()


async def test_a_kick_reaches_the_server_the_player_is_on(cluster):
    headers = await admin_headers(cluster, "kicker")
    _, game = await player_on(cluster, "Kickee", "zone1-2")
    async with httpx.AsyncClient(base_url=cluster.gateway_url) as http:
        kicked = await http.post(
            "/admin/kick", json={"character": "kickee", "reason": "test"}, headers=headers
        )
        assert kicked.status_code == 200, kicked.text
    code, _ = await game.wait_closed(10)
    assert code == 4003
    assert any(m.get("code") == "kicked" for m in game.history)
    stranger = GatewayClient(cluster.gateway_url)
    await stranger.register("nobody_special", "correct horse battery")
    async with httpx.AsyncClient(base_url=cluster.gateway_url) as http:
        refused = await http.post(
            "/admin/kick",
            json={"character": "kickee"},
            headers={"Authorization": f"Bearer {stranger.token}"},
        )
    assert (refused.status_code, refused.json()["code"]) == (403, "not_admin")
