"""The browser client in a world of two regions (each a real world on its own RabbitMQ, the
brokers federated, 40 ms each way between them): the page times each region's ping, offers
the nearer region, plays there, and shows and answers chat from the other region."""

import asyncio

import pytest
from tests.web.conftest import page_of

from openmmo.client import GameClient, GatewayClient
from openmmo.testing.local import LocalWorld, eventually
from openmmo.testing.regions import FederatedRegions

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    # a's ping answers 0.1 s late each way: a page served by a measures b nearer
    with FederatedRegions(
        tmp_path_factory.mktemp("regions"), {frozenset("ab"): 0.08}, ping_delay_s={"a": 0.1}
    ) as world:
        yield world


async def until(page, script, timeout_s=15.0):
    return await page.wait_for_function(script, timeout=timeout_s * 1000)


async def test_the_page_offers_the_nearer_region_and_chats_across_regions(regions, browser):
    a_url, b_url = regions.worlds["a"].gateway_url, regions.worlds["b"].gateway_url
    page = await page_of(browser, f"{a_url}/play")
    nearer = await page.wait_for_selector("#nearer", timeout=15_000)
    assert await nearer.inner_text() == "Play in b (nearer) →"
    shown = await page.inner_text("#region")
    assert shown.startswith("Region a · a ") and " · b " in shown, shown
    rtt = await page.evaluate("window.openmmo.state.region.rtt_ms")
    assert rtt["a"] >= 200 > rtt["b"], rtt  # two delays per round trip
    await nearer.click()
    await page.wait_for_url(f"{b_url}/play")

    await page.click("#guest")
    await page.wait_for_selector("#character-list button")
    name = await page.inner_text("#character-list b")
    await page.click("#character-list button")
    await until(page, "window.openmmo.state.snapshots > 3")
    await until(page, "window.openmmo.state.region !== null")  # its pings take a moment
    assert await page.evaluate("window.openmmo.state.region.region") == "b"

    # a player of region a speaks on the global channel: the page shows it as name@a
    gateway = GatewayClient(a_url)
    await gateway.register("far_away", "correct horse battery")
    hero = await gateway.create_character("FarAway")
    grant = await gateway.join_zone(1, hero["character_id"])
    far = await GameClient.connect(grant["ws_url"], grant["ticket"])
    try:
        await far.join(character_id=hero["character_id"])
        await far.chat("hello from a", "global")
        await until(
            page,
            "() => window.openmmo.state.chat.some(c => c.name === 'FarAway@a'"
            " && c.message === 'hello from a' && c.channel === 'global')",
        )
        # and the page whispers back, to name@region as it showed it, once a's server has
        # told its broker who plays there and federation has carried the route to b's
        routed = lambda: regions.routed_on("b", "r.a.faraway")  # noqa: E731
        assert await asyncio.to_thread(eventually, routed, 10)
        await page.select_option("#chat-channel", "whisper")
        await page.fill("#chat-to", "FarAway@a")
        await page.fill("#chat-text", "hello from b")
        await page.press("#chat-text", "Enter")
        heard = await far.wait_event(lambda e: e.get("message") == "hello from b")
        assert (heard["channel"], heard["name"], heard["region"]) == ("whisper", name, "b")
        await until(
            page,
            "() => window.openmmo.state.chat.some(c => c.name === 'to FarAway@a')",
        )
        assert page.errors == []
    finally:
        await far.close()
        await gateway.close()


async def test_a_page_of_a_world_with_one_region_shows_no_region(browser, tmp_path):
    with LocalWorld(tmp_path) as world:
        page = await page_of(browser, f"{world.gateway_url}/play")
        await page.wait_for_function("window.openmmo.state.region !== null")
        assert await page.is_hidden("#region")
        assert await page.evaluate("window.openmmo.state.region.regions.length") == 1
