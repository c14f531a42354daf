"""Three regions on one machine, each a real gateway process with its own embedded database:
each probes the others' /api/ping; a client is sent to its region (hint, network), and to
another within REGION_DOWN_AFTER_S when its region goes down."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from openmmo.chaos.proxy import FaultProxy
from openmmo.client.regions import NoRegion, choose_region
from openmmo.testing.local import eventually, free_port

NAMES = ("a", "b", "c")
DOWN_AFTER_S = 3.0
INTERVAL_S = 0.5


def get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def start_gateways(tmp_path, ports, listed):
    processes = {}
    for name, port in ports.items():
        env = {
            **os.environ,
            "REGION": name,
            "REGIONS": json.dumps(listed),
            "REGION_PROBE_INTERVAL_S": str(INTERVAL_S),
            "REGION_DOWN_AFTER_S": str(DOWN_AFTER_S),
            "SERVER_PORT": str(port),
            "HEALTH_PORT": "0",
            "METRICS_PORT": "0",
            "BIND_HOST": "127.0.0.1",
            "DATA_DIR": str(tmp_path / name),
            "LOG_LEVEL": "warning",
        }
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "openmmo", "gateway"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return processes


def stop_gateways(processes):
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        process.wait(15)


@pytest.fixture
def regions(tmp_path):
    ports = {name: free_port() for name in NAMES}
    listed = [
        {
            "name": name,
            "gateway_url": f"http://127.0.0.1:{port}",
            "networks": ["127.0.0.0/8"] if name == "c" else [],
        }
        for name, port in ports.items()
    ]
    processes = start_gateways(tmp_path, ports, listed)
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        assert eventually(
            lambda: all(
                all(r["up"] for r in get(f"{url}/api/regions")["regions"]) for url in urls.values()
            ),
            20,
        ), "the regions did not all see each other up"
        yield urls, processes
    finally:
        stop_gateways(processes)


@pytest.fixture
def far_regions(tmp_path):
    """b 40 ms and c 80 ms away (each way) from this client and from a, through delaying TCP
    proxies on their ping URLs; no network map."""
    ports = {name: free_port() for name in NAMES}
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    proxies = {}
    for name, delay in (("b", 0.04), ("c", 0.08)):
        proxy = FaultProxy("127.0.0.1", ports[name])
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(5)
        proxy.set_faults(latency_s=delay)
        proxies[name] = proxy
    listed = [
        {
            "name": name,
            "gateway_url": f"http://127.0.0.1:{port}",
            "ping_url": f"http://127.0.0.1:{proxies[name].port}/api/ping"
            if name in proxies
            else "",
        }
        for name, port in ports.items()
    ]
    processes = start_gateways(tmp_path, ports, listed)
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        assert eventually(
            lambda: all(r["up"] for r in get(f"{urls['c']}/api/regions")["regions"]), 20
        ), "the regions did not all see each other up"
        yield urls, processes
    finally:
        stop_gateways(processes)
        for proxy in proxies.values():
            asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)


def test_a_client_plays_in_the_region_it_measured_nearest_and_fails_over(far_regions):
    urls, processes = far_regions
    # asked through the farthest region's gateway, it still picks the nearest by its pings
    choice = asyncio.run(choose_region([urls["c"]]))
    assert (choice.region, choice.reason, choice.gateway_url) == ("a", "hint", urls["a"])
    rtt = choice.rtt_ms
    print(f"measured ping round trips (ms): {rtt}")
    assert rtt["a"] < rtt["b"] < rtt["c"], rtt
    assert rtt["b"] >= 80 and rtt["c"] >= 160, rtt  # two delays per round trip
    # a player whose home is c is sent home
    assert asyncio.run(choose_region([urls["b"]], home="c")).region == "c"
    # the nearest region goes down: the next nearest, b, within REGION_DOWN_AFTER_S
    processes["a"].send_signal(signal.SIGKILL)
    assert eventually(lambda: asyncio.run(choose_region([urls["a"], urls["c"]])).region == "b", 20)
    for name in ("b", "c"):
        processes[name].send_signal(signal.SIGKILL)
        processes[name].wait(10)
    with pytest.raises(NoRegion, match="no gateway answered"):
        asyncio.run(choose_region(list(urls.values()), timeout_s=0.5))


def test_a_client_goes_to_its_hint_then_its_network_then_the_gateways_region(regions):
    urls, _ = regions
    a = get(f"{urls['a']}/api/regions?region=b")
    assert (a["region"], a["recommended"], a["reason"], a["unavailable"]) == ("a", "b", "hint", [])
    listed = {r["name"]: r for r in a["regions"]}
    assert listed["a"]["this"] and not listed["b"]["this"]
    assert listed["b"]["probe_ms"] is not None and listed["b"]["seconds_since_seen"] < DOWN_AFTER_S
    assert listed["c"]["ping_url"] == f"{urls['c']}/api/ping"
    # this client's address (127.0.0.1) is in c's networks
    assert get(f"{urls['a']}/api/regions")["recommended"] == "c"
    assert get(f"{urls['b']}/api/regions")["reason"] == "network"
    ping = get(f"{urls['b']}/api/ping")
    assert ping["region"] == "b" and abs(ping["time_ms"] / 1000 - time.time()) < 5


def test_a_region_taken_down_sends_clients_to_the_next_within_the_timeout(regions):
    urls, processes = regions
    processes["c"].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    assert eventually(lambda: get(f"{urls['a']}/api/regions?region=c")["recommended"] != "c", 20)
    failover_s = time.monotonic() - killed
    after = get(f"{urls['a']}/api/regions?region=c")
    assert (after["recommended"], after["reason"], after["unavailable"]) == ("a", "own", ["c"])
    assert failover_s <= DOWN_AFTER_S + INTERVAL_S + 2.5, failover_s  # + probe timeout
    down = {r["name"]: r for r in after["regions"]}["c"]
    assert down["up"] is False and down["error"]
    # b sees the same, and the client without a hint (its network is c's) goes to b's region
    assert eventually(lambda: get(f"{urls['b']}/api/regions")["recommended"] == "b", 20)
    print(f"failover {failover_s:.2f} s")


def test_a_draining_gateway_answers_its_ping_with_503(regions):
    urls, processes = regions
    processes["b"].send_signal(signal.SIGTERM)
    seen = []

    def refused():
        try:
            get(f"{urls['b']}/api/ping")
        except urllib.error.HTTPError as exc:
            seen.append(exc.code)
            return True
        except OSError:
            seen.append("closed")
            return True
        return False

    assert eventually(refused, 10, 0.05)
    assert seen[0] in (503, "closed")
    # passed over: the next preference of this client is its network's region, c
    assert eventually(lambda: get(f"{urls['a']}/api/regions?region=b")["unavailable"] == ["b"], 20)
    after = get(f"{urls['a']}/api/regions?region=b")
    assert (after["recommended"], after["reason"]) == ("c", "network")
