import httpx
import pytest

from openmmo.auth.passwords import PasswordHashing
from openmmo.auth.tokens import KeyRing, TokenService
from openmmo.bus.memory import MemoryBus
from openmmo.directory import ChannelInfo
from openmmo.directory.memory import MemoryDirectory
from openmmo.gateway.app import create_app
from openmmo.gateway.console import ConsoleService
from openmmo.gateway.service import GatewayService
from openmmo.matchmaking.memory import MemoryMatchQueue
from openmmo.ops.health import Health
from openmmo.ratelimit.memory import MemoryRateLimiter
from openmmo.sessions.memory import MemorySessionStore
from openmmo.sim.schema import CharacterSchema
from openmmo.storage.memory import MemoryStorage
from openmmo.testing import ManualClock, default_game

GAME = default_game()
DEFAULT_ZONES = GAME.zones

SECRET = "gateway-test-secret-0123456789-0123456789"


class Gateway:
    def __init__(self):
        self.clock = ManualClock()
        self.storage = MemoryStorage()
        self.directory = MemoryDirectory(self.clock)
        self.tokens = TokenService(KeyRing("k1", SECRET), self.clock, access_ttl_s=600)
        self.matchmaking = MemoryMatchQueue(self.clock)
        self.service = GatewayService(
            storage=self.storage,
            sessions=MemorySessionStore(),
            limiter=MemoryRateLimiter(self.clock),
            directory=self.directory,
            tokens=self.tokens,
            passwords=PasswordHashing(memory_kib=1024, time_cost=1),
            zones=dict(DEFAULT_ZONES),
            schema=CharacterSchema(GAME.fields, GAME.classes),
            clock=self.clock,
            refresh_ttl_s=3600,
            matchmaking=self.matchmaking,
        )
        self.bus = MemoryBus()
        self.console = ConsoleService(
            storage=self.storage,
            directory=self.directory,
            bus=self.bus,
            sessions=self.service.sessions,
            clock=self.clock,
        )
        self.health = Health()
        self.health.started = True
        self.app = create_app(self.service, self.health, self.console)
        self.http = self.client_from("127.0.0.1")

    def client_from(self, address: str) -> httpx.AsyncClient:
        """An HTTP client whose requests come from ``address`` (the ASGI scope's client)."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://gateway")

    async def channel(self, server_id, zone_id=1, players=0, **kw):
        await self.directory.publish(
            ChannelInfo(
                server_id,
                zone_id,
                DEFAULT_ZONES[zone_id].name,
                f"ws://{server_id}/ws",
                players,
                kw.get("max_players", 100),
                kw.get("ready", True),
                kw.get("draining", False),
                self.clock.time(),
            )
        )

    async def user(self, name="aria", password="correct horse"):
        response = await self.http.post(
            "/auth/register", json={"username": name, "password": password}
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
async def gw():
    gateway = Gateway()
    yield gateway
    await gateway.http.aclose()
