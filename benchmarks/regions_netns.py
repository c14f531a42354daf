"""Three regions as network namespaces on one machine: routing, cross-region chat, failover.

    sudo .venv/bin/python benchmarks/regions_netns.py [--lines 20]      (make bench-regions)

Needs root (``ip netns``). Region i's namespace holds its own RabbitMQ, its own world
(`openmmo up`: a gateway and two zone servers on their own database) and its own players, on
10.231.i.2; the root end of its veth is 10.231.i.1. Nothing is forwarded between namespaces
(the host's ip_forward is left alone): what crosses regions goes through TCP proxies in the
root namespace listening on 10.231.i.1 — region i's public gateway and public broker, which
every namespace reaches (a packet to one of the host's own addresses is delivered, not
forwarded) — and each connection is delayed by where it comes from, as geography would
(round trips a-b 20 ms, a-c 80 ms, b-c 150 ms, nothing from the region itself). The brokers
are federated by ``openmmo federation-definitions`` through those proxies; the gateways list
the public addresses in REGIONS and probe each other through them.

Then: a client in each namespace picks its region by pinging every region
(``choose_region``) and plays there; players in every region say global chat lines at
random intervals and every region's listener times each line from the others (one clock:
the same machine); region c's world is killed, and the time until the other gateways pass it
over is taken, and a new login from c's namespace is sent to the nearest region that is up.
Prints the figures; writes reports/regions.{json,html}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from openmmo import reports
from openmmo.chaos.proxy import FaultProxy
from openmmo.client import GameClient, GatewayClient
from openmmo.client.regions import choose_region
from openmmo.testing.local import TEST_JWT_SECRET, eventually
from openmmo.testing.regions import FederatedRegions
from openmmo.testing.services import ThrowawayRabbitMQ

ROOT = Path(__file__).resolve().parents[1]
FEDERATION = ROOT / "deploy/monitoring/federation"
RULES = ROOT / "deploy/monitoring/rules/openmmo.rules.yaml"
PROMETHEUS_PORT = 9090
NAMES = ("a", "b", "c")
RTT_S = {frozenset("ab"): 0.020, frozenset("ac"): 0.080, frozenset("bc"): 0.150}
GATEWAY_PORT, ZONE_PORTS = 8080, "7001,7002"
DOWN_AFTER_S, PROBE_S = 3.0, 0.5


def rtt(x: str, y: str) -> float:
    return 0.0 if x == y else RTT_S[frozenset(x + y)]


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=3) as response:
        return json.loads(response.read())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Region:
    def __init__(self, name: str, index: int, tag: str, tmp: Path):
        self.name = name
        self.ns = f"{tag}-{name}"
        self.root_dev, self.ns_dev = f"{tag}{name}r", f"{tag}{name}n"
        self.public_ip, self.ip = f"10.231.{10 + index}.1", f"10.231.{10 + index}.2"
        self.dir = tmp / name
        self.dir.mkdir()
        self.world: subprocess.Popen[bytes] | None = None
        self.prometheus: subprocess.Popen[bytes] | None = None
        self.rabbit: ThrowawayRabbitMQ | None = None
        self.gateway_proxy: FaultProxy | None = None
        self.broker_proxy: FaultProxy | None = None

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.ns]

    def create(self) -> None:
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.root_dev, "type", "veth", "peer", "name", self.ns_dev)
        sh("ip", "link", "set", self.ns_dev, "netns", self.ns)
        sh("ip", "addr", "add", f"{self.public_ip}/24", "dev", self.root_dev)
        sh("ip", "link", "set", self.root_dev, "up")
        for command in (
            ["ip", "addr", "add", f"{self.ip}/24", "dev", self.ns_dev],
            ["ip", "link", "set", self.ns_dev, "up"],
            ["ip", "link", "set", "lo", "up"],
            ["ip", "route", "add", "default", "via", self.public_ip],
        ):
            sh(*self.prefix, *command)

    @property
    def gateway_url(self) -> str:  # the public one, through the delaying proxy
        assert self.gateway_proxy is not None
        return f"http://{self.public_ip}:{self.gateway_proxy.port}"

    @property
    def broker_url(self) -> str:
        assert self.broker_proxy is not None
        return f"amqp://guest:guest@{self.public_ip}:{self.broker_proxy.port}"

    def start_world(self, listed: list[dict[str, Any]]) -> None:
        assert self.rabbit is not None
        env = {
            **os.environ,
            "REGION": self.name,
            "REGIONS": json.dumps(listed),
            "REGION_PROBE_INTERVAL_S": str(PROBE_S),
            "REGION_DOWN_AFTER_S": str(DOWN_AFTER_S),
            "RABBITMQ_URL": self.rabbit.url,
            "JWT_SECRET": TEST_JWT_SECRET,
            "LOG_FORMAT": "json",
            "SPAWN_RADIUS": "0",
        }
        log = (self.dir / "openmmo.log").open("ab")
        self.world = subprocess.Popen(
            [
                *self.prefix,
                sys.executable,
                "-m",
                "openmmo",
                "up",
                "--port",
                str(GATEWAY_PORT),
                "--zone-ports",
                ZONE_PORTS,
                "--host",
                self.ip,
            ],
            cwd=self.dir,
            env=env,
            stdout=log,
            stderr=log,
        )
        log.close()

    def start_prometheus(self) -> None:
        """The region's own Prometheus, in its namespace: its world's metrics, the shipped
        rules, its region as external label (as deploy/monitoring/federation/
        global-prometheus.yml expects)."""
        work = self.dir / "prometheus"
        work.mkdir()
        # the shipped rules, their price sheet for this region (as the chart renders it from
        # its `cost` values)
        rules = RULES.read_text().replace("{region: local,", f"{{region: {self.name},")
        assert rules != RULES.read_text(), "the price sheet of the rules moved"
        (work / "rules.yaml").write_text(rules)
        config = {
            "global": {
                "scrape_interval": "1s",
                "evaluation_interval": "1s",
                "external_labels": {"region": self.name},
            },
            "rule_files": [str(work / "rules.yaml")],
            "scrape_configs": [
                {
                    "job_name": "openmmo",
                    "static_configs": [{"targets": [f"{self.ip}:{GATEWAY_PORT}"]}],
                }
            ],
        }
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.prometheus = prometheus(work, f"{self.ip}:{PROMETHEUS_PORT}", self.prefix)

    def ready(self) -> bool:
        with urllib.request.urlopen(f"http://{self.ip}:{GATEWAY_PORT}/health/ready", timeout=1):
            return True

    def cleanup(self) -> None:
        if self.world is not None and self.world.poll() is None:
            self.world.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.world.wait(30)
        if self.rabbit is not None:
            self.rabbit.close()
        if self.prometheus is not None:
            self.prometheus.terminate()
            self.prometheus.wait(10)
        # what is left in our namespace is ours (epmd, started by the broker there)
        listed = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True)
        for pid in listed.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.root_dev], capture_output=True)


class Proxies:
    """The delaying proxies, on an event loop of their own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.all: list[FaultProxy] = []

    def open(self, region: Region, port: int, regions: list[Region]) -> FaultProxy:
        delays = {r.ip: rtt(r.name, region.name) / 2 for r in regions}
        proxy = FaultProxy(region.ip, port, host=region.public_ip, latency_by_peer=delays)
        asyncio.run_coroutine_threadsafe(proxy.start(), self.loop).result(10)
        self.all.append(proxy)
        return proxy

    def close(self) -> None:
        for proxy in self.all:
            asyncio.run_coroutine_threadsafe(proxy.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def prometheus(work: Path, address: str, prefix: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *prefix,
            "prometheus",
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address={address}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def query(base: str, expression: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    result: list[dict[str, Any]] = get(url)["data"]["result"]
    return result


def global_prometheus(tmp: Path, regions: list[Region]) -> tuple[subprocess.Popen[bytes], str]:
    """The shipped global configuration, federating the three regions' Prometheus."""
    config = yaml.safe_load((FEDERATION / "global-prometheus.yml").read_text())
    config["global"].update({"scrape_interval": "1s", "scrape_timeout": "1s"})
    config["scrape_configs"][0]["static_configs"] = [
        {"targets": [f"{r.ip}:{PROMETHEUS_PORT}"]} for r in regions
    ]
    work = tmp / "global-prometheus"
    work.mkdir()
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = 9099
    return prometheus(work, f"127.0.0.1:{port}", []), f"http://127.0.0.1:{port}"


def client(region: Region, *args: str) -> dict[str, Any]:
    """This script's client mode, run in the region's namespace; its JSON answer."""
    done = subprocess.run(
        [*region.prefix, sys.executable, __file__, "client", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"client in {region.name}: {done.stderr[-2000:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def run(lines: int, report_dir: Path) -> None:
    if os.geteuid() != 0:
        sys.exit("regions_netns: needs root (ip netns); run it with sudo")
    tag = f"om{os.getpid() % 10000}"
    tmp = Path(tempfile.mkdtemp(prefix="openmmo-regions-"))
    regions = [Region(name, i, tag, tmp) for i, name in enumerate(NAMES)]
    proxies = Proxies()
    try:
        for region in regions:
            region.create()
            region.rabbit = ThrowawayRabbitMQ(
                ("rabbitmq_federation",),
                host=region.ip,
                netns=region.ns,
                config="loopback_users = none\n",  # the links come from other addresses
            )
        starting = [threading.Thread(target=r.rabbit.start, args=(60,)) for r in regions]  # type: ignore[union-attr]
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        for region in regions:
            assert region.rabbit is not None
            region.gateway_proxy = proxies.open(region, GATEWAY_PORT, regions)
            region.broker_proxy = proxies.open(region, region.rabbit.port, regions)
        listed = [{"name": r.name, "gateway_url": r.gateway_url} for r in regions]
        for region in regions:
            assert region.rabbit is not None
            upstreams = [
                arg
                for other in regions
                if other is not region
                for arg in ("--upstream", f"{other.name}={other.broker_url}")
            ]
            definitions = subprocess.run(
                [sys.executable, "-m", "openmmo", "federation-definitions", *upstreams],
                env={**os.environ, "REGION": region.name, "REGIONS": json.dumps(listed)},
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            region.rabbit.ctl("import_definitions", input_text=definitions)
            region.start_world(listed)
        for region in regions:
            if not eventually(region.ready, 60):
                raise RuntimeError(f"region {region.name} not ready: see {region.dir}")
            region.start_prometheus()
        overall, global_url = global_prometheus(tmp, regions)
        for region in regions:
            assert region.rabbit is not None
            wanted = 2 * (len(NAMES) - 1)  # two exchanges from every other region
            if not eventually(
                lambda r=region.rabbit, n=wanted: FederatedRegions.links_running(r) == n, 30
            ):
                raise RuntimeError(f"region {region.name}'s federation links are not running")
        assert eventually(
            lambda: all(
                all(x["up"] for x in get(f"http://{r.ip}:{GATEWAY_PORT}/api/regions")["regions"])
                for r in regions
            ),
            30,
        ), f"the regions do not all see each other up: see {tmp}"

        # players in every region, speaking and listening at once
        start_at = time.time() + 15  # the clients register and join meanwhile
        runs: dict[str, dict[str, Any]] = {}

        def play(region: Region) -> None:
            runs[region.name] = client(
                region, "--gateways", region.gateway_url, "--start-at", str(start_at),
                "--lines", str(lines),
            )  # fmt: skip

        playing = [threading.Thread(target=play, args=(r,)) for r in regions]
        for thread in playing:
            thread.start()
        # while they play: the global Prometheus sees every region's players, and every query
        # of the global dashboard runs on it
        federated = eventually(
            lambda: (
                len(
                    [
                        r
                        for r in query(global_url, "sum by (region) (openmmo:players_online:sum)")
                        if float(r["value"][1]) >= 5
                    ]
                )
                == len(NAMES)
            ),
            40,
            0.5,
        )
        players_by_region = {
            r["metric"]["region"]: float(r["value"][1])
            for r in query(global_url, "sum by (region) (openmmo:players_online:sum)")
        }
        dashboard = json.loads((FEDERATION / "openmmo-global.json").read_text())
        panels = [
            (p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])
        ]
        with_data = sorted({title for title, expr in panels if query(global_url, expr)})
        without = sorted({title for title, _ in panels} - set(with_data))
        for thread in playing:
            thread.join()

        # region c goes away: the others pass it over, a new login from c goes elsewhere
        c, a = regions[2], regions[0]
        assert c.world is not None
        c.world.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        assert eventually(
            lambda: get(f"http://{a.ip}:{GATEWAY_PORT}/api/regions?region=c")["recommended"] != "c",
            30,
            0.05,
        )
        failover_s = time.monotonic() - killed
        relogin = client(c, "--gateways", *(r.gateway_url for r in regions), "--login-only")
    finally:
        with contextlib.suppress(NameError):
            overall.terminate()
            overall.wait(10)
        for region in regions:
            region.cleanup()
        print(f"logs: {tmp}")
        proxies.close()

    figures: dict[str, Any] = {"failover_s": round(failover_s, 2)}
    rows = []
    latencies: dict[tuple[str, str], list[float]] = {}
    for listener, result in runs.items():
        figures[f"{listener}_chose"] = result["choice"]["region"]
        figures[f"{listener}_rtt_ms"] = result["choice"]["rtt_ms"]
        for speaker, latency in result["heard"]:
            latencies.setdefault((speaker, listener), []).append(latency)
    for (speaker, listener), values in sorted(latencies.items()):
        p50, p95 = percentile(values, 0.5) * 1000, percentile(values, 0.95) * 1000
        rows.append(
            [f"{speaker} -> {listener}", rtt(speaker, listener) * 500, len(values), p50, p95]
        )
        figures[f"chat_{speaker}_{listener}_p95_ms"] = round(p95, 1)
    figures["federated_players_by_region"] = players_by_region
    figures["dashboard_panels_with_data"] = len(with_data)
    figures["dashboard_panels_without_data"] = without
    figures["relogin_region"] = relogin["choice"]["region"]
    figures["relogin_reason"] = relogin["choice"]["reason"]
    print(f"{'global chat':<12} {'one way':>8} {'lines':>6} {'p50':>9} {'p95':>9}")
    for path, one_way, n, p50, p95 in rows:
        print(f"{path:<12} {one_way:>5.0f} ms {n:>6} {p50:>6.1f} ms {p95:>6.1f} ms")
    for name in NAMES:
        print(
            f"client in {name}: chose {figures[f'{name}_chose']}, pings {figures[f'{name}_rtt_ms']}"
        )
    print(f"region c killed: passed over in {failover_s:.2f} s (down after {DOWN_AFTER_S} s)")
    print(f"a new login from c's namespace: {relogin['choice']} ({relogin['login']})")
    print(
        f"global Prometheus: players by region {players_by_region}; "
        f"{len(with_data)} of {len(with_data) + len(without)} dashboard panels with data "
        f"(empty: {without})"
    )
    chosen = {n: figures[f"{n}_chose"] for n in NAMES}
    checks = [
        {
            "check": "each client chose its own region",
            "value": chosen,
            "passed": all(chosen[n] == n for n in NAMES),
        },
        {
            "check": "every line reached every region",
            "value": sum(map(len, latencies.values())),
            "passed": all(len(latencies.get((s, h), [])) == lines for s in NAMES for h in NAMES),
        },
        {
            "check": "the global Prometheus federates every region's players",
            "value": players_by_region,
            "passed": federated,
        },
        {
            "check": "every panel of the global dashboard has data on the global Prometheus",
            "value": without,
            "passed": not without,
        },
        {
            "check": "a new login from c goes to a (the nearest up)",
            "value": figures["relogin_region"],
            "passed": figures["relogin_region"] == "a",
        },
    ]
    passed = all(c["passed"] for c in checks)
    result = {
        "figures": figures,
        "checks": checks,
        "latencies": {f"{s}->{h}": v for (s, h), v in latencies.items()},
    }
    paths = reports.write(
        report_dir, "regions", "Three regions in network namespaces", result, [], passed
    )
    print(f"wrote {paths[0]} and {paths[1]}; {'PASS' if passed else 'FAIL'}")
    if not passed:
        sys.exit(1)


async def client_main(gateways: list[str], start_at: float, lines: int, login_only: bool) -> None:
    """One region's players: pick the region, register, join; speak and listen."""
    choice = await choose_region(gateways)
    answer: dict[str, Any] = {
        "choice": {"region": choice.region, "reason": choice.reason, "rtt_ms": choice.rtt_ms}
    }
    tag = f"{choice.region}{os.getpid()}"
    made = []

    async def player(n: int) -> GameClient:
        gateway = GatewayClient(choice.gateway_url)
        await gateway.register(f"net_{tag}_{n}", "correct horse battery")
        hero = await gateway.create_character(f"N{tag}{n}"[:16])
        grant = await gateway.join_zone(1, hero["character_id"])
        if login_only:
            answer["login"] = {"zone_ws": grant["ws_url"], "character_id": hero["character_id"]}
            await gateway.close()
            return None  # type: ignore[return-value]
        game = await GameClient.connect(grant["ws_url"], grant["ticket"])
        await game.join(character_id=hero["character_id"])
        await game.wait_snapshot(lambda c: c.me() is not None)
        made.append((gateway, game))
        return game

    if login_only:
        await player(0)
        print(json.dumps(answer))
        return
    listener = await player(0)
    speakers = [await player(n) for n in range(1, 5)]  # five lines at once each
    heard: list[tuple[str, float]] = []

    def record(event: dict[str, Any]) -> bool:  # called as each event arrives
        if event.get("channel") == "global" and event.get("message", "").startswith("t="):
            sent = float(event["message"].split()[0][2:])
            heard.append((event["region"], time.time() - sent))
        return False

    listening = asyncio.create_task(listener.wait_event(record, timeout_s=1e9))
    await asyncio.sleep(max(0.0, start_at - time.time()))
    rng = random.Random()
    for line in range(lines):
        await speakers[line % len(speakers)].chat(f"t={time.time():.6f} {choice.region}", "global")
        await asyncio.sleep(rng.uniform(0.05, 0.15))  # off the snapshot beat
    await asyncio.sleep(3)  # the last lines from the farthest region
    listening.cancel()
    answer["heard"] = heard
    for gateway, game in made:
        await game.close()
        await gateway.close()
    print(json.dumps(answer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    sub.add_parser("run", help="the whole demonstration (default)")
    one = sub.add_parser("client", help="(internal) one region's players")
    one.add_argument("--gateways", nargs="+", required=True)
    one.add_argument("--start-at", type=float, default=0.0)
    one.add_argument("--lines", type=int, default=20)
    one.add_argument("--login-only", action="store_true")
    parser.add_argument("--lines", type=int, default=20, help="global chat lines per region")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args()
    if args.mode == "client":
        asyncio.run(client_main(args.gateways, args.start_at, args.lines, args.login_only))
    else:
        run(args.lines, args.report_dir)


if __name__ == "__main__":
    main()
