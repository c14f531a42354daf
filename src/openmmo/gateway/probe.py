"""The other regions' health, as this gateway sees it: their ``/api/ping`` every
``REGION_PROBE_INTERVAL_S``, recorded in :class:`openmmo.regions.Regions` (and
``openmmo_region_up``)."""

from __future__ import annotations

import asyncio
import time

import httpx

from openmmo.logs import get_logger
from openmmo.metrics import REGION_UP
from openmmo.regions import RegionEndpoint, Regions

log = get_logger("openmmo.gateway")


async def probe_regions(regions: Regions, interval_s: float) -> None:
    """Runs until cancelled; nothing to do with one region."""
    others = [e for e in regions.endpoints if e.name != regions.own]
    if not others:
        return
    REGION_UP.labels(regions.own).set(1)
    async with httpx.AsyncClient(timeout=min(2.0, interval_s)) as client:
        while True:
            try:
                await asyncio.gather(*(_probe(client, regions, e) for e in others))
                for endpoint in others:
                    REGION_UP.labels(endpoint.name).set(
                        regions.up(endpoint.name, time.monotonic(), self_ready=True)
                    )
            except Exception:  # a bug here must not stop the gateway it runs in
                log.exception("region_probe_failed")
            await asyncio.sleep(interval_s)


async def _probe(client: httpx.AsyncClient, regions: Regions, endpoint: RegionEndpoint) -> None:
    began = time.monotonic()
    try:
        response = await client.get(endpoint.ping)
        answered = response.json().get("region") if response.status_code == 200 else None
        ok = answered == endpoint.name
        error = "" if ok else f"HTTP {response.status_code}, region {answered!r}"
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        ok, error = False, f"{type(exc).__name__}: {exc}".rstrip(": ")
    now = time.monotonic()
    regions.record(endpoint.name, ok, now, (now - began) * 1000, error)
