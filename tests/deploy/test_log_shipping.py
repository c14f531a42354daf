"""Log shipping (logShipping in the Helm chart, components/log-shipping in Kustomize): a Fluent
Bit DaemonSet tailing the pods' CRI log files and shipping OpenMMO's JSON lines to Loki or
Elasticsearch. helm lint, kubernetes-validate --strict and checkov run over it through the ci
values files (test_helm.py) and the cluster-level component render (test_kustomize.py); here:
what those cannot see. Fluent Bit itself is not installable here, so its configuration is read
as the YAML it is, and its parser settings are applied to real OpenMMO log lines."""

import fnmatch
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.deploy.test_helm import CHART, NAMESPACE, Helm, named, of_kind, output

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "deploy" / "kustomize" / "components" / "log-shipping"
CI = "log-shipping-values.yaml"
# Fluent Bit's built-in `cri` multiline parser (src/multiline/flb_ml_parser_cri.c)
CRI = re.compile(r"^(?P<time>.+?) (?P<stream>stdout|stderr) (?P<_p>F|P) (?P<log>.*)$")
# root sections and plugin lists of Fluent Bit's YAML configuration format
SECTIONS = {"service", "parsers", "multiline_parsers", "pipeline", "includes", "env", "plugins"}
CONTAINER_ID = "0" * 63 + "1"
# Real lines from OpenMMO's renderer: a zone event, one inside an HTTP request, a traceback and
# a client's broken frame (picows, downgraded and rate-limited by openmmo.logs).
LINES = """
import logging, structlog
from openmmo.logs import configure_logging, get_logger
configure_logging("info", "json")
get_logger("openmmo.zone").info("zone_started", zone="town", server_id="town-0", port=7000)
with structlog.contextvars.bound_contextvars(request_id="0123456789abcdef"):
    get_logger("openmmo.gateway").warning("refresh_token_reused", account_id=7)
try:
    1 / 0
except ZeroDivisionError:
    get_logger("openmmo.zone").exception("tick_failed", zone="town", tick=7)
logging.getLogger("picows.server.9").error("WS parser error: %s, initiate disconnect", (1009, "x"))
"""


@pytest.fixture(scope="module")
def helm(tmp_path_factory):
    return Helm(tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="module")
