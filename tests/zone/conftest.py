import asyncio
import json
from dataclasses import dataclass, field

import msgpack
import pytest

from openmmo.auth.tokens import KeyRing, TokenService
from openmmo.bus.memory import MemoryBus
from openmmo.directory.memory import MemoryDirectory
from openmmo.protocol.codes import Encoding, Limits
from openmmo.sim.step import start
from openmmo.sim.world import World
from openmmo.storage.memory import MemoryStorage
from openmmo.testing import ManualClock, RecordingTransport, default_game, empty_world
from openmmo.zone import crossserver
from openmmo.zone.checkpoint import Checkpointer
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
        """Run the spawned tasks to the end, applying what they ask of the world (a join
        entering it, a transfer taking a character out) as the tick would, without a step:
        inputs sent before are run by one tick first (the clock does not move)."""
        play = self.runtime.play
        if self.runtime.sessions.has_inputs():
            await self.runtime.tick()  # inputs sent so far, at the current time
        while self.tasks:
            batch, self.tasks[:] = list(self.tasks), []
            pending = {asyncio.ensure_future(t) for t in batch}
            while pending:
                _, pending = await asyncio.wait(pending, timeout=0.01)
                play.apply_leaves()
            play.begin_tick()

    async def tick(self, seconds=0.05):
        self.clock.advance(seconds)
        await self.runtime.tick()

    async def account(self, name, character=None, x=500.0, y=500.0):
        account = await self.storage.create_account(name, "h")
        created = await self.storage.create_character(
            account.account_id, character or name.capitalize(), self.runtime.spec.zone_id, x, y
        )
        return account, created

    def connect(self, token=None, encoding=Encoding.JSON):
        transport = RecordingTransport()
        session = self.runtime.sessions.connect(transport, encoding, token)
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
        data = msgpack.packb(message) if binary else json.dumps(message).encode()
        self.runtime.sessions.on_message(session, data, binary)


def make_zone(
    bus=None,
    limits=None,
    max_players=100,
    server_id="test-1",
    clock=None,
    storage=None,
    directory=None,
    spec=None,
    checkpoints=None,
    compiled=True,
):
    clock = clock or ManualClock()
    storage = storage or MemoryStorage()
    tokens = TokenService(KeyRing("k1", SECRET), clock)
    config = ZoneConfig(
        server_id=server_id,
        ws_url=f"ws://{server_id}/ws",
        max_players=max_players,
        limits=limits or Limits(),
        compiled_inputs=compiled,
    )
    if spec is not None:
        world = World(spec, default_game(), seed=1)
        start(world, clock.monotonic())
    else:
        world = empty_world()
    checkpointer = Checkpointer(storage, "testzone", server_id, checkpoints)
    runtime = ZoneRuntime(
        world,
        config,
        tokens=tokens,
        storage=storage,
        bus=bus or MemoryBus(),
        clock=clock,
        checkpointer=checkpointer,
        directory=directory or MemoryDirectory(clock),
    )
    zone = Zone(runtime, clock, storage, tokens)
    runtime.attach(lambda coro: zone.tasks.append(asyncio.ensure_future(coro)))
    return zone


async def subscribe(zone):
    """Connect a zone runtime to its bus, as the zone server does."""
    rt = zone.runtime
    await rt.bus.subscribe(rt.config.server_id, lambda envelope: crossserver.handle(rt, envelope))


@pytest.fixture
def zone():
    return make_zone()
