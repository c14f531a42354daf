"""The monitoring single source (deploy/monitoring/): Prometheus rules checked and unit-tested
with promtool, every alert well-formed and proven to fire, every metric name in rules and
dashboards one the services export (docs/reference/metrics.md), every dashboard query valid
PromQL, and the copies made by scripts/sync-monitoring.sh identical to their sources."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "rules" / "openmmo.rules.yaml"
RULE_TESTS = MONITORING / "rules" / "tests" / "openmmo.rules.test.yaml"
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
HELM_FILES = ROOT / "deploy" / "helm" / "openmmo" / "files"
COMPONENT = ROOT / "deploy" / "kustomize" / "components" / "monitoring"
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "${__rate_interval}": "5m", "$__interval": "1m"}
PROMQL_WORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2",
}  # fmt: skip
SEVERITIES = {"critical", "warning", "info"}
REPOSITORY = "https://github.com/openmmo/openmmo/blob/main/"


def promtool():
    path = shutil.which("promtool")
    assert path, "promtool is missing: run scripts/tools.sh"
    return path


def rule_groups():
    return yaml.safe_load(RULES.read_text())["groups"]


def alerts():
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


def recorded():
    return {r["record"] for g in rule_groups() for r in g["rules"] if "record" in r}


def panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries():
    for path in DASHBOARDS:
        for panel in panels(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                expression = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expression = expression.replace(variable, value)
                yield f"{path.name}: {panel['title']}", expression


def exported_metrics():
    """Series names the services export, from docs/reference/metrics.md."""
    table = re.findall(
        r"^\| `(openmmo_\w+)` \| (\w+) \|", (ROOT / "docs/reference/metrics.md").read_text(), re.M
    )
    assert len(table) > 15
    names = set()
    for name, kind in table:
        names |= (
            {f"{name}_bucket", f"{name}_sum", f"{name}_count"} if kind == "histogram" else {name}
        )
    return names


def metric_names(expression):
    """Metric names in a PromQL expression: what is left once strings, label matchers, range
    selectors, grouping clauses, numbers, keywords and function calls are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function
        if match.group(0).lower() not in PROMQL_WORDS:
            names.add(match.group(0))
    return names


def test_metric_name_extraction():
    assert metric_names(
        'histogram_quantile(0.95, sum by (le, zone) (rate(a_bucket{zone=~"$zone"}[5m])))'
    ) == {"a_bucket"}
    assert metric_names("sum(x:y) / clamp_min(sum(b), 1e-9) > bool 0.5 unless on() c") == {
        "x:y",
        "b",
        "c",
    }


# --- promtool ----------------------------------------------------------------------------------


def test_promtool_checks_the_rules():
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass():
    result = subprocess.run(
        [promtool(), "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        cwd=RULE_TESTS.parent,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_fires_in_a_unit_test_and_quiet_cases_exist():
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    fired = {case["alertname"] for case in cases if case.get("exp_alerts")}
    assert {a["alert"] for a in alerts()} - fired == set(), "alerts no unit test makes fire"
    assert any(not case.get("exp_alerts") for case in cases), "no case where an alert stays quiet"


def test_every_alert_is_actionable():
    anchors = {}
    for alert in alerts():
        name = alert["alert"]
        assert alert.get("for"), f"{name}: no `for`"
        assert alert["labels"]["severity"] in SEVERITIES, name
        annotations = alert["annotations"]
        assert annotations["summary"] and annotations["description"], name
        url = annotations["runbook_url"]
        assert url.startswith(REPOSITORY) and "#" in url, f"{name}: {url}"
        path, anchor = url.removeprefix(REPOSITORY).split("#")
        anchors.setdefault(path, set()).add(anchor)
    for path, wanted in anchors.items():
        headings = re.findall(r"^#+ (.+)$", (ROOT / path).read_text(), re.M)
        slugs = {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}
        assert wanted <= slugs, f"{path} has no heading for {sorted(wanted - slugs)}"


def test_the_seed_targets_are_alerted_on():
    expressions = {a["alert"]: a["expr"] for a in alerts()}
    record = {r["record"]: r["expr"] for g in rule_groups() for r in g["rules"] if "record" in r}
    assert "> 0.1" in expressions["OpenMMOHttpLatencyP95High"]
    assert "> 0.5" in expressions["OpenMMOHttpLatencyP99High"]
    assert "> 0.001" in expressions["OpenMMOHttpErrorRatioHigh"]
    assert "> 0.05" in expressions["OpenMMOTickP99AboveInterval"]
    assert "> 0.9" in expressions["OpenMMOPlayersNearCapacity"]
    assert "up{" in expressions["OpenMMOTargetDown"] and "== 0" in expressions["OpenMMOTargetDown"]
    assert "clamp_min(sum(openmmo_players_online), 1)" in record["openmmo:cost_per_player_hour"]
    assert "openmmo:cost_target_per_player_hour" in expressions["OpenMMOCostPerPlayerHourHigh"]
    (prices,) = [g for g in rule_groups() if g["name"] == "openmmo.prices"]
    target = [r for r in prices["rules"] if r["record"] == "openmmo:cost_target_per_player_hour"]
    assert [r["expr"] for r in target] == ["vector(0.02)"]  # the seed's target
    for rule in prices["rules"]:
        assert re.fullmatch(r"vector\([0-9.]+\)", rule["expr"]), rule
        assert rule["labels"]["currency"] == "USD"


def test_the_matchmaker_is_alerted_on():
    expressions = {a["alert"]: a["expr"] for a in alerts()}
    assert "> 60" in expressions["OpenMMOMatchmakingWaitHigh"]
    assert (
        "openmmo_matchmaking_wait_seconds"
        in {r["record"]: r["expr"] for g in rule_groups() for r in g["rules"] if "record" in r}[
            "openmmo:matchmaking_wait_seconds:p95_by_mode"
        ]
    )
    assert 'result="no_channel"' in expressions["OpenMMOMatchmakingNoChannel"]
    assert "matched|expired" in expressions["OpenMMOMatchmakingStalled"]
    # Kustomize's ServiceMonitor names the job after the component: `matchmaker`
    assert "matchmaker" in expressions["OpenMMOTargetDown"]


# --- metric names ----------------------------------------------------------------------------


def test_rules_and_dashboards_use_only_exported_metrics():
    # the budgets are recorded only where a price sheet sets them (the chart's `cost` values)
    budgets = {"openmmo:cost_budget_per_hour", "openmmo:wasted_cost_budget_per_hour"}
    chart_rules = (
        (ROOT / "deploy/helm/openmmo/templates/monitoring")
        .joinpath("prometheusrule.yaml")
        .read_text()
    )
    assert all(f'"{b}"' in chart_rules for b in budgets)
    allowed = exported_metrics() | recorded() | {"up"} | budgets
    used = [
        (f"rule {r.get('alert') or r.get('record')}", r["expr"])
        for g in rule_groups()
        for r in g["rules"]
    ]
    used += list(dashboard_queries())
    assert len(used) > 50
    unknown = []
    for where, expression in used:
        for name in metric_names(expression):
            if name in allowed or name.startswith(("process_", "python_")):
                continue
            unknown.append((where, name))
    assert not unknown, "\n".join(map(str, unknown))
    assert all(name.startswith("openmmo:") for name in recorded())


def test_dashboard_queries_are_valid_promql(tmp_path):
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expression}
        for i, (_, expression) in enumerate(dashboard_queries())
    ]
    file = tmp_path / "dashboards.rules.yaml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(file)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- dashboards ----------------------------------------------------------------------------------