def openmmo_lines():
    result = subprocess.run(
        [sys.executable, "-c", LINES], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 4, lines
    return lines


def fluent_bit_config(docs):
    data = named(docs, "ConfigMap", "openmmo-log-shipping")["data"]
    return yaml.safe_load(data["fluent-bit.yaml"])


def plugin(config, kind, name):
    (found,) = [p for p in config["pipeline"][kind] if p["name"] == name]
    return found


def cri_file(pod, namespace, container):
    return f"/var/log/containers/{pod}_{namespace}_{container}-{CONTAINER_ID}.log"


def tailed(tail, path):
    paths, excluded = tail["path"].split(","), tail.get("exclude_path", "").split(",")
    return any(fnmatch.fnmatch(path, p) for p in paths) and not any(
        fnmatch.fnmatch(path, p) for p in excluded if p
    )


def accessor(value):
    """The keys of a Fluent Bit record accessor: $a['b']['c'] -> ["a", "b", "c"]."""
    head, *rest = re.fullmatch(r"\$(\w+)((?:\['[^']+'\])*)", value).groups()
    return [head, *re.findall(r"\['([^']+)'\]", rest[0])]


def resolve(record, keys):
    for key in keys:
        if not isinstance(record, dict) or key not in record:
            return None
        record = record[key]
    return record


def parse(config, cri_line):
    """What the tail input and the parser filter make of one line of a pod's log file."""
    record = CRI.match(cri_line).groupdict()
    (parser_filter,) = [f for f in config["pipeline"]["filters"] if f["name"] == "parser"]
    (parser,) = [p for p in config["parsers"] if p["name"] == parser_filter["parser"]]
    assert parser["format"] == "json" and parser["time_keep"] is True
    body = json.loads(record.pop(parser_filter["key_name"]))
    assert parser_filter["reserve_data"] is True, "stream and the rest stay in the record"
    time_format = parser["time_format"].replace("%L", "%f")  # %L: Fluent Bit's fraction
    when = datetime.strptime(body[parser["time_key"]], time_format)
    assert when.utcoffset().total_seconds() == 0
    return record | body


# --- the Helm chart -----------------------------------------------------------------------------
def test_log_shipping_is_off_by_default_and_on_in_the_ci_values(helm):
    kinds = {d["kind"] for d in helm.render_ci("default-values.yaml")}
    assert not kinds & {"DaemonSet", "ClusterRole", "ClusterRoleBinding"}
    for values in (CI, "all-features-values.yaml"):  # checked by kubernetes-validate and checkov
        assert of_kind(helm.render_ci(values), "DaemonSet"), values


def test_the_agent_may_only_read_pods_and_namespaces(helm):
    docs = helm.render_ci(CI)
    (role,) = of_kind(docs, "ClusterRole")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "list", "watch"]}
    ]
    (binding,) = of_kind(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"] == "logging-openmmo-log-shipping"
    (subject,) = binding["subjects"]
    account = named(docs, "ServiceAccount", "openmmo-log-shipping")
    assert (subject["name"], subject["namespace"]) == ("openmmo-log-shipping", "logging")
    assert account["metadata"]["namespace"] == "logging"
    (daemonset,) = of_kind(docs, "DaemonSet")
    assert daemonset["spec"]["template"]["spec"]["serviceAccountName"] == subject["name"]
    assert not of_kind(docs, "Role") and not of_kind(docs, "RoleBinding")


def test_the_agent_reads_the_nodes_logs_as_root_with_nothing_else(helm):
    """Root (kubelet's log files are 0640 root:root) with no capabilities, a read-only root
    filesystem, the node's /var/log read-only and one state directory; no host namespaces."""
    docs = helm.render_ci(CI)
    (daemonset,) = of_kind(docs, "DaemonSet")
    assert daemonset["metadata"]["namespace"] == "logging"
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is True and spec["enableServiceLinks"] is False
    assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    (container,) = spec["containers"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]} and not context.get("privileged")
    assert container["image"] == "cr.fluentbit.io/fluent/fluent-bit:4.0.3"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert not [p for p in container["ports"] if "hostPort" in p]
    assert container["livenessProbe"]["httpGet"]["port"] == "http" and ports["http"] == 2020
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/health"
    volumes = {v["name"]: v for v in spec["volumes"]}
    host_paths = {name: v["hostPath"]["path"] for name, v in volumes.items() if "hostPath" in v}
    assert host_paths == {"varlog": "/var/log", "state": "/var/lib/openmmo-log-shipping"}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["varlog"]["readOnly"] is True and mounts["config"]["readOnly"] is True
    assert mounts["tmp"]["mountPath"] == "/tmp" and "emptyDir" in volumes["tmp"]
    tail = plugin(fluent_bit_config(docs), "inputs", "tail")
    assert tail["db"].startswith(mounts["state"]["mountPath"] + "/")
    assert container["command"][-1] == (f"--config={mounts['config']['mountPath']}/fluent-bit.yaml")
    # the tainted game-server nodes run zone pods: they need an agent too
    taints = yaml.safe_load((CHART / "values.yaml").read_text())["karpenter"]["taints"]
    for taint in taints:
        assert {**taint, "operator": "Equal"} in spec["tolerations"], taint
    annotations = daemonset["spec"]["template"]["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"])


def test_the_fluent_bit_configuration_is_well_formed_yaml_of_its_sections(helm):
    for values in (CI, "all-features-values.yaml"):
        config = fluent_bit_config(helm.render_ci(values))
        assert set(config) <= SECTIONS, values
        assert set(config["pipeline"]) == {"inputs", "filters", "outputs"}
        assert config["service"]["health_check"] is True
        for kind, plugins in config["pipeline"].items():
            for entry in plugins:
                assert entry["name"], (values, kind)
                if kind != "inputs":
                    assert entry["match"] == "kube.*", (values, entry["name"])
                for key, value in entry.items():
                    assert isinstance(value, str | int | bool), (values, entry["name"], key)


