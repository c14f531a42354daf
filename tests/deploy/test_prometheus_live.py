"""A real Prometheus scrapes a real local world: every alert and recording rule loads and
evaluates, and every metric a rule or a dashboard panel names is one the services export."""

import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from openmmo.client import GameClient, GatewayClient
from openmmo.testing import LocalWorld, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "monitoring" / "rules" / "openmmo.rules.yaml"
DASHBOARDS = sorted((ROOT / "deploy" / "monitoring" / "dashboards").glob("*.json"))
NAME = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b\s*(?=\{|\[|\)|$|\s|,)")
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "5m",
    "${__rate_interval}": "1m",
}
FUNCTIONS_AND_WORDS = {
    "sum",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "by",
    "without",
    "max",
    "min",
    "avg",
    "count",
    "clamp_min",
    "clamp_max",
    "vector",
    "scalar",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "le",
    "abs",
    "sort_desc",
    "topk",
    "count_over_time",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "delta",
    "deriv",
    "changes",
    "resets",
    "label_replace",
    "absent",
    "time",
    "offset",
    "round",
    "ceil",
    "floor",
    "sum_over_time",
    "quantile_over_time",
    "predict_linear",
    "sgn",
    "timestamp",
    "stddev",
}


def query(base, expression):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # a bad expression: Prometheus explains why
        return json.loads(exc.read())
    except OSError as exc:  # not listening yet (connection refused) or gone
        return {"status": "unreachable", "error": str(exc)}


def expressions():
    found = []
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            found.append((f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]))
    for path in DASHBOARDS:
        for panel in _panels(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    expression = target["expr"]
                    for variable, value in GRAFANA_VARIABLES.items():
                        expression = expression.replace(variable, value)
                    found.append((f"{path.name}: {panel.get('title')}", expression))
    return found


def _panels(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def metric_names(expression):
    stripped = re.sub(r'"[^"]*"', '""', expression)  # label values are not names
    stripped = re.sub(r"\{[^}]*\}", "{}", stripped)  # neither are label names
    # nor the label lists of aggregations and vector matching: `by (zone, le)`, `on (job)`
    stripped = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped
    )
    names = set()
    for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped):
        if token in FUNCTIONS_AND_WORDS or re.fullmatch(r"\d+[smhdwy]", token):
            continue
        names.add(token)
    return {n for n in names if not re.fullmatch(r"[smhdwy]", n)}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    assert RULES.exists() and DASHBOARDS, "deploy/monitoring has no rules or dashboards"
    promtool = shutil.which("prometheus")
    assert promtool, "prometheus is missing: run scripts/tools.sh"
    workdir = tmp_path_factory.mktemp("prometheus")
    with LocalWorld(workdir / "world") as world:
        asyncio.run(_play(world))
        port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [
                        {
                            "job_name": "openmmo",
                            "static_configs": [{"targets": [f"127.0.0.1:{world.gateway_port}"]}],
                        }
                    ],
                }
            )
        )
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                result = query(base, "count(openmmo_players_online)")
                if result.get("status") == "success" and result["data"]["result"]:
                    break
                time.sleep(0.5)
            time.sleep(4)  # a few evaluations of every rule
            yield base
        finally:
            process.terminate()
            process.wait(10)


async def _play(world):
    """Traffic, so that every labelled series a panel shows exists: HTTP, a player who moves,
    chats in the zone and globally (the bus), sends a malformed frame (a protocol error), and
    a connection with a bad token (closed by the server)."""
    async with GatewayClient(world.gateway_url) as gateway:
        await gateway.device_login("prometheus-test-01")
        grant = await gateway.join_zone(1)
        game = await GameClient.connect(grant["ws_url"], grant["ticket"])
        await game.join()
        await game.wait_snapshot(lambda c: c.me() is not None)
        game.move(game.me().x + 0.5, game.me().y)
        await game.chat("metrics please")
        await game.chat("metrics for everyone", channel="global")
        game.send_raw(b"{not json", binary=False)
        await game.wait_for(lambda m: m["type"] == "error")
        await game.wait_snapshot()
        intruder = await GameClient.connect(grant["ws_url"], "not-a-token")
        await intruder.wait_closed()
        await game.close()


def test_every_rule_loads_and_evaluates_on_real_data(prometheus):
    with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=10) as response:
        groups = json.loads(response.read())["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert rules, "Prometheus loaded no rules"
    unhealthy = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not unhealthy, unhealthy


def test_every_expression_runs_and_names_only_exported_metrics(prometheus):
    with urllib.request.urlopen(
        f"{prometheus}/api/v1/label/__name__/values", timeout=10
    ) as response:
        known = set(json.loads(response.read())["data"])
    recorded = {
        r["record"]
        for g in yaml.safe_load(RULES.read_text())["groups"]
        for r in g["rules"]
        if "record" in r
    }
    problems = []
    for where, expression in expressions():
        result = query(prometheus, expression)
        if result.get("status") != "success":
            problems.append((where, expression, result.get("error")))
            continue
        unknown = {n for n in metric_names(expression) if n not in known | recorded | BUDGETS}
        if unknown:
            problems.append((where, expression, f"unknown metrics {sorted(unknown)}"))
    assert not problems, "\n".join(map(str, problems))


# recorded only where a price sheet sets a budget (the chart's `cost` values)
BUDGETS = {"openmmo:cost_budget_per_hour", "openmmo:wasted_cost_budget_per_hour"}


def test_metric_names_sees_metrics_not_labels_or_functions():
    expression = (
        'histogram_quantile(0.95, sum by (le, zone) (rate(a_bucket{zone=~"$z"}[5m])))'
        " / on (job) group_left (zone) b_total offset 5m > bool 0.1 unless c"
    )
    assert metric_names(expression) == {"a_bucket", "b_total", "c"}


def test_dependency_health_is_exported(prometheus):
    result = query(prometheus, "openmmo_dependency_up")
    assert result["status"] == "success", result
    values = {r["metric"]["dependency"]: r["value"][1] for r in result["data"]["result"]}
    assert values.get("database") == "1", values
