"""Stopping and restarting: players are saved and told to reconnect; progress survives."""

import pytest

from openmmo.client import GameClient, GatewayClient
from openmmo.protocol.codes import CloseCode
from openmmo.testing import LocalWorld

pytestmark = pytest.mark.e2e


async def test_sigterm_saves_players_tells_them_to_reconnect_and_exits_cleanly(tmp_path):
    world = LocalWorld(tmp_path)
    world.start()
    try:
        gateway = GatewayClient(world.gateway_url)
        await gateway.register("survivor", "correct horse battery")
        hero = await gateway.create_character("Survivor")
        grant = await gateway.join_zone(1, hero["character_id"])
        game = await GameClient.connect(grant["ws_url"], grant["ticket"])
        await game.join()
        await game.wait_snapshot(lambda c: c.me() is not None)
        x, y = game.me().x, game.me().y
        for step in range(1, 6):
            seq = game.move(x + step * 0.5, y)
        await game.wait_snapshot(lambda c: c.last_snapshot["ack"] >= seq)
        assert world.stop() == 0
        notice = await game.wait_for(lambda m: m["type"] == "notice")
        assert notice["code"] == "server_restart"
        code, _ = await game.wait_closed()
        assert code == CloseCode.SERVICE_RESTART
        await gateway.close()
    finally:
        world.stop()

    again = LocalWorld(tmp_path)  # same data directory: same SQLite database
    with again:
        async with GatewayClient(again.gateway_url) as gateway:
            await gateway.login("survivor", "correct horse battery")
            (saved,) = await gateway.characters()
            assert saved["x"] == pytest.approx(x + 2.5, abs=0.01)
            assert saved["y"] == pytest.approx(y, abs=0.01)
    assert again.returncode == 0
