"""The Python client of OpenMMO, used by tests, bots and tools.

Typical use::

    async with GatewayClient("http://127.0.0.1:8080") as gateway:
        await gateway.register("aria", "correct horse battery")
        hero = await gateway.create_character("Aria")
        grant = await gateway.join_zone(1, hero["character_id"])
    game = await GameClient.connect(grant["ws_url"], grant["ticket"])
    await game.join()
    game.move(513.0, 512.0)
    await game.wait_snapshot()

Kind: **process** helper (asyncio, sockets); depends only on the protocol package.
"""

from openmmo.client.game import ConnectionClosed, EntityState, GameClient, GameError
from openmmo.client.gateway import ApiError, GatewayClient
from openmmo.client.resume import Backoff, GaveUp, ResumingClient, should_resume

__all__ = [
    "ApiError",
    "Backoff",
    "ConnectionClosed",
    "EntityState",
    "GameClient",
    "GameError",
    "GatewayClient",
    "GaveUp",
    "ResumingClient",
    "should_resume",
]
