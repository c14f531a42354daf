"""Three regions on one machine, each a real world (`openmmo up`, its own database) on its own
RabbitMQ, the brokers federated by the definitions `openmmo federation-definitions` writes,
each link through a delaying TCP proxy (round trips a-b 20 ms, a-c 80 ms, b-c 150 ms): global
chat reaches every region, a whisper finds its recipient in whatever region it plays, and
one to a name nobody plays is refused; a region whose broker is cut off still chats at home
and catches up when the link heals."""

import asyncio
import itertools
import time

import httpx
import pytest

from openmmo.client import GameClient, GameError, GatewayClient
from openmmo.testing.local import eventually
from openmmo.testing.regions import FederatedRegions

pytestmark = pytest.mark.e2e

NAMES = ("a", "b", "c")
RTT_S = {frozenset("ab"): 0.020, frozenset("ac"): 0.080, frozenset("bc"): 0.150}  # + own: 0
_ids = itertools.count(1)


def percentile(values, q):
    """Nearest rank: of 20 values the 95th percentile is the 19th, not the slowest."""
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))]


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    with FederatedRegions(tmp_path_factory.mktemp("regions"), RTT_S) as world:
        yield world


@pytest.fixture
async def player(regions):
    made = []

    async def make(region):
        n = next(_ids)
        gateway = GatewayClient(regions.worlds[region].gateway_url)
        await gateway.register(f"fed_{region}_{n}", "correct horse battery")
        hero = await gateway.create_character(f"Fed{region.upper()}{n}")
        grant = await gateway.join_zone(1, hero["character_id"])
        game = await GameClient.connect(grant["ws_url"], grant["ticket"])
        await game.join(character_id=hero["character_id"])
        await game.wait_snapshot(lambda c: c.me() is not None)
        made.append((gateway, game))
        return game, hero["name"], hero["character_id"]

    yield make
    for gateway, game in made:
        await game.close()
        await gateway.close()


async def test_global_chat_reaches_every_region_each_path_within_its_delay(player):
    listeners = {name: (await player(name))[0] for name in NAMES}
    # four speakers a region: a player may say five lines at once (then one per 2 s)
    speakers = {name: [(await player(name))[0] for _ in range(4)] for name in NAMES}
    latencies = {(s, h): [] for s in NAMES for h in NAMES}  # (s, s): the region's own
    for line in range(20):
        for speaker in NAMES:
            text = f"hello {line} from {speaker}"
            sent = time.perf_counter()
            await speakers[speaker][line % 4].chat(text, "global")

            async def heard(listener, text=text, sent=sent, speaker=speaker):
                event = await listeners[listener].wait_event(lambda e: e.get("message") == text)
                latencies[speaker, listener].append(time.perf_counter() - sent)
                assert (event["channel"], event["region"]) == ("global", speaker)

            await asyncio.gather(*(heard(n) for n in NAMES))
    lines = []
    for (speaker, listener), values in sorted(latencies.items()):
        one_way = RTT_S.get(frozenset(speaker + listener), 0.0) / 2
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        lines.append(
            f"{speaker}->{listener} (one way {one_way * 1000:.0f} ms): n={len(values)} "
            f"p50={p50 * 1000:.1f} ms p95={p95 * 1000:.1f} ms"
        )
        assert len(values) == 20
        assert one_way <= p50, (speaker, listener, p50)  # it did cross the delayed link
        # + up to a snapshot interval (0.1 s: events go out with the next snapshot); the
        # 95th percentile also carries a busy machine's stalls (one line of 20 took 0.36 s
        # on CI, where a three-region world shares 2 cores with the test): the figures that
        # compare with the delays are the median here and benchmarks/regions_netns.py
        assert p50 <= one_way + 0.150, (speaker, listener, p50)
        assert p95 <= one_way + 0.500, (speaker, listener, p95)
    print("cross-region global chat:\n  " + "\n  ".join(lines))


async def test_a_whisper_finds_its_recipient_in_whatever_region_it_plays(regions, player):
    a, _a_name, a_id = await player("a")
    c, c_name, _ = await player("c")
    # c's server tells its broker who plays there every 0.5 s; federation carries the route
    # to a's broker
    key = f"n.{c_name.lower()}"
    assert await asyncio.to_thread(eventually, lambda: regions.routed_on("a", key), 10)
    await a.whisper(c_name.lower(), "found you")
    heard = await c.wait_event(lambda e: e.get("message") == "found you")
    assert (heard["channel"], heard["from"], heard["region"]) == ("whisper", a_id, "a")
    await a.whisper(c_name, "by region", region="c")
    await c.wait_event(lambda e: e.get("message") == "by region")
    with pytest.raises(GameError, match="not in region b") as refused:
        await a.whisper(c_name, "wrong region", region="b")
    assert refused.value.code == "player_offline"
    with pytest.raises(GameError, match="not in the world"):
        await a.whisper("Nobody", "hello?")


async def test_a_region_cut_off_chats_at_home_and_hears_the_others_when_healed(regions, player):
    a, *_ = await player("a")
    b, *_ = await player("b")
    links = [p for (down, up), p in regions.proxies.items() if "b" in (down, up)]
    for proxy in links:
        proxy.set_faults(partitioned=True)
    try:
        other_b, *_ = await player("b")
        await b.chat("only at home", "global")
        await other_b.wait_event(lambda e: e.get("message") == "only at home")
        await a.chat("while b is away", "global")
        with pytest.raises(TimeoutError):
            await b.wait_event(lambda e: e.get("message") == "while b is away", timeout_s=1)
    finally:
        regions.heal()
    # held by the link for its message TTL, delivered when it is back
    await b.wait_event(lambda e: e.get("message") == "while b is away", timeout_s=15)


async def test_a_token_of_one_region_is_refused_by_another(regions):
    """The worlds share JWT_SECRET; account 1 of a is not account 1 of b."""
    a = GatewayClient(regions.worlds["a"].gateway_url)
    await a.register("fed_token_holder", "correct horse battery")
    try:
        async with httpx.AsyncClient() as http:
            answer = await http.get(
                f"{regions.worlds['b'].gateway_url}/api/characters",
                headers={"Authorization": f"Bearer {a.token}"},
            )
        assert answer.status_code == 401
        assert "issued in region 'a'" in answer.json()["message"]
    finally:
        await a.close()
