"""One player session through the compose stack's nginx, for scripts/container-smoke.sh.

    .venv/bin/python deploy/smoke/play.py http://127.0.0.1:PORT

Device login, the zone directory, join zone 1 at the ws_url the gateway hands out (it must be
nginx's /zone/1/ws, i.e. PUBLIC_WS_URL is right), see ourselves in a snapshot, move (acked by a
later snapshot), chat (acked at once), ping, leave; then the same in zone 2; then two players
queue for a duel and the matchmaker pairs them. Exits non-zero
with the failing step on any error. Traffic goes to the given URL only (loopback).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any

from openmmo.client import GameClient, GatewayClient


def step(name: str, started: float, detail: str = "") -> None:
    print(f"  play: {name:<34} {1000 * (time.perf_counter() - started):7.1f} ms  {detail}")


async def play_zone(gateway: GatewayClient, base: str, zone: int) -> None:
    t = time.perf_counter()
    grant: dict[str, Any] = await gateway.join_zone(zone)
    ws_url = grant["ws_url"]
    expected = base.replace("http://", "ws://", 1).rstrip("/") + f"/zone/{zone}/ws"
    if ws_url != expected:
        raise AssertionError(f"join_zone({zone}) ws_url {ws_url!r}, expected nginx's {expected!r}")
    step(f"join_zone({zone}) grant", t, ws_url)

    t = time.perf_counter()
    game = await GameClient.connect(ws_url, grant["ticket"])
    try:
        joined = await game.join()
        await game.wait_snapshot(lambda c: c.me() is not None)
        me = game.me()
        assert me is not None
        step(f"zone {zone}: connect, join, snapshot", t, f"entity {joined['entity_id']}")

        t = time.perf_counter()
        target_x = me.x + 1.0
        game.move(target_x, me.y)
        await game.wait_snapshot(
            lambda c: (m := c.me()) is not None and abs(m.x - me.x) > 0.01, timeout_s=10
        )
        moved = game.me()
        assert moved is not None
        step(f"zone {zone}: move acked", t, f"x {me.x:.2f} -> {moved.x:.2f}")

        t = time.perf_counter()
        reply = await game.chat(f"hello from the container smoke test ({zone})", "say")
        if reply.get("type") == "error":
            raise AssertionError(f"chat refused: {reply}")
        step(f"zone {zone}: chat acked", t, str(reply.get("type")))

        t = time.perf_counter()
        await game.ping()
        step(f"zone {zone}: ping", t, f"{game.snapshots} snapshots, {len(game.entities)} near")
        if game.snapshots < 2:
            raise AssertionError(f"only {game.snapshots} snapshot(s) in zone {zone}")

        t = time.perf_counter()
        await game.leave()
        step(f"zone {zone}: leave", t, f"close code {game.close_code}")
    finally:
        await game.close()


async def duel(base: str) -> None:
    """Two players queue for a duel; the matchmaker container pairs them on one channel."""
    t = time.perf_counter()
    gateways = [GatewayClient(base) for _ in range(2)]
    try:
        tickets = []
        for gateway in gateways:
            await gateway.device_login(f"smoke-duel-{uuid.uuid4().hex[:12]}")
            tickets.append((await gateway.queue_match("duel"))["ticket_id"])
        results = [
            await g.wait_for_match(ticket, timeout_s=20)
            for g, ticket in zip(gateways, tickets, strict=True)
        ]
    finally:
        for gateway in gateways:
            await gateway.close()
    if {r["status"] for r in results} != {"matched"} or len({r["match_id"] for r in results}) != 1:
        raise AssertionError(f"the duel was not matched: {results}")
    urls = {r["grant"]["ws_url"] for r in results}
    step("matchmaking: duel matched", t, ", ".join(sorted(urls)))


async def main(base: str) -> None:
    t = time.perf_counter()
    async with GatewayClient(base) as gateway:
        await gateway.device_login(f"smoke-{uuid.uuid4().hex[:16]}")
        step("device_login", t)
        t = time.perf_counter()
        zones = await gateway.zones()
        step("zones", t, ", ".join(str(z.get("zone_id", z.get("id"))) for z in zones))
        for zone in (1, 2):
            await play_zone(gateway, base, zone)
    await duel(base)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        asyncio.run(asyncio.wait_for(main(sys.argv[1]), 60))
    except Exception as exc:  # any failure, reported as one line
        print(f"  play: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    print("  play: ok")
