"""A world of several regions on this machine, for tests: each region a real world
(`openmmo up`, its own database) on its own RabbitMQ, the brokers federated by the
definitions `openmmo federation-definitions` writes, every federation link through a
delaying TCP proxy (``rtt_s`` per pair of regions), the gateways listing each other in
REGIONS. ``ping_delay_s`` puts a region's ping URL behind a delaying proxy too (a client
then measures it that much farther away). ``with FederatedRegions(...) as regions:`` starts
them and stops them, failing when a world does not exit with 0."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from openmmo.chaos.proxy import FaultProxy
from openmmo.testing.local import LocalWorld, eventually
from openmmo.testing.services import ThrowawayRabbitMQ


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


class FederatedRegions:
    def __init__(
        self,
        tmp_path: Path,
        rtt_s: Mapping[frozenset[str], float],
        *,
        ping_delay_s: Mapping[str, float] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.names = sorted({name for pair in rtt_s for name in pair})
        self.rtt_s = dict(rtt_s)
        self.ping_delay_s = dict(ping_delay_s or {})
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.rabbits = {n: ThrowawayRabbitMQ(("rabbitmq_federation",)) for n in self.names}
        self.proxies: dict[tuple[str, str], FaultProxy] = {}  # (downstream, upstream)
        self.ping_proxies: dict[str, FaultProxy] = {}
        self.worlds = {
            name: LocalWorld(
                tmp_path / name,
                zones=1,
                env={
                    "REGION": name,
                    "RABBITMQ_URL": self.rabbits[name].url,
                    "REGION_PROBE_INTERVAL_S": "0.5",
                    **(env or {}),
                },
            )
            for name in self.names
        }

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def _proxy(self, port: int, latency_s: float) -> FaultProxy:
        proxy = FaultProxy("127.0.0.1", port)
        self._run(proxy.start())
        proxy.set_faults(latency_s=latency_s)
        return proxy

    def link_delay(self, down: str, up: str) -> float:
        """One way, as set: half the pair's round trip."""
        return self.rtt_s[frozenset((down, up))] / 2

    def heal(self) -> None:
        for (down, up), proxy in self.proxies.items():
            proxy.set_faults(latency_s=self.link_delay(down, up))

    def start(self) -> None:
        # Brokers, then the definitions, then the worlds: each step on every region at once
        # (rabbitmqctl and `openmmo up` each take seconds to start).
        _each([partial(r.start, timeout_s=60) for r in self.rabbits.values()])
        listed = []
        for name, world in self.worlds.items():
            entry = {"name": name, "gateway_url": world.gateway_url}
            if name in self.ping_delay_s:
                proxy = self._proxy(world.gateway_port, self.ping_delay_s[name])
                self.ping_proxies[name] = proxy
                entry["ping_url"] = f"http://127.0.0.1:{proxy.port}/api/ping"
            listed.append(entry)
        imports = []
        for down in self.names:
            upstreams = []
            for up in self.names:
                if up != down:
                    proxy = self._proxy(self.rabbits[up].port, self.link_delay(down, up))
                    self.proxies[down, up] = proxy
                    upstreams += ["--upstream", f"{up}=amqp://guest:guest@127.0.0.1:{proxy.port}"]
            imports.append(partial(self._federate, down, upstreams, listed))
        _each(imports)
        for world in self.worlds.values():
            world.extra_env["REGIONS"] = json.dumps(listed)
        _each([partial(w.start, 60) for w in self.worlds.values()])
        links = 2 * (len(self.names) - 1)  # two exchanges from every other region
        for name, rabbit in self.rabbits.items():
            if not eventually(lambda r=rabbit: self.links_running(r) == links, 30):  # type: ignore[misc]
                raise TimeoutError(f"{name}'s federation links are not all running")
        for name, world in self.worlds.items():
            url = f"{world.gateway_url}/api/regions"
            if not eventually(lambda u=url: all(r["up"] for r in _get(u)["regions"]), 20):  # type: ignore[misc]
                raise TimeoutError(f"{name}'s gateway does not see every region up")

    def _federate(self, down: str, upstreams: list[str], listed: list[dict[str, str]]) -> None:
        written = subprocess.run(
            [sys.executable, "-m", "openmmo", "federation-definitions", *upstreams],
            env={"REGION": down, "REGIONS": json.dumps(listed), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        self.rabbits[down].ctl("import_definitions", input_text=written)

    @staticmethod
    def links_running(rabbit: ThrowawayRabbitMQ) -> int:
        status = json.loads(rabbit.ctl("federation_status", "--formatter", "json") or "[]")
        return sum(1 for link in status if link.get("status") == "running")

    def routed_on(self, region: str, key: str) -> bool:
        """Whether ``region``'s broker has a binding for ``key`` on the players exchange (its
        own server's, or a federation link's carrying another region's)."""
        listed = self.rabbits[region].ctl(
            "list_bindings", "source_name", "routing_key", "--formatter", "json"
        )
        return any(
            b["source_name"] == "openmmo.players" and b["routing_key"] == key
            for b in json.loads(listed)
        )

    def __enter__(self) -> FederatedRegions:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        codes = self.stop()
        if exc[0] is None and any(codes.values()):
            raise AssertionError(f"a world did not exit cleanly: {codes}")

    def stop(self) -> dict[str, int]:
        codes = {name: world.stop() for name, world in self.worlds.items()}
        for proxy in [*self.proxies.values(), *self.ping_proxies.values()]:
            self._run(proxy.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        for rabbit in self.rabbits.values():
            rabbit.close()
        return codes


def _each(calls: Sequence[Callable[[], object]]) -> None:
    """Run ``calls`` all at once, each on a thread; raise the first one's exception."""
    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()