TOPICS = {
    "active players": "openmmo_players_online",
    "HTTP latency": "openmmo_http_request_duration_seconds_bucket",
    "tick latency": "openmmo_tick_duration_seconds_bucket",
    "messages in": "openmmo_messages_received_total",
    "messages out": "openmmo_messages_sent_total",
    "HTTP requests": "openmmo_http_request_duration_seconds_count",
    "CPU": "process_cpu_seconds_total",
    "memory": "process_resident_memory_bytes",
    "replicas": "up",
    "network out": "openmmo_sent_bytes_total",
    "network in": "openmmo_received_bytes_total",
    "saves": "openmmo_character_saves_total",
    "save duration": "openmmo_character_save_duration_seconds_bucket",
    "checkpoints": "openmmo_checkpoints_total",
    "matchmaking queue": "openmmo_matchmaking_queue_length",
    "matchmaking wait": "openmmo_matchmaking_wait_seconds_bucket",
    "matches and unplaced groups": "openmmo_matchmaking_groups_total",
    "matchmaking tickets": "openmmo_matchmaking_tickets_total",
}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_a_grafana_dashboard_on_the_prometheus_datasource(path):
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] and dashboard["title"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "prometheus"}
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


def test_the_overview_dashboard_covers_every_topic():
    dashboard = json.loads((MONITORING / "dashboards" / "openmmo-overview.json").read_text())
    used = set()
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            used |= metric_names(target["expr"])
    missing = {topic: metric for topic, metric in TOPICS.items() if metric not in used}
    assert not missing
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))


# --- the copies --------------------------------------------------------------------------------


def test_the_synced_copies_are_identical_to_the_sources():
    copies = {
        HELM_FILES / "rules" / "openmmo.rules.yaml": RULES,
        COMPONENT / "files" / "openmmo.rules.yaml": RULES,
    }
    for path in DASHBOARDS:
        copies[HELM_FILES / "dashboards" / path.name] = path
        copies[COMPONENT / "files" / path.name] = path
    for copy, source in copies.items():
        assert copy.exists(), f"{copy} is missing: run scripts/sync-monitoring.sh"
        assert copy.read_bytes() == source.read_bytes(), (
            f"{copy} differs: run scripts/sync-monitoring.sh"
        )
    names = {p.name for p in DASHBOARDS}
    assert {p.name for p in (HELM_FILES / "dashboards").glob("*.json")} == names
    assert {p.name for p in (COMPONENT / "files").glob("*.json")} == names
    generator = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())["configMapGenerator"]
    listed = {Path(f).name for g in generator for f in g.get("files", [])}
    assert listed == names, "list every dashboard in the monitoring component's configMapGenerator"


def test_the_prometheus_rule_holds_the_same_groups_as_the_rule_file():
    rule = yaml.safe_load((COMPONENT / "prometheusrule.yaml").read_text())
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["spec"] == {"groups": rule_groups()}


def test_the_sync_script_reproduces_the_checked_in_files(tmp_path):
    """Run the script on a copy of the tree: it must produce exactly what is checked in."""
    shutil.copytree(MONITORING, tmp_path / "deploy" / "monitoring")
    (tmp_path / "scripts" / "lib").mkdir(parents=True)
    for script in ("sync-monitoring.sh", "backup.sh", "restore.sh", "lib/postgres.sh"):
        shutil.copy(ROOT / "scripts" / script, tmp_path / "scripts" / script)
    stale = tmp_path / "deploy" / "helm" / "openmmo" / "files" / "dashboards" / "removed.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "sync-monitoring.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert not stale.exists(), "a dashboard removed from the source stays in the copies"
    made = tmp_path / "deploy" / "kustomize" / "components" / "monitoring" / "prometheusrule.yaml"
    assert made.read_text() == (COMPONENT / "prometheusrule.yaml").read_text()
