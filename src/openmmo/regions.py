"""Regions: where a client should play, among the world's regions that are up.

Every gateway knows every region's public endpoints (``REGIONS``) and probes the others'
``/api/ping`` every ``REGION_PROBE_INTERVAL_S``; a region that has not answered for
``REGION_DOWN_AFTER_S`` is down. A client asks any gateway ``GET /api/regions`` and gets the
list with each region's health and one recommendation, in this order of preference:

1. the region the client asked for (``?region=`` hint: the one it measured nearest by pinging
   each region's ``ping_url``, or the player's home region), when it is up;
2. the region its address belongs to by the configured networks (the most specific match);
3. this gateway's own region;
4. the others in the order ``REGIONS`` lists them (nearest first, as the operator sees it).

The first of those that is up is recommended; when none is, the list still comes back, with
no recommendation. Kind: pure (the probing is done by the gateway, see ``probe``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator


class RegionEndpoint(BaseModel):
    """One item of ``REGIONS``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", max_length=63)
    gateway_url: str = Field(description="The region's public gateway URL.")
    ping_url: str = Field("", description="Latency and health probe (default <gateway>/api/ping).")
    networks: list[IPvAnyNetwork] = Field(
        default_factory=list, description="Client networks this region serves first."
    )

    @field_validator("gateway_url", "ping_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @property
    def ping(self) -> str:
        return self.ping_url or f"{self.gateway_url}/api/ping"


@dataclass
class _State:
    last_ok: float | None = None
    rtt_ms: float | None = None
    error: str | None = None


class Regions:
    def __init__(self, own: str, endpoints: list[RegionEndpoint], down_after_s: float) -> None:
        names = [e.name for e in endpoints]
        if len(set(names)) != len(names):
            raise ValueError("REGIONS: a region is listed twice")
        if endpoints and own not in names:
            raise ValueError(f"REGIONS does not list this process's REGION {own!r}")
        self.own = own
        self.endpoints = endpoints
        self.down_after_s = down_after_s
        self._state = {e.name: _State() for e in endpoints}

    def record(
        self, name: str, ok: bool, now: float, rtt_ms: float | None, error: str = ""
    ) -> None:
        state = self._state[name]
        if ok:
            state.last_ok, state.rtt_ms, state.error = now, rtt_ms, None
        else:
            state.error = error or "no answer"

    def up(self, name: str, now: float, self_ready: bool) -> bool:
        if name == self.own:
            return self_ready
        last = self._state[name].last_ok
        return last is not None and now - last <= self.down_after_s

    def choose(
        self, hint: str | None, address: str | None, now: float, self_ready: bool
    ) -> tuple[str | None, str | None, list[str]]:
        """(recommended region, why: ``hint``, ``network``, ``own`` or ``order``, the preferred
        regions passed over because they are down); (None, None, ...) when every one is."""
        candidates: list[tuple[str, str]] = []
        if hint in self._state:
            candidates.append((hint, "hint"))
        mapped = self.region_of(address)
        if mapped:
            candidates.append((mapped, "network"))
        candidates.append((self.own, "own"))
        candidates.extend((e.name, "order") for e in self.endpoints)
        down: list[str] = []
        for name, reason in candidates:
            if self.up(name, now, self_ready):
                return name, reason, down
            if name not in down:
                down.append(name)
        return None, None, down

    def region_of(self, address: str | None) -> str | None:
        """The region whose networks hold ``address`` most specifically."""
        if not address:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        best: tuple[int, str] | None = None
        for endpoint in self.endpoints:
            for network in endpoint.networks:
                inside = ip.version == network.version and ip in network
                if inside and (best is None or network.prefixlen > best[0]):
                    best = (network.prefixlen, endpoint.name)
        return best[1] if best else None

    def listing(self, now: float, self_ready: bool, own_url: str) -> list[dict[str, Any]]:
        """Every region with its health; without ``REGIONS``, this one alone at ``own_url``."""
        endpoints = self.endpoints or [RegionEndpoint(name=self.own, gateway_url=own_url)]
        out = []
        for endpoint in endpoints:
            own = endpoint.name == self.own
            state = _State() if own else self._state[endpoint.name]
            seen = None if state.last_ok is None else round(now - state.last_ok, 1)
            out.append(
                {
                    "name": endpoint.name,
                    "gateway_url": endpoint.gateway_url,
                    "ping_url": endpoint.ping,
                    "up": self.up(endpoint.name, now, self_ready),
                    "this": own,
                    "seconds_since_seen": 0.0 if own else seen,
                    "probe_ms": None if state.rtt_ms is None else round(state.rtt_ms, 1),
                    "error": state.error,
                }
            )
        return out
