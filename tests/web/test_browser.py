"""The browser client (/play) and the console (/console) in headless Chromium, against a
gateway and two zone servers (town, wilds) as separate processes on the real backends."""

import asyncio
import os
import random
import sys

import pytest
from tests.web.conftest import ARTIFACTS, page_of, place

from openmmo.client import GameClient, GatewayClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

PORTAL_X = 1004  # the town's east portal: 1004..1024 x 492..532 (protocol.md §10.7)

ME = """() => {
  const st = window.openmmo.state, snap = st.buffer.at(-1);
  const me = snap && snap.byId.get(st.self);
  return me ? {x: me.x, y: me.y, zone: st.zone.zone_id, link: st.link.state,
               reconnects: st.link.reconnects, seen: [...snap.byId.keys()],
               names: Object.fromEntries(st.names)} : null;
}"""


async def until(page, script, timeout_s=15.0, arg=None):
    return await page.wait_for_function(script, arg=arg, timeout=timeout_s * 1000)


async def bot(cluster, name, x, y):
    """A player of the Python client, standing at (x, y) in the town."""
    gateway = GatewayClient(cluster.gateway_url)
    await gateway.register(name.lower(), "correct horse battery")
    character = await gateway.create_character(name)
    await place(cluster, name, x, y)
    grant = await gateway.join_zone(1, character["character_id"])
    game = await GameClient.connect(grant["ws_url"], grant["ticket"], encoding="msgpack")
    await game.join()
    return game, character


async def hold(page, key, seconds):
    await page.focus("#map")
    await page.keyboard.down(key)
    await asyncio.sleep(seconds)
    await page.keyboard.up(key)


async def test_a_guest_plays_in_the_browser_through_a_restart_and_a_portal(cluster, browser):
    page = await page_of(browser, f"{cluster.gateway_url}/play")
    await page.click("#guest")
    await page.wait_for_selector("#character-list button")
    name = await page.inner_text("#character-list b")
    await place(cluster, name, PORTAL_X - 12, 512)  # a few steps west of the portal
    friend, friend_character = await bot(cluster, "Friend", PORTAL_X - 16, 512)
    await page.click("#character-list button")

    # it plays: snapshots arrive and the bot is seen, by name
    await until(page, "window.openmmo.state.snapshots > 3")
    await until(
        page,
        "id => window.openmmo.state.names.get(id) === 'Friend'",
        arg=friend_character["character_id"],
    )
    start = await page.evaluate(ME)
    assert friend_character["character_id"] in start["seen"]
    assert await page.evaluate("window.openmmo.state.link.protocol") == 2  # delta snapshots

    # it moves: the server's position (in the snapshots) follows the keys
    await hold(page, "s", 1.0)
    await until(page, f"() => ({ME})().y > {start['y'] + 3}")

    # it chats, and the bot hears it
    await page.fill("#chat-text", "hello from the browser")
    await page.press("#chat-text", "Enter")
    said = await friend.wait_event(
        lambda e: e["type"] == "chat" and e["message"] == "hello from the browser"
    )
    assert said["name"] == name
    await until(page, "() => document.getElementById('chat-log').textContent.includes('hello')")
    await page.screenshot(path=ARTIFACTS / "play.png")

    # its zone server dies and comes back: the page resumes by itself
    cluster.kill("zone1-1")
    await until(page, "window.openmmo.state.link.state !== 'playing'", timeout_s=10)
    status = await page.inner_text("#status")
    cluster.start_process("zone1-1", same_name=True)
    await until(
        page,
        "window.openmmo.state.link.state === 'playing' && window.openmmo.state.link.reconnects > 0",
        timeout_s=30,
    )
    assert "reconnecting" in status or "connect" in status, status
    await friend.close()

    # it walks east through the portal and arrives in the wilds
    await until(page, "window.openmmo.state.zone.zone_id === 1")
    page_state = await page.evaluate(ME)
    steps = (PORTAL_X + 1 - page_state["x"]) / 7.5 + 1.0
    await hold(page, "d", steps)
    await until(page, "window.openmmo.state.zone.zone_id === 2", timeout_s=15)
    await until(page, f"() => {{ const m = ({ME})(); return m && m.zone === 2; }}")
    arrived = await page.evaluate(ME)
    assert abs(arrived["x"] - 40) < 10 and abs(arrived["y"] - 1024) < 10  # the arrival point
    assert await page.inner_text("#zone-name") == "wilds (2)"
    await page.screenshot(path=ARTIFACTS / "play-wilds.png")
    assert page.errors == []