def test_the_release_pods_log_files_are_tailed_and_nothing_else(helm):
    for values, agent_namespace in ((CI, "logging"), ("all-features-values.yaml", NAMESPACE)):
        docs = helm.render_ci(values)
        tail = plugin(fluent_bit_config(docs), "inputs", "tail")
        assert tail["multiline.parser"] == "cri"
        assert tail["read_from_head"] is True and tail["mem_buf_limit"] == "32MB"
        workloads = [d for d in docs if d["kind"] in ("Deployment", "Job", "CronJob")]
        assert len(workloads) >= 4, values
        for workload in workloads:
            name = workload["metadata"]["name"]
            for container in ("gateway", "zone", "migrate"):
                assert tailed(tail, cri_file(f"{name}-6d4cf56db6-x2x7q", NAMESPACE, container))
            assert not tailed(tail, cri_file(f"{name}-6d4cf56db6-x2x7q", "other", "zone"))
        assert not tailed(tail, cri_file("other-gateway-6d4cf56db6-x2x7q", NAMESPACE, "gateway"))
        (daemonset,) = of_kind(docs, "DaemonSet")
        own = cri_file(f"{daemonset['metadata']['name']}-x2x7q", agent_namespace, "fluent-bit")
        assert not tailed(tail, own), "its own lines would go round in circles"
    docs = helm.render(
        "--set-json",
        'logShipping={"enabled": true, "loki": {"enabled": true, "url": "http://loki:3100"},'
        ' "paths": ["/a/*.log", "/b/*.log"]}',
    )
    assert plugin(fluent_bit_config(docs), "inputs", "tail")["path"] == "/a/*.log,/b/*.log"


def test_real_openmmo_lines_parse_into_their_fields_and_loki_labels(helm, openmmo_lines):
    docs = helm.render_ci(CI)
    config = fluent_bit_config(docs)
    records = [
        parse(config, f"2026-12-03T15:33:20.041792091Z stderr F {line}") for line in openmmo_lines
    ]
    assert [(r["logger"], r["event"], r["level"]) for r in records] == [
        ("openmmo.zone", "zone_started", "info"),
        ("openmmo.gateway", "refresh_token_reused", "warning"),
        ("openmmo.zone", "tick_failed", "error"),
        ("picows.server.9", "WS parser error: (1009, 'x'), initiate disconnect", "warning"),
    ]
    assert records[0]["zone"] == "town" and records[1]["request_id"] == "0123456789abcdef"
    assert "ZeroDivisionError" in records[2]["exception"] and records[0]["stream"] == "stderr"
    loki = plugin(config, "outputs", "loki")
    labels = dict(pair.split("=", 1) for pair in loki["labels"].split(", "))
    assert labels["job"] == "openmmo" and labels["cluster"] == "eu-1"
    # what the kubernetes filter adds, from the chart's own pods
    for deployment, expect_zone in (("openmmo-zone-town", "1"), ("openmmo-gateway", None)):
        pod_labels = named(docs, "Deployment", deployment)["spec"]["template"]["metadata"]
        kubernetes = {"namespace_name": NAMESPACE, "labels": pod_labels["labels"]}
        record = records[0] | {"kubernetes": kubernetes}
        values = {
            name: resolve(record, accessor(value)) if value.startswith("$") else value
            for name, value in labels.items()
        }
        assert values["namespace"] == NAMESPACE and values["level"] == "info"
        assert values["component"] == deployment.removeprefix("openmmo-").split("-")[0]
        assert values["zone"] == expect_zone  # a zone label only on zone pods


def test_the_outputs_point_where_the_values_say_with_passwords_from_secrets(helm):
    docs = helm.render_ci(CI)
    config = fluent_bit_config(docs)
    loki = plugin(config, "outputs", "loki")
    assert (loki["host"], loki["port"], loki["uri"], loki["tls"]) == (
        "loki.example.com",
        443,
        "/loki/api/v1/push",
        True,
    )
    assert loki["tenant_id"] == "games" and loki["line_format"] == "json"
    es = plugin(config, "outputs", "es")
    assert (es["host"], es["port"], es["tls"]) == ("elasticsearch-es-http.logging.svc", 9200, True)
    assert es["logstash_format"] is True and es["logstash_prefix"] == "openmmo-games"
    assert es["replace_dots"] is True
    container = of_kind(docs, "DaemonSet")[0]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert env == {
        "LOKI_PASSWORD": {"name": "loki-credentials", "key": "password"},
        "ES_PASSWORD": {"name": "elasticsearch-credentials", "key": "elastic"},
    }
    assert (loki["http_passwd"], es["http_passwd"]) == ("${LOKI_PASSWORD}", "${ES_PASSWORD}")
    plain = fluent_bit_config(helm.render_ci("all-features-values.yaml"))
    loki = plugin(plain, "outputs", "loki")
    assert (loki["host"], loki["port"], loki["tls"]) == ("loki-gateway.monitoring.svc", 80, False)
    assert "http_passwd" not in loki and [o["name"] for o in plain["pipeline"]["outputs"]] == [
        "loki"
    ]


