import asyncio
from dataclasses import dataclass, field

import pytest

from openmmo.auth.tokens import KeyRing, TokenService
from openmmo.bus.memory import MemoryBus
from openmmo.protocol.codes import Encoding, Limits
from openmmo.storage.memory import MemoryStorage
from openmmo.testing import ManualClock, RecordingTransport, empty_world
from openmmo.zone.checkpoint import Checkpointer
from openmmo.zone.replicate import tick
from openmmo.zone.runtime import ZoneConfig, ZoneRuntime

SECRET = "zone-test-secret-0123456789-0123456789"


@dataclass
class Zone:
    runtime: ZoneRuntime
    clock: ManualClock
    storage: MemoryStorage
    tokens: TokenService
    tasks: list = field(default_factory=list)

    async def settle(self):
        while self.tasks:
            batch, self.tasks[:] = list(self.tasks), []
            await asyncio.gather(*batch)

    async def tick(self, seconds=0.05):
        self.clock.advance(seconds)
        await tick(self.runtime)

    async def account(self, name, character=None, x=500.0, y=500.0):
        account = await self.storage.create_account(name, "h")
        created = await self.storage.create_character(
            account.account_id, character or name.capitalize(), 9, x, y
        )
        return account, created

    def connect(self, token=None, encoding=Encoding.JSON):
        transport = RecordingTransport()
        session = self.runtime.connect(transport, encoding, token)
        return session, transport

    async def player(self, name, x=500.0, y=500.0, encoding=Encoding.JSON):
        account, character = await self.account(name, x=x, y=y)
        token = self.tokens.issue_access(account.account_id, name)
        session, transport = self.connect(token, encoding)
        self.send(session, {"type": "join_game", "seq": 1})
        await self.settle()
        assert transport.last("joined")["entity_id"] == character.character_id
        return session, transport

    def send(self, session, message, binary=False):
        import json

        import msgpack

        data = msgpack.packb(message) if binary else json.dumps(message).encode()
        self.runtime.on_message(session, data, binary)


def make_zone(bus=None, limits=None, max_players=100, server_id="test-1", clock=None, storage=None):
    clock = clock or ManualClock()
    storage = storage or MemoryStorage()
    tokens = TokenService(KeyRing("k1", SECRET), clock)
    config = ZoneConfig(
        server_id=server_id,
        ws_url="ws://test/ws",
        max_players=max_players,
        limits=limits or Limits(),
    )
    runtime = ZoneRuntime(
        empty_world(),
        config,
        tokens=tokens,
        storage=storage,
        bus=bus or MemoryBus(),
        clock=clock,
        checkpointer=Checkpointer(storage, "testzone"),
    )
    zone = Zone(runtime, clock, storage, tokens)
    runtime.attach(lambda coro: zone.tasks.append(asyncio.ensure_future(coro)))
    return zone


@pytest.fixture
def zone():
    return make_zone()