async def wander(game, x, y, stop):
    """Small random steps around (x, y), well under the speed limit."""
    while not stop.is_set():
        x += random.uniform(-0.7, 0.7)
        y += random.uniform(-0.7, 0.7)
        game.move(x, y)
        await asyncio.sleep(0.1)


async def test_the_console_shows_the_world_moving_and_an_admin_kicks(cluster, browser):
    gateway = GatewayClient(cluster.gateway_url)
    await gateway.register("operator", "correct horse battery")
    granted = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "openmmo", "admin", "grant-admin", "operator"],
        env={**os.environ, **cluster.base_env},
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await granted.communicate()
    assert granted.returncode == 0, stderr
    spots = [(300.0 + 150 * n, 400.0) for n in range(3)]  # far apart: a click hits one
    bots = [await bot(cluster, f"Walker{n}", x, y) for n, (x, y) in enumerate(spots)]
    stop = asyncio.Event()
    walking = [
        asyncio.create_task(wander(game, x, y, stop))
        for (game, _), (x, y) in zip(bots, spots, strict=True)
    ]
    try:
        page = await page_of(browser, f"{cluster.gateway_url}/console")
        await page.fill("#username", "operator")
        await page.fill("#password", "correct horse battery")
        await page.click("#account button")
        await until(page, "window.openmmoConsole.state.frames > 2")
        # both zone servers, with live numbers
        await until(
            page,
            "() => document.querySelectorAll('#cluster tbody tr').length === 2 && "
            "document.querySelector('#cluster tr[data-channel=\"zone1-1\"] .players')"
            ".textContent.startsWith('3/')",
        )
        assert await page.inner_text("#cluster tr[data-channel='zone2-1'] .players") == "0/1000"
        tick = await page.inner_text("#cluster tr[data-channel='zone1-1'] .tick")
        assert tick.endswith(" ms") and float(tick.split()[0]) > 0
        # the bots move on the map between two screenshots
        positions = (
            "() => Object.fromEntries([...window.openmmoConsole.state.current.values()]"
            ".filter(e => e.kind === 0).map(e => [e.id, [e.x, e.y]]))"
        )
        before = await page.evaluate(positions)
        first = await page.locator("#world").screenshot(path=ARTIFACTS / "console-1.png")
        await asyncio.sleep(1.5)
        after = await page.evaluate(positions)
        second = await page.locator("#world").screenshot(path=ARTIFACTS / "console-2.png")
        assert len(before) == 3
        assert any(before[k] != after.get(k) for k in before), (before, after)
        assert first != second
        await page.screenshot(path=ARTIFACTS / "console.png")

        # click a bot on the map, then kick it
        victim, victim_character = bots[0]
        stop.set()
        await asyncio.gather(*walking)
        await asyncio.sleep(0.6)  # still, so the click lands on it
        spot = await page.evaluate(
            """id => { const st = window.openmmoConsole.state, e = st.current.get(id);
              const c = document.getElementById('world'), r = c.getBoundingClientRect();
              const s = Math.min(c.width / st.zone.width, c.height / st.zone.height);
              const ox = (c.width - st.zone.width * s) / 2;
              const oy = (c.height - st.zone.height * s) / 2;
              return {x: r.left + (ox + e.x * s) * r.width / c.width,
                      y: r.top + (oy + e.y * s) * r.height / c.height}; }""",
            victim_character["character_id"],
        )
        await page.mouse.click(spot["x"], spot["y"])
        await page.wait_for_selector("#inspect:not([hidden])")
        await until(
            page, "() => document.querySelector('[data-field=name]')?.textContent === 'Walker0'"
        )
        await until(
            page, "() => document.querySelector('[data-field=latency]').textContent.endsWith('ms')"
        )
        await page.click("#kick")
        code, _ = await victim.wait_closed(10)
        assert code == 4003
        assert victim.history and any(m.get("code") == "kicked" for m in victim.history)
        await until(page, "() => document.getElementById('audit').textContent.includes('kick')")
        assert page.errors == []
    finally:
        stop.set()
        for game, _ in bots:
            await game.close()
