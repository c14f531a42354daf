"""Protocol v2 over real sockets: negotiation, and v1 and v2 players seeing each other move."""

import pytest

from tests.e2e.test_bad_input import status_line, upgrade_request

pytestmark = pytest.mark.e2e


async def test_v2_is_negotiated_and_v1_and_v2_players_see_the_same_moves(players):
    old = await players(1, encoding="msgpack")
    new = await players(1, protocol=2)
    assert new.game.view is not None and new.game.protocol == 2
    welcome = next(m for m in new.game.history if m["type"] == "welcome")
    assert welcome["protocol"] == 2
    me = old.game.me()
    assert me is not None
    target = (me.x + 1.5, me.y)
    old.game.move(*target)
    await new.game.wait_snapshot(
        lambda c: (
            (e := c.entities.get(old.game.entity_id)) is not None and abs(e.x - target[0]) <= 1 / 64
        )
    )
    assert new.game.resyncs == 0
    # ... and the v1 player sees the v2 player where the v2 player sees itself.
    mine = new.game.me()
    assert mine is not None
    await old.game.wait_snapshot(
        lambda c: (
            (e := c.entities.get(new.game.entity_id)) is not None
            and abs(e.x - mine.x) <= 1 / 64
            and abs(e.y - mine.y) <= 1 / 64
        )
    )


async def test_a_v2_offer_in_json_is_refused(world):
    port = world.zone_ports[0]
    offered = upgrade_request("/ws", "Sec-WebSocket-Protocol: openmmo.v2.json\r\n")
    line = await status_line(port, offered)
    assert line.startswith(b"HTTP/1.1 400")
