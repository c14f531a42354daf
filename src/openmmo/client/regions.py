"""Picking a region as a client: ask any gateway for the regions, time each one's ping, and
let the gateway recommend among those that are up (docs/reference/http-api.md#regions)."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx


class NoRegion(Exception):
    """No gateway answered, or no region is up."""


@dataclass(frozen=True)
class RegionChoice:
    region: str
    gateway_url: str
    reason: str  # the gateway's: hint (the nearest measured, or home), network, own, order
    rtt_ms: dict[str, float | None]  # median ping per region (None: it did not answer)
    unavailable: list[str]


async def choose_region(
    gateways: list[str],
    *,
    home: str | None = None,
    pings: int = 3,
    timeout_s: float = 2.0,
) -> RegionChoice:
    """The region to play in. ``gateways``: any gateways of the world, tried in turn until one
    answers. The hint sent is ``home`` when given (a player's account lives there), else
    the region whose ping answered fastest (the median of ``pings``)."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        listing, base = await _first_answer(client, gateways, "")
        regions = [r for r in listing["regions"] if r["up"]]
        rtts = dict(
            zip(
                [r["name"] for r in regions],
                await asyncio.gather(*(_rtt(client, r["ping_url"], pings) for r in regions)),
                strict=True,
            )
        )
        measured = {name: rtt for name, rtt in rtts.items() if rtt is not None}
        hint = home or (min(measured, key=lambda n: measured[n]) if measured else None)
        if hint:
            listing, _ = await _first_answer(client, [base, *gateways], f"?region={hint}")
    chosen = listing.get("recommended")
    if chosen is None:
        raise NoRegion(f"no region is up (passed over: {', '.join(listing['unavailable'])})")
    url = next(r["gateway_url"] for r in listing["regions"] if r["name"] == chosen)
    return RegionChoice(chosen, url, listing["reason"], rtts, listing["unavailable"])


async def _first_answer(
    client: httpx.AsyncClient, gateways: list[str], query: str
) -> tuple[dict[str, Any], str]:
    problems = []
    for base in gateways:
        try:
            response = await client.get(f"{base.rstrip('/')}/api/regions{query}")
            if response.status_code == 200:
                body: dict[str, Any] = response.json()
                return body, base
            problems.append(f"{base}: HTTP {response.status_code}")
        except (httpx.HTTPError, ValueError) as exc:
            problems.append(f"{base}: {type(exc).__name__}")
    raise NoRegion("no gateway answered: " + "; ".join(problems))


async def _rtt(client: httpx.AsyncClient, url: str, pings: int) -> float | None:
    """Median round trip of ``pings`` pings, in ms; None when none answered 200."""
    times = []
    for _ in range(pings):
        began = time.perf_counter()
        try:
            response = await client.get(url)
        except httpx.HTTPError:
            continue
        if response.status_code == 200:
            times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times) if times else None
