"""Prometheus federation for a world in several regions, for real: three regional Prometheus
servers (each with the rules of deploy/monitoring and its region as external label) scrape a
world's metrics; the global one, configured by deploy/monitoring/federation/
global-prometheus.yml, federates them; every query of the global dashboard runs on it."""

import json
import shutil
import subprocess
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from openmmo.testing.local import eventually, free_port

ROOT = Path(__file__).resolve().parents[2]
FEDERATION = ROOT / "deploy/monitoring/federation"
RULES = ROOT / "deploy/monitoring/rules/openmmo.rules.yaml"
PLAYERS = {"eu-west": 1200, "us-east": 800, "ap-northeast": 300}


def exporter(players):
    """A zone's /metrics as a zone server writes them (two channels of the town)."""
    text = "".join(
        f'openmmo_players_online{{zone="town",channel="{c}"}} {players / 2}\n'
        f'openmmo_players_max{{zone="town",channel="{c}"}} 1000\n'
        f'openmmo_node_info{{region="local",capacity_type="on-demand",channel="{c}"}} 1\n'
        for c in (1, 2)
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def query(base, expression):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def prometheus(workdir, config):
    port = free_port()
    workdir.mkdir()
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [
            shutil.which("prometheus") or "prometheus",
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    assert shutil.which("prometheus"), "prometheus is missing: run scripts/tools.sh"
    tmp = tmp_path_factory.mktemp("federation")
    servers, processes, regional = [], {}, {}
    for region, players in PLAYERS.items():
        server = exporter(players)
        servers.append(server)
        processes[region], regional[region] = prometheus(
            tmp / region,
            {
                "global": {
                    "scrape_interval": "1s",
                    "evaluation_interval": "1s",
                    "external_labels": {"region": region},
                },
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {
                        "job_name": "openmmo-zone",
                        "static_configs": [{"targets": [f"127.0.0.1:{server.server_address[1]}"]}],
                    }
                ],
            },
        )
    config = yaml.safe_load((FEDERATION / "global-prometheus.yml").read_text())
    config["global"].update({"scrape_interval": "1s", "scrape_timeout": "1s"})
    job = config["scrape_configs"][0]
    job["static_configs"] = [{"targets": [address]} for address in regional.values()]
    processes["global"], address = prometheus(tmp / "global", config)
    base = f"http://{address}"
    try:
        assert eventually(
            lambda: (
                len(query(base, "sum by (region) (openmmo:players_online:sum)")["data"]["result"])
                == 3
            ),
            40,
            0.5,
        ), "the global Prometheus did not federate the three regions"
        yield base, processes
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(10)
        for server in servers:
            server.shutdown()


def dashboard_queries():
    dashboard = json.loads((FEDERATION / "openmmo-global.json").read_text())
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_config_is_valid():
    result = subprocess.run(
        ["promtool", "check", "config", str(FEDERATION / "global-prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_global_prometheus_holds_every_region_and_every_panel_query_runs(world):
    base, _ = world
    by_region = {
        r["metric"]["region"]: float(r["value"][1])
        for r in query(base, "sum by (region) (openmmo:players_online:sum)")["data"]["result"]
    }
    assert by_region == {region: float(n) for region, n in PLAYERS.items()}
    empty = []
    for title, expression in dashboard_queries():
        answer = query(base, expression)
        assert answer["status"] == "success", (title, expression, answer)
        if not answer["data"]["result"]:
            empty.append(title)
    # no gateway here: no HTTP latency and no region probes; everything else has data
    assert set(empty) <= {"HTTP P95 by region", "Region health seen from each region"}, empty
    total = query(base, "sum(openmmo:players_online:sum)")["data"]["result"][0]["value"][1]
    assert float(total) == sum(PLAYERS.values())
    cost = query(base, "sum by (currency) (openmmo:cost_per_hour)")["data"]["result"]
    assert [c["metric"]["currency"] for c in cost] == ["USD"]
    assert float(cost[0]["value"][1]) == pytest.approx(3 * 2 * 0.17)  # 3 regions x 2 channels


def test_a_region_whose_prometheus_is_gone_shows_as_down(world):
    base, processes = world
    processes["ap-northeast"].terminate()
    processes["ap-northeast"].wait(10)
    assert eventually(
        lambda: (
            query(base, 'count(up{job="openmmo-federate"} == 1)')["data"]["result"][0]["value"][1]
            == "2"
        ),
        40,
        0.5,
    )