def test_the_network_policy_lets_the_agent_reach_the_api_and_its_outputs(helm):
    for values, outputs in ((CI, {443, 9200}), ("all-features-values.yaml", {80})):
        docs = helm.render_ci(values)
        policy = named(docs, "NetworkPolicy", "openmmo-log-shipping")["spec"]
        (daemonset,) = of_kind(docs, "DaemonSet")
        pod = daemonset["spec"]["template"]["metadata"]["labels"]
        assert policy["podSelector"]["matchLabels"].items() <= pod.items()
        ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
        assert {53, 443, 6443} | outputs == ports, values
        (scrape,) = policy["ingress"]
        assert [p["port"] for p in scrape["ports"]] == [2020]
    docs = helm.render("-f", str(CHART / "ci" / CI), "--set", "networkPolicy.enabled=false")
    assert not of_kind(docs, "NetworkPolicy")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["logShipping.enabled=true"], "needs an output"),
        (["logShipping.enabled=true", "logShipping.loki.enabled=true"], "logShipping.loki.url"),
        (
            ["logShipping.enabled=true", "logShipping.elasticsearch.enabled=true"],
            "logShipping.elasticsearch.host",
        ),
        (
            [
                "logShipping.enabled=true",
                "logShipping.loki.enabled=true",
                "logShipping.loki.url=http://loki:3100",
                "logShipping.loki.auth.user=me",
            ],
            "logShipping.loki.auth.existingSecret",
        ),
    ],
)
def test_the_chart_refuses_an_agent_shipping_nowhere(helm, settings, message):
    result = helm.template(*(arg for setting in settings for arg in ("--set", setting)))
    assert result.returncode != 0 and message in result.stderr, output(result)


# --- the Kustomize component ----------------------------------------------------------------------
def test_the_kustomize_component_runs_the_charts_pipeline(helm):
    """One pipeline in two places: the component's static file and the chart's template agree
    on everything but which files are tailed and where the lines go."""
    charted = fluent_bit_config(helm.render_ci("all-features-values.yaml"))
    static = yaml.safe_load((COMPONENT / "files" / "fluent-bit.yaml").read_text())
    assert static["service"] == charted["service"]
    assert static["parsers"] == charted["parsers"]
    assert static["pipeline"]["filters"] == charted["pipeline"]["filters"]
    (tail,) = static["pipeline"]["inputs"]
    (charted_tail,) = charted["pipeline"]["inputs"]
    where = ("path", "exclude_path")
    assert {k: v for k, v in tail.items() if k not in where} == {
        k: v for k, v in charted_tail.items() if k not in where
    }
    assert static["includes"] == ["output.yaml"], "the output comes from the ConfigMap"
    output_file = yaml.safe_load((COMPONENT / "files" / "output-loki.yaml").read_text())
    (loki,) = output_file["pipeline"]["outputs"]
    charted_loki = plugin(charted, "outputs", "loki")
    assert loki["labels"] == charted_loki["labels"]
    assert {k: v for k, v in loki.items() if not str(v).startswith("${")} == {
        k: v for k, v in charted_loki.items() if k not in ("host", "port", "tls")
    }
    generator = yaml.safe_load((COMPONENT / "kustomization.yaml").read_text())
    (config,) = [g for g in generator["configMapGenerator"] if g["name"] == "log-shipping-config"]
    assert "output.yaml=files/output-loki.yaml" in config["files"]
    (destination,) = [
        g for g in generator["configMapGenerator"] if g["name"] == "log-shipping-destination"
    ]
    variables = {literal.split("=")[0] for literal in destination["literals"]}
    assert variables == set(
        re.findall(r"\$\{(\w+)\}", (COMPONENT / "files" / "output-loki.yaml").read_text())
    )


def test_the_kustomize_component_tails_every_world_and_not_itself(openmmo_lines):
    static = yaml.safe_load((COMPONENT / "files" / "fluent-bit.yaml").read_text())
    (tail,) = static["pipeline"]["inputs"]
    for namespace in ("openmmo-dev", "openmmo-staging", "openmmo-prod"):
        for pod, container in (("gateway-6d4cf56db6-x2x7q", "gateway"), ("zone-town-0", "zone")):
            assert tailed(tail, cri_file(pod, namespace, container)), namespace
    assert not tailed(tail, cri_file("log-shipping-x2x7q", "openmmo-logging", "fluent-bit"))
    assert not tailed(tail, cri_file("coredns-x2x7q", "kube-system", "coredns"))
    record = parse(static, f"2026-12-03T15:33:20.041792091Z stdout F {openmmo_lines[0]}")
    assert record["event"] == "zone_started"
