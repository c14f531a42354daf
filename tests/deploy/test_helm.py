"""The Helm chart deploy/helm/openmmo: `helm lint --strict` and `helm template` with every
ci/*-values.yaml, built-in kinds through kubernetes-validate, CRD kinds against the schemas in
tests/deploy/schemas/helm/, values.schema.json refusing bad values, checkov, and what the
validators cannot see: restricted pods with resources and probes, the zone drain budget, the
matchmaker and its queues, the autoscaling rules, the settings really accepted by OpenMMO, and
the `helm test` script really logging in and joining a zone of a running local world."""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from openmmo.config import environment_names
from openmmo.testing import LocalWorld

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "bin"
CHART = ROOT / "deploy" / "helm" / "openmmo"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
CI_NAMES = [path.name for path in CI_VALUES]
SCHEMAS = Path(__file__).parent / "schemas" / "helm"
KUBE_VERSION = "1.33.0"
NAMESPACE = "games"
CRD_APIS = {
    "monitoring.coreos.com/v1": {"ServiceMonitor", "PrometheusRule"},
    "autoscaling.k8s.io/v1": {"VerticalPodAutoscaler"},
    "networking.istio.io/v1": {"DestinationRule", "VirtualService", "Gateway"},
    "security.istio.io/v1": {"PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication"},
    "keda.sh/v1alpha1": {"ScaledObject"},
    "argoproj.io/v1alpha1": {"Application"},
    "velero.io/v1": {"Schedule"},
    "karpenter.sh/v1": {"NodePool"},
}
CRD_KINDS = {kind for kinds in CRD_APIS.values() for kind in kinds}
API_FLAGS = [flag for api in CRD_APIS for flag in ("--api-versions", api)]
SCHEMA_ERROR = "values don't meet the specifications of the schema"
UID = 10001


# --- helpers ------------------------------------------------------------------------------
def tool(name):
    path = TOOLS / name
    assert path.exists(), f"{name} is missing from .tools/bin: run scripts/tools.sh"
    return str(path)


def output(result):
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


class Helm:
    """helm with a throwaway home and no cluster; renders are cached per set of arguments."""

    def __init__(self, home):
        self.env = {
            **os.environ,
            "PATH": f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": "/nonexistent",
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        self._renders = {}

    def run(self, *args, timeout=60):
        return subprocess.run(
            [tool("helm"), *args], capture_output=True, text=True, env=self.env, timeout=timeout
        )

    def template(self, *args, chart=CHART, apis=True):
        return self.run(
            "template",
            "openmmo",
            str(chart),
            "--namespace",
            NAMESPACE,
            "--kube-version",
            KUBE_VERSION,
            *(API_FLAGS if apis else []),
            *args,
        )

    def render(self, *args):
        """The documents of `helm template` (hooks and the test pod included)."""
        if args not in self._renders:
            result = self.template(*args)
            assert result.returncode == 0, output(result)
            self._renders[args] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        return self._renders[args]

    def render_ci(self, name):
        return self.render("-f", str(CHART / "ci" / name))


@pytest.fixture(scope="session")
def helm(tmp_path_factory):
    return Helm(tmp_path_factory.mktemp("helm-home"))


def of_kind(docs, kind):
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs, kind, name):
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_specs(docs):
    """(where, pod spec) of every workload: Deployments, Jobs, CronJobs and bare Pods."""
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in ("Deployment", "Job"):
            yield where, doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob":
            yield where, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            yield where, doc["spec"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def zone_deployments(docs):
    return [d for d in of_kind(docs, "Deployment") if "-zone-" in d["metadata"]["name"]]


def secret_data(doc):
    return {key: base64.b64decode(value).decode() for key, value in doc["data"].items()}


def is_hook(doc, hook):
    return hook in doc["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(",")


# --- chart metadata and values ------------------------------------------------------------
def test_chart_yaml_has_the_required_metadata():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == CHART.name
    assert chart["version"] == "0.1.0" and chart["appVersion"] == "0.1.0"
    assert chart["kubeVersion"] and chart["description"] and chart["home"] and chart["sources"]
    for maintainer in chart["maintainers"]:
        assert {"name", "url", "email"} <= set(maintainer), maintainer
    assert "dependencies" not in chart, "no remote charts: the chart must install offline"


def test_ci_values_cover_the_required_matrix():
    required = {"default", "all-features", "existing-secret", "keda", "minimal"}
    assert required <= {name.removesuffix("-values.yaml") for name in CI_NAMES}


def test_every_value_is_documented_with_a_comment():
    """Every key of values.yaml outside list items has a `##` comment on the line above."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented, list_indent = [], None
    for number, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if not stripped or stripped.startswith("#"):
            continue
        if list_indent is not None and indent > list_indent:
            continue  # inside a list item: documented by the list's own comment
        list_indent = None
        if stripped.startswith("- "):
            list_indent = indent
            continue
        if re.match(r"^[\w.\"'-]+:", stripped):
            previous = lines[number - 1].strip() if number else ""
            if not previous.startswith("#"):
                undocumented.append(f"values.yaml:{number + 1}: {stripped}")
    assert not undocumented, "\n".join(undocumented)


def test_the_schema_types_every_value_and_refuses_unknown_keys():
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def check(node, data, path):
        if not isinstance(data, dict) or node.get("type") != "object":
            return
        props = node.get("properties")
        if props is None:
            return  # a free-form map (labels, annotations, Kubernetes objects)
        assert node.get("additionalProperties") is False, f"{path}: unknown keys allowed"
        for key, value in data.items():
            assert key in props, f"{path}.{key} is not in values.schema.json"
            assert "type" in props[key] or "const" in props[key] or "enum" in props[key], (
                f"{path}.{key} has no type"
            )
            check(props[key], value, f"{path}.{key}")

    check(schema, values, "values")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("gateway.replicas=-1", "gateway.replicas"),
        ("zones[0].id=abc", "zones.0.id"),
        ("config.logLevel=loud", "config.logLevel"),
        ("zoneDefaults.service.type=Ingress", "zoneDefaults.service.type"),
        ("migration.mode=sometimes", "migration.mode"),
        ("secrets.jwtSecret=too-short", "secrets.jwtSecret"),
        ("containerSecurityContext.allowPrivilegeEscalation=true", "allowPrivilegeEscalation"),
        ("gateway.autoscaling.behavior.scaleUp.selectPolicy=Sometimes", "selectPolicy"),
        ("keda.minReplicaCount=0", "keda.minReplicaCount"),
        ("gatway.replicas=2", "gatway"),
        ("matchmaker.replicas=-1", "matchmaker.replicas"),
        ("matchmaker.enabled=sometimes", "matchmaker.enabled"),
        ("matchmaker.servicePort=8080", "servicePort"),
        ("keda.matchmaker.redis.listName=openmmo:matchmaking:queue", "listName"),
        ("keda.matchmaker.redis.modes[0]=Dungeon Run", "keda.matchmaker.redis.modes.0"),
        ("backup.keep=0", "backup.keep"),
        ("backup.persistence.size=lots", "backup.persistence.size"),
        ("tracing.exporter=jaeger", "tracing.exporter"),
        ("tracing.samplerRatio=2", "tracing.samplerRatio"),
        ("tracing.endpoint=collector:4318", "tracing.endpoint"),
        ("logShipping.loki.url=loki:3100", "logShipping.loki.url"),
        ("logShipping.elasticsearch.port=0", "logShipping.elasticsearch.port"),
        ("logShipping.namespace=Logging", "logShipping.namespace"),
        ("logShipping.memBufLimit=lots", "logShipping.memBufLimit"),
        ("logShipping.loki.extraLabels.app\\.kubernetes\\.io=x", "extraLabels"),
        ("predictiveScaling.mode=sometimes", "predictiveScaling.mode"),
        ("predictiveScaling.headroom=-1", "predictiveScaling.headroom"),
        ("predictiveScaling.prometheusUrl=prometheus:9090", "predictiveScaling.prometheusUrl"),
    ],
)
def test_the_schema_refuses_a_bad_value(helm, setting, message):
    result = helm.template("--set", setting)
    assert result.returncode != 0, f"--set {setting} was accepted"
    assert SCHEMA_ERROR in result.stderr and message in result.stderr, output(result)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["zoneDefaults.terminationGracePeriodSeconds=20"], "terminationGracePeriodSeconds"),
        (["zones[0].id=1", "zones[0].name=town", "zones[1].id=1", "zones[1].name=wilds"], "twice"),
        (["tests.zoneId=7"], "tests.zoneId"),
        (["secrets.databaseUrl="], "secrets.databaseUrl"),
        (["istio.enabled=true", "istio.virtualService.canary.enabled=true"], "canary.host"),
        (["keda.enabled=true", "keda.prometheus.enabled=false"], "at least one zone trigger"),
        (
            [
                "keda.enabled=true",
                "keda.matchmaker.redis.enabled=false",
                "keda.matchmaker.targetCPUUtilizationPercentage=0",
            ],
            "keda.matchmaker",
        ),
        (["secrets.redisUrl="], "secrets.redisUrl"),
        (["predictiveScaling.enabled=true"], "zone town has autoscaling.enabled=false"),
        (
            ["predictiveScaling.enabled=true", "predictiveScaling.mode=push"],
            "needs predictiveScaling.pushgatewayUrl",
        ),
        (
            [
                "predictiveScaling.enabled=true",
                "keda.enabled=true",
                "zoneDefaults.autoscaling.enabled=true",
            ],
            "KEDA owns the zone HPAs",
        ),
        (
            [
                "matchmaker.autoscaling.enabled=true",
                "matchmaker.autoscaling.targetCPUUtilizationPercentage=0",
                "matchmaker.autoscaling.queueLengthPerPod=0",
            ],
            "matchmaker.autoscaling",
        ),
        (["tracing.enabled=true", "tracing.endpoint="], "tracing.endpoint"),
    ],
)
def test_the_chart_refuses_inconsistent_values(helm, settings, message):
    result = helm.template(*(arg for setting in settings for arg in ("--set", setting)))
    assert result.returncode != 0 and message in result.stderr, output(result)


def test_the_monitoring_files_are_in_the_chart():
    rules = yaml.safe_load((CHART / "files" / "rules" / "openmmo.rules.yaml").read_text())
    assert rules["groups"], "files/rules/openmmo.rules.yaml has no groups"
    dashboards = sorted((CHART / "files" / "dashboards").glob("*.json"))
    assert dashboards, "files/dashboards/ has no dashboard"
    for path in dashboards:
        assert json.loads(path.read_text())["panels"], path


# --- the real checkers --------------------------------------------------------------------
@pytest.mark.parametrize("values", CI_NAMES)
def test_helm_lint_strict(helm, values):
    result = helm.run(
        "lint", "--strict", str(CHART), "-f", str(CHART / "ci" / values), "--kube-version", "1.33.0"
    )
    assert result.returncode == 0, output(result)
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("values", CI_NAMES)
def test_built_in_kinds_pass_kubernetes_validate_strict(helm, values):
    docs = helm.render_ci(values)
    builtin = [doc for doc in docs if doc["kind"] not in CRD_KINDS]
    unknown = {doc["apiVersion"] for doc in docs if doc["kind"] in CRD_KINDS} - set(CRD_APIS)
    assert not unknown, f"CRD kinds with an API version the chart does not declare: {unknown}"
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "-k", KUBE_VERSION, "-"],
        input=yaml.safe_dump_all(builtin),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, output(result)
    assert "ERROR" not in result.stdout + result.stderr, output(result)
    assert "WARN" not in result.stdout + result.stderr, output(result)


def test_crd_kinds_match_their_schemas(helm, tmp_path):
    by_kind = {}
    for values in CI_NAMES:
        for index, doc in enumerate(helm.render_ci(values)):
            if doc["kind"] in CRD_KINDS:
                assert doc["kind"] in CRD_APIS.get(doc["apiVersion"], ()), doc["apiVersion"]
                path = tmp_path / f"{values}-{index}-{doc['kind']}.json"
                path.write_text(json.dumps(doc))
                by_kind.setdefault(doc["kind"], []).append(path)
    assert set(by_kind) == CRD_KINDS, (
        f"never rendered by a ci values file: {CRD_KINDS - set(by_kind)}"
    )
    for kind, paths in sorted(by_kind.items()):
        schema = SCHEMAS / f"{kind.lower()}.json"
        assert schema.exists(), f"no schema for {kind}"
        result = subprocess.run(
            [tool("check-jsonschema"), "--schemafile", str(schema), *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{kind}: {output(result)}"


def test_the_crd_schemas_catch_a_typo(tmp_path):
    """The hand-written CRD schemas are strict: an unknown field fails."""
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "x", "namespace": "games"},
        "spec": {"selector": {}, "endpoints": [{"port": "metrics", "intervall": "15s"}]},
    }
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(doc))
    schema = SCHEMAS / "servicemonitor.json"
    result = subprocess.run(
        [tool("check-jsonschema"), "--schemafile", str(schema), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "intervall" in result.stdout + result.stderr, output(result)


def test_checkov_finds_nothing_in_the_chart_and_every_skip_says_why(helm, tmp_path):
    checkov = tool("checkov")
    assert (TOOLS / "helm").exists(), "checkov needs helm on PATH: run scripts/tools.sh"
    command = [checkov, "--skip-download", "--compact", "--quiet"]
    chart = subprocess.run(
        [*command, "-d", str(CHART), "--framework", "helm"],
        capture_output=True,
        text=True,
        env=helm.env,
        timeout=180,
    )
    assert chart.returncode == 0, output(chart)
    assert "helm scan results" in chart.stdout and "Passed checks" in chart.stdout, output(chart)
    # checkov renders the chart with its defaults only: scan every ci render too.
    for values in CI_NAMES:
        (tmp_path / f"{values}.yaml").write_text(yaml.safe_dump_all(helm.render_ci(values)))
    rendered = subprocess.run(
        [
            *command,
            *("-d", str(tmp_path), "--framework", "kubernetes"),
            *("--config-file", str(CHART / ".checkov.yaml")),
        ],
        capture_output=True,
        text=True,
        env=helm.env,
        timeout=180,
    )
    assert rendered.returncode == 0, output(rendered)
    assert "Passed checks" in rendered.stdout, output(rendered)
    for path in (CHART / "templates").rglob("*.yaml"):
        for skip in re.findall(r"checkov\.io/skip\d+:.*", path.read_text()):
            assert re.fullmatch(r"checkov\.io/skip\d+: CKV2?_K8S_\d+=\S.{15,}", skip), (path, skip)
    config = (CHART / ".checkov.yaml").read_text()
    for check in yaml.safe_load(config).get("skip-check", []):
        assert re.search(rf"#\s*{check}\b.+", config), f"{check} is skipped without a reason"


# --- every pod ----------------------------------------------------------------------------
@pytest.mark.parametrize("values", CI_NAMES)
def test_every_pod_is_restricted_with_resources_and_a_writable_tmp(helm, values):
    for where, spec in pod_specs(helm.render_ci(values)):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == UID, where
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", where
        if where.endswith("-predict-scale") and "--patch" in str(spec["containers"][0]["args"]):
            assert spec["serviceAccountName"] == "openmmo-predict-scale", where  # may patch HPAs
        else:
            assert spec["automountServiceAccountToken"] is False, where
        assert spec["enableServiceLinks"] is False, where
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), where
        tmp = [v for v in spec["volumes"] if v["name"] == "tmp"]
        assert tmp and "emptyDir" in tmp[0], where
        for container in spec.get("initContainers", []) + spec["containers"]:
            at = f"{where} container {container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, at
            assert context["readOnlyRootFilesystem"] is True, at
            assert context["runAsNonRoot"] is True and context["runAsUser"] == UID, at
            assert context["capabilities"]["drop"] == ["ALL"], at
            assert not context["capabilities"].get("add"), at
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), at
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
            assert mounts.get("tmp") == "/tmp", at
            ours = "docker.io/library/postgres" if where.endswith("-backup") else "ghcr.io/openmmo"
            assert container["image"].startswith(ours), at


@pytest.mark.parametrize("values", CI_NAMES)
def test_servers_have_probes_on_their_health_port(helm, values):
    health_port = {"gateway": "http", "zone": "health", "matchmaker": "health"}
    for deployment in of_kind(helm.render_ci(values), "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        role = container["command"][1]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert container["command"] == ["openmmo", role] and role in health_port
        for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
            http = container[probe]["httpGet"]
            assert (http["path"], http["port"]) == (path, health_port[role]), deployment
        env = env_of(container)
        expected = {
            "gateway": (8080, 8080, 8080),
            "zone": (7000, 8081, 9090),
            "matchmaker": (None, 8081, 9090),  # operator endpoints only
        }[role]
        assert (
            tuple(
                int(env[f"{n}_PORT"]["value"]) if f"{n}_PORT" in env else None
                for n in ("SERVER", "HEALTH", "METRICS")
            )
            == expected
        )
        expected = tuple(port for port in expected if port is not None)
        assert {ports.get(name) for name in ("http", "game", "health", "metrics")} - {None} == set(
            expected
        )
        assert env["SERVER_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


# --- zones --------------------------------------------------------------------------------
def test_one_deployment_per_zone_with_channels_as_replicas(helm):
    docs = helm.render("--set", "zones[0].id=1", "--set", "zones[0].name=town")
    assert [d["metadata"]["name"] for d in zone_deployments(docs)] == ["openmmo-zone-town"]
    docs = helm.render_ci("default-values.yaml")
    zones = {d["metadata"]["name"]: d for d in zone_deployments(docs)}
    assert set(zones) == {"openmmo-zone-town", "openmmo-zone-wilds"}
    for zone_id, name in ((1, "town"), (2, "wilds")):
        deployment = zones[f"openmmo-zone-{name}"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["openmmo.io/zone"] == str(zone_id)
        assert labels["app.kubernetes.io/component"] == "zone"
        assert labels["app.kubernetes.io/name"] == "openmmo"
        assert "helm.sh/chart" not in deployment["spec"]["selector"]["matchLabels"]
        assert deployment["spec"]["replicas"] == 1
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        assert env["WORLD_ZONE_ID"]["value"] == str(zone_id)
        assert env["PUBLIC_WS_URL"]["value"] == "ws://$(POD_IP):7000/ws"
        assert env["ACCEPT_ZONE_TICKETS"]["value"] == "false"  # per-pod URLs by default
        names = list(env)
        assert names.index("POD_IP") < names.index("PUBLIC_WS_URL"), "$(POD_IP) would not expand"
    docs = helm.render_ci("all-features-values.yaml")
    town = named(docs, "Deployment", "openmmo-zone-town")["spec"]["template"]["spec"]
    env = env_of(town["containers"][0])
    # two channels behind one LoadBalancer address honour each other's tickets
    assert env["PUBLIC_WS_URL"]["value"] == "wss://play.example.com/town/ws"
    assert env["ACCEPT_ZONE_TICKETS"]["value"] == "true"
    assert env["MAX_PLAYERS"]["value"] == "1500"  # a zone's own keys win over zoneDefaults
    assert town["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}


def test_zone_pods_drain_before_they_are_killed(helm):
    docs = helm.render_ci("default-values.yaml")
    config = named(docs, "ConfigMap", "openmmo")["data"]
    for deployment in zone_deployments(docs):
        spec = deployment["spec"]["template"]["spec"]
        sleep = spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert spec["terminationGracePeriodSeconds"] == 45
        assert (
            spec["terminationGracePeriodSeconds"] >= sleep + float(config["DRAIN_TIMEOUT_S"]) + 10
        )
        strategy = deployment["spec"]["strategy"]["rollingUpdate"]
        assert strategy["maxUnavailable"] == 0, "a new channel comes up before an old one drains"


def test_each_zone_has_a_headless_and_a_game_service(helm):
    docs = helm.render_ci("default-values.yaml")
    for name in ("town", "wilds"):
        game = named(docs, "Service", f"openmmo-zone-{name}")
        assert game["spec"]["type"] == "LoadBalancer"
        assert [(p["port"], p["targetPort"]) for p in game["spec"]["ports"]] == [(7000, "game")]
        headless = named(docs, "Service", f"openmmo-zone-{name}-headless")
        assert headless["spec"]["clusterIP"] == "None"
        assert {p["port"] for p in headless["spec"]["ports"]} == {7000, 8081, 9090}
        pod_labels = named(docs, "Deployment", f"openmmo-zone-{name}")["spec"]["template"][
            "metadata"
        ]["labels"]
        for service in (game, headless):
            assert service["spec"]["selector"].items() <= pod_labels.items()
    docs = helm.render("--set", "zoneDefaults.service.type=NodePort")
    assert named(docs, "Service", "openmmo-zone-town")["spec"]["type"] == "NodePort"


# --- matchmaker ---------------------------------------------------------------------------
def test_the_matchmaker_runs_by_default_with_two_replicas_and_a_metrics_only_service(helm):
    docs = helm.render_ci("default-values.yaml")
    deployment = named(docs, "Deployment", "openmmo-matchmaker")
    assert deployment["spec"]["replicas"] == 2
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "matchmaker"
    assert "openmmo.io/zone" not in labels
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"] == ["openmmo", "matchmaker"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "health": 8081,
        "metrics": 9090,
    }
    assert "lifecycle" not in container, "no client connects: nothing to wait for"
    assert spec["terminationGracePeriodSeconds"] >= 10
    assert spec["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"].items() <= (
        labels.items()
    )
    service = named(docs, "Service", "openmmo-matchmaker")
    assert service["spec"]["clusterIP"] == "None"
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("metrics", 9090)]
    assert service["metadata"]["labels"]["openmmo.io/metrics"] == "true"
    assert service["spec"]["selector"].items() <= labels.items()
    pdb = named(docs, "PodDisruptionBudget", "openmmo-matchmaker")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # REDIS_URL reaches it through the shared Secret
    secret = secret_data(named(docs, "Secret", "openmmo"))
    assert secret["REDIS_URL"].startswith("redis://")
    assert {"secretRef": {"name": "openmmo"}} in container["envFrom"]


def test_the_matchmaker_can_be_left_out(helm):
    docs = helm.render_ci("minimal-values.yaml")
    assert not [d for d in docs if "matchmaker" in d["metadata"]["name"]]
    docs = helm.render_ci("all-features-values.yaml")
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for kind in (
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "VerticalPodAutoscaler",
        "ServiceMonitor",
        "NetworkPolicy",
        "AuthorizationPolicy",
        "PeerAuthentication",
    ):
        assert (kind, "openmmo-matchmaker") in names, kind
    docs = helm.render(
        "-f", str(CHART / "ci" / "all-features-values.yaml"), "--set", "matchmaker.enabled=false"
    )
    assert not [d for d in docs if "matchmaker" in d["metadata"]["name"]]


def test_the_matchmaker_is_scraped_and_only_by_monitoring(helm):
    docs = helm.render_ci("all-features-values.yaml")
    monitor = named(docs, "ServiceMonitor", "openmmo-matchmaker")["spec"]
    assert monitor["endpoints"][0]["port"] == "metrics"
    service = named(docs, "Service", "openmmo-matchmaker")
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["metadata"]["annotations"] == {"example.com/scraped": "true"}
    policy = named(docs, "AuthorizationPolicy", "openmmo-matchmaker")["spec"]
    (rule,) = policy["rules"]
    assert rule["from"][0]["source"]["namespaces"] == ["monitoring"]
    assert rule["to"][0]["operation"]["ports"] == ["9090"]
    mtls = named(docs, "PeerAuthentication", "openmmo-matchmaker")["spec"]["mtls"]
    assert mtls == {"mode": "STRICT"}
    deployment = named(docs, "Deployment", "openmmo-matchmaker")["spec"]["template"]["spec"]
    assert env_of(deployment["containers"][0])["LOG_LEVEL"]["value"] == "debug"  # extraEnv
    assert deployment["topologySpreadConstraints"][0]["topologyKey"] == (
        "topology.kubernetes.io/zone"
    )


# --- autoscaling --------------------------------------------------------------------------
SEED_BEHAVIOR = {
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Percent", "value": 100, "periodSeconds": 60},
            {"type": "Pods", "value": 4, "periodSeconds": 60},
        ],
    },
    "scaleDown": {
        "stabilizationWindowSeconds": 300,
        "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
    },
}


def test_hpas_scale_on_cpu_memory_and_players_with_the_seed_behaviour(helm):
    docs = helm.render_ci("all-features-values.yaml")
    hpas = {d["metadata"]["name"]: d["spec"] for d in of_kind(docs, "HorizontalPodAutoscaler")}
    assert set(hpas) == {
        "openmmo-gateway",
        "openmmo-zone-town",
        "openmmo-zone-wilds",
        "openmmo-matchmaker",
    }
    for name, spec in hpas.items():
        assert spec["behavior"] == SEED_BEHAVIOR, name
        assert spec["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        kinds = [(m["type"], (m.get("resource") or m.get("pods"))) for m in spec["metrics"]]
        resources = {r["name"] for t, r in kinds if t == "Resource"}
        assert resources == {"cpu", "memory"}, name
        pods = [r for t, r in kinds if t == "Pods"]
        external = [r for t, r in kinds if t == "External"]
        if name in ("openmmo-gateway", "openmmo-matchmaker"):
            assert not pods
            assert bool(external) == (name == "openmmo-matchmaker"), name
        else:
            assert not external
            assert pods[0]["metric"]["name"] == "openmmo_players_online"
            assert pods[0]["target"] == {"type": "AverageValue", "averageValue": "700"}
    deployments = of_kind(docs, "Deployment")
    assert all("replicas" not in d["spec"] for d in deployments), "the HPAs own the replicas"
    adapter = named(docs, "ConfigMap", "openmmo-prometheus-adapter")
    assert adapter["metadata"]["namespace"] == "monitoring"
    rules = yaml.safe_load(adapter["data"]["config.yaml"])["rules"]
    assert rules[0]["name"]["as"] == "openmmo_players_online"
    assert rules[0]["resources"]["overrides"]["pod"] == {"resource": "pod"}
    # the matchmaker's External metric: the queue length, served by an external rule
    (queue,) = [
        m["external"] for m in hpas["openmmo-matchmaker"]["metrics"] if m["type"] == "External"
    ]
    assert queue == {
        "metric": {"name": "openmmo_matchmaking_queue_length"},
        "target": {"type": "AverageValue", "averageValue": "100"},
    }
    (external_rule,) = yaml.safe_load(adapter["data"]["config.yaml"])["externalRules"]
    assert external_rule["name"]["as"] == "openmmo_matchmaking_queue_length"
    assert "max by (mode)" in external_rule["metricsQuery"], "replicas report the same queue"
    docs = helm.render(
        "--set", "prometheusAdapter.enabled=true", "--set", "matchmaker.enabled=false"
    )
    adapter = named(docs, "ConfigMap", "openmmo-prometheus-adapter")
    assert "externalRules" not in yaml.safe_load(adapter["data"]["config.yaml"])


def test_keda_replaces_the_zone_and_matchmaker_hpas(helm):
    docs = helm.render_ci("keda-values.yaml")
    hpas = [d["metadata"]["name"] for d in of_kind(docs, "HorizontalPodAutoscaler")]
    assert hpas == ["openmmo-gateway"], "with KEDA on, the zones' and matchmaker's HPAs are KEDA's"
    scaled = {d["metadata"]["name"]: d["spec"] for d in of_kind(docs, "ScaledObject")}
    assert set(scaled) == {"openmmo-zone-town", "openmmo-zone-wilds", "openmmo-matchmaker"}
    for name, spec in scaled.items():
        assert spec["scaleTargetRef"]["name"] == name
        assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == SEED_BEHAVIOR
    for name in ("openmmo-zone-town", "openmmo-zone-wilds"):
        types = {t["type"] for t in scaled[name]["triggers"]}
        assert types == {"prometheus", "cron"}, "the queues are not a zone signal"
        zone = name.rsplit("-", 1)[1]
        (players,) = [
            t["metadata"]["query"]
            for t in scaled[name]["triggers"]
            if "openmmo_players_online" in t["metadata"].get("query", "")
        ]
        assert f'zone="{zone}"' in players
    matchmaker = scaled["openmmo-matchmaker"]
    assert (matchmaker["minReplicaCount"], matchmaker["maxReplicaCount"]) == (2, 3)
    redis = [t for t in matchmaker["triggers"] if t["type"] == "redis"]
    # the real lists: <config.namespace>:mm:q:<mode> (src/openmmo/matchmaking/redis.py)
    assert [t["metadata"]["listName"] for t in redis] == [
        "openmmo-eu1:mm:q:dungeon",
        "openmmo-eu1:mm:q:duel",
    ]
    config = named(docs, "ConfigMap", "openmmo")["data"]
    assert config["NAMESPACE"] == "openmmo-eu1"
    for trigger in redis:
        assert trigger["metadata"]["address"] == "redis-master.data.svc:6379"
        assert trigger["metadata"]["databaseIndex"] == "0"
        assert trigger["authenticationRef"] == {"name": "openmmo-redis-auth"}
    assert {t["type"] for t in matchmaker["triggers"]} == {"redis", "cpu"}
    for deployment in of_kind(docs, "Deployment"):
        assert "replicas" not in deployment["spec"], "KEDA (the gateway: its HPA) owns the replicas"
    docs = helm.render("-f", str(CHART / "ci" / "keda-values.yaml"), "--set", "keda.enabled=false")
    assert len(of_kind(docs, "HorizontalPodAutoscaler")) == 4
    docs = helm.render(
        "-f", str(CHART / "ci" / "keda-values.yaml"), "--set", "matchmaker.enabled=false"
    )
    assert "openmmo-matchmaker" not in {
        d["metadata"]["name"] for d in of_kind(docs, "ScaledObject")
    }
    documented = "".join(
        path.read_text()
        for path in (CHART / "values.yaml", CHART / "README.md", CHART / "templates" / "NOTES.txt")
    )
    assert "openmmo:matchmaking:queue" not in documented and "future" not in documented


def predict_scale(docs):
    job = named(docs, "CronJob", "openmmo-predict-scale")
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    return container, {name: e.get("value") for name, e in env_of(container).items()}


def test_predict_scale_may_patch_exactly_the_zone_hpas_with_their_own_bounds(helm):
    docs = helm.render_ci("all-features-values.yaml")
    container, env = predict_scale(docs)
    assert container["command"] == ["openmmo", "predict-scale"] and container["args"] == ["--patch"]
    assert "envFrom" not in container  # no world settings, no secrets
    zones = json.loads(env["PREDICTION_ZONES"])
    hpas = {h["metadata"]["name"]: h["spec"] for h in of_kind(docs, "HorizontalPodAutoscaler")}
    assert [z["zone"] for z in zones] == ["town", "wilds"]
    for zone in zones:
        spec = hpas[zone["hpa"]]
        assert (zone["min_replicas"], zone["max_replicas"]) == (
            spec["minReplicas"],
            spec["maxReplicas"],
        )
    role = named(docs, "Role", "openmmo-predict-scale")
    assert role["rules"] == [
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers"],
            "resourceNames": [z["hpa"] for z in zones],
            "verbs": ["patch"],
        }
    ]
    binding = named(docs, "RoleBinding", "openmmo-predict-scale")
    assert binding["subjects"][0]["name"] == "openmmo-predict-scale"
    assert env["PREDICTION_SELECTOR"] == f'namespace="{NAMESPACE}"'
    application = named(docs, "Application", "openmmo")  # Argo CD leaves the patched field be
    assert application["spec"]["ignoreDifferences"][0]["jsonPointers"] == ["/spec/minReplicas"]
    check = subprocess.run(  # the settings it is given are valid ones
        [sys.executable, "-c", "from openmmo.config import load_settings; load_settings()"],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, output(check)


def test_predict_scale_pushes_to_a_keda_trigger_when_keda_owns_the_hpas(helm):
    docs = helm.render_ci("keda-values.yaml")
    container, _ = predict_scale(docs)
    assert container["args"] == ["--push=http://prometheus-pushgateway.monitoring.svc:9091"]
    assert not of_kind(docs, "Role") or not any(
        r["metadata"]["name"] == "openmmo-predict-scale" for r in of_kind(docs, "Role")
    )
    for scaled in of_kind(docs, "ScaledObject"):
        if "-zone-" not in scaled["metadata"]["name"]:
            continue
        zone = scaled["metadata"]["name"].rsplit("-", 1)[1]
        queries = [t["metadata"].get("query") for t in scaled["spec"]["triggers"]]
        assert f'max(openmmo_predicted_channels{{zone="{zone}"}})' in queries


def test_pdbs_and_vpas_select_their_pods(helm):
    docs = helm.render_ci("all-features-values.yaml")
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in of_kind(docs, "Deployment")
    }
    for pdb in of_kind(docs, "PodDisruptionBudget"):
        name = pdb["metadata"]["name"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pods[name].items()
        assert pdb["spec"]["maxUnavailable"] == 1
    vpas = of_kind(docs, "VerticalPodAutoscaler")
    assert {v["spec"]["targetRef"]["name"] for v in vpas} == set(pods)
    assert {v["spec"]["updatePolicy"]["updateMode"] for v in vpas} == {"Off"}


# --- settings and secrets -----------------------------------------------------------------
def setting_names():
    return set(environment_names())


@pytest.mark.parametrize("values", ["default-values.yaml", "all-features-values.yaml"])
def test_openmmo_accepts_the_settings_the_chart_gives_it(helm, values):
    docs = helm.render_ci(values)
    config = named(docs, "ConfigMap", "openmmo")["data"]
    secret = secret_data(named(docs, "Secret", "openmmo"))
    assert set(config) | set(secret) <= setting_names(), "a key OpenMMO does not read"
    assert "JWT_SECRET" not in config and "DATABASE_URL" not in config
    assert set(secret) >= {"DATABASE_URL", "REDIS_URL", "RABBITMQ_URL", "JWT_SECRET"}
    assert config["OPENMMO_ENV"] == "production"
    for deployment in of_kind(docs, "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        refs = [next(iter(source.values()))["name"] for source in container["envFrom"]]
        assert refs == ["openmmo", "openmmo"]
        env = {**config, **secret, "POD_IP": "10.0.0.7", "SERVER_NAME": "pod-0"}
        for name, entry in env_of(container).items():
            if "value" in entry:
                value = entry["value"].replace("$(POD_IP)", env["POD_IP"])
                env[name] = value.replace("$(SERVER_NAME)", env["SERVER_NAME"])
        assert {n for n in env if not n.startswith("OTEL_")} - {"POD_IP"} <= setting_names()
        check = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os; from openmmo.config import load_settings; load_settings(); "
                "from openmmo.tracing import exporters_wanted; exporters_wanted(os.environ)",
            ],
            env={"PATH": os.environ["PATH"], **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, f"{deployment['metadata']['name']}: {output(check)}"


def test_the_migration_job_migrates_a_real_database_with_its_rendered_settings(helm, postgres_url):
    """The hook Job's own environment (inline settings + its hook Secret) is enough for
    `openmmo migrate` in production mode; run it against a fresh PostgreSQL database."""
    docs = helm.render_ci("default-values.yaml")
    (job,) = of_kind(docs, "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    (source,) = container["envFrom"]
    env = secret_data(named(docs, "Secret", source["secretRef"]["name"]))
    env |= {e["name"]: e["value"] for e in container["env"]}
    assert env["OPENMMO_ENV"] == "production" and env["DATABASE_URL"].startswith("postgresql")
    env["DATABASE_URL"] = postgres_url
    for _ in range(2):  # idempotent: a second run (the next upgrade) changes nothing
        result = subprocess.run(
            [sys.executable, "-m", "openmmo", *container["command"][1:]],
            env={"PATH": os.environ["PATH"], **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, output(result)
    assert json.loads(result.stdout.strip().splitlines()[-1])["changed"] is False


def test_the_jwt_secret_is_generated_once_per_render_and_can_be_given(helm):
    docs = helm.render_ci("default-values.yaml")
    secret = secret_data(named(docs, "Secret", "openmmo"))
    migrate = secret_data(named(docs, "Secret", "openmmo-migrate"))
    assert re.fullmatch(r"[A-Za-z0-9]{48}", secret["JWT_SECRET"])
    assert migrate == {"DATABASE_URL": secret["DATABASE_URL"]}, "the migration needs no JWT key"
    assert is_hook(named(docs, "Secret", "openmmo-migrate"), "pre-install")
    template = (CHART / "templates" / "_helpers.tpl").read_text()
    assert re.search(r'lookup "v1" "Secret"', template), "kept across upgrades with lookup"
    given = "x" * 40
    docs = helm.render("--set", f"secrets.jwtSecret={given}")
    assert secret_data(named(docs, "Secret", "openmmo"))["JWT_SECRET"] == given


def test_an_existing_secret_replaces_the_chart_secret(helm):
    docs = helm.render_ci("existing-secret-values.yaml")
    assert not of_kind(docs, "Secret"), "no Secret when secrets.existingSecret is set"
    assert not of_kind(docs, "ServiceAccount")
    for where, spec in pod_specs(docs):
        for container in spec.get("initContainers", []) + spec["containers"]:
            refs = [
                s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s
            ]
            assert refs in ([], ["openmmo-backends"]), where
        if not where.startswith("Job/"):
            assert spec["serviceAccountName"] == "openmmo-runtime", where
        assert spec["imagePullSecrets"] == [{"name": "ghcr-pull"}], where
    job = of_kind(docs, "Job")[0]["spec"]["template"]["spec"]
    assert job["serviceAccountName"] == "openmmo-runtime"
    assert job["containers"][0]["envFrom"] == [{"secretRef": {"name": "openmmo-backends"}}]
    image = of_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ghcr.io/openmmo/openmmo@sha256:" + "0123456789abcdef" * 4


def test_migrations_run_as_a_hook_job_or_in_init_containers(helm):
    docs = helm.render_ci("default-values.yaml")
    (job,) = of_kind(docs, "Job")
    assert is_hook(job, "pre-install") and is_hook(job, "pre-upgrade")
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"] == ["openmmo", "migrate"]
    assert "serviceAccountName" not in pod, "the chart's ServiceAccount does not exist yet"
    assert not any(
        d["spec"]["template"]["spec"].get("initContainers") for d in of_kind(docs, "Deployment")
    )
    docs = helm.render("--set", "migration.mode=initContainer")
    assert not of_kind(docs, "Job") and not [
        d for d in of_kind(docs, "Secret") if is_hook(d, "pre-install")
    ]
    for deployment in of_kind(docs, "Deployment"):
        (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
        assert init["command"] == ["openmmo", "migrate"]
    docs = helm.render("--set", "migration.mode=none")
    assert not of_kind(docs, "Job")


# --- network ------------------------------------------------------------------------------
def test_network_policies_deny_by_default_and_allow_what_openmmo_needs(helm):
    docs = helm.render_ci("default-values.yaml")
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(docs, "NetworkPolicy")}
    deny = policies["openmmo-default-deny"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny
    release = deny["podSelector"]["matchLabels"]
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "Pod"):
            template = doc if doc["kind"] == "Pod" else doc["spec"]["template"]
            labels = template["metadata"]["labels"]
            assert release.items() <= labels.items(), f"{doc['metadata']['name']} escapes the deny"

    def ports(rules):
        return {p["port"] for rule in rules for p in rule["ports"]}

    assert {53, 5432, 6379, 5672, 8080} <= ports(policies["openmmo-egress"]["egress"])
    assert ports(policies["openmmo-gateway"]["ingress"]) == {8080}
    assert ports(policies["openmmo-zones"]["ingress"]) == {7000, 8081, 9090}
    game = next(r for r in policies["openmmo-zones"]["ingress"] if r["ports"][0]["port"] == 7000)
    assert "from" not in game, "players come from anywhere"
    # the matchmaker: Prometheus on the metrics port, nothing else (it only calls out)
    (scrape,) = policies["openmmo-matchmaker"]["ingress"]
    assert ports([scrape]) == {9090}
    assert scrape["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert (
        policies["openmmo-matchmaker"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        == "matchmaker"
    )
    docs = helm.render("--set", "networkPolicy.monitoringPeers=null")
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind(docs, "NetworkPolicy")}
    assert policies["openmmo-matchmaker"]["ingress"] == [], "no peers: nobody gets in"
    assert not of_kind(helm.render_ci("minimal-values.yaml"), "NetworkPolicy")


def test_tracing_sets_the_otel_variables_of_every_server_and_opens_the_collector_port(helm):
    def egress_ports(docs):
        rules = named(docs, "NetworkPolicy", "openmmo-egress")["spec"]["egress"]
        return {p["port"] for rule in rules for p in rule["ports"]}

    docs = helm.render_ci("default-values.yaml")
    for deployment in of_kind(docs, "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert not [n for n in env_of(container) if n.startswith("OTEL_")], "tracing is off"
    assert 4318 not in egress_ports(docs)
    docs = helm.render_ci("all-features-values.yaml")
    services = set()
    for deployment in of_kind(docs, "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env, names = env_of(container), [entry["name"] for entry in container["env"]]
        assert names.index("SERVER_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES")
        assert env["OTEL_TRACES_EXPORTER"]["value"] == "otlp"
        assert (
            env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://otel-collector.monitoring:4318"
        )
        assert env["OTEL_TRACES_SAMPLER_ARG"]["value"] == "0.25"
        attributes = env["OTEL_RESOURCE_ATTRIBUTES"]["value"].split(",")
        assert {
            "service.instance.id=$(SERVER_NAME)",
            "deployment.environment.name=production",
        } <= set(attributes)
        services.add(env["OTEL_SERVICE_NAME"]["value"])
    assert services == {"openmmo-gateway", "openmmo-zone", "openmmo-matchmaker"}
    assert 4318 in egress_ports(docs)


def test_the_ingress_routes_to_the_gateway_service(helm):
    docs = helm.render_ci("all-features-values.yaml")
    (ingress,) = of_kind(docs, "Ingress")
    service = named(docs, "Service", "openmmo-gateway")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    assert ingress["spec"]["ingressClassName"] == "nginx" and ingress["spec"]["tls"]
    (default,) = of_kind(helm.render("--set", "gateway.ingress.enabled=true"), "Ingress")
    paths = {p["path"] for p in default["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/auth", "/api", "/openapi.json", "/play", "/static"}, paths


# --- monitoring and optional components ---------------------------------------------------
def test_monitoring_resources_come_from_the_chart_files(helm):
    docs = helm.render_ci("all-features-values.yaml")
    (rule,) = of_kind(docs, "PrometheusRule")
    source = yaml.safe_load((CHART / "files" / "rules" / "openmmo.rules.yaml").read_text())
    groups = {g["name"]: g for g in rule["spec"]["groups"]}
    assert [g for g in rule["spec"]["groups"] if g["name"] != "openmmo.prices"] == [
        g for g in source["groups"] if g["name"] != "openmmo.prices"
    ]
    # the price sheet comes from the `cost` values
    prices = {
        (r["record"], tuple(sorted(r["labels"].items()))): r["expr"]
        for r in groups["openmmo.prices"]["rules"]
    }
    spot = ("capacity_type", "spot"), ("currency", "EUR"), ("region", "eu-west")
    assert prices[("openmmo:price_node_hour", spot)] == "vector(0.055)"
    assert prices[("openmmo:cost_budget_per_hour", (("currency", "EUR"),))] == "vector(40)"
    assert (
        "openmmo:price_node_hour",
        (("capacity_type", "spot"), ("currency", "EUR"), ("region", "ap-northeast")),
    ) not in prices  # no spot price: spot costs on-demand
    # eu-west 3, ap-northeast 2, and the default region `local` 3 (Helm merges maps: set it to
    # null to drop it), the target, the budget
    assert len(prices) == 10
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    dashboards = [
        d for d in of_kind(docs, "ConfigMap") if "grafana_dashboard" in d["metadata"]["labels"]
    ]
    files = sorted((CHART / "files" / "dashboards").glob("*.json"))
    assert len(dashboards) == len(files)
    for dashboard in dashboards:
        assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((name, text),) = dashboard["data"].items()
        assert json.loads(text) == json.loads((CHART / "files" / "dashboards" / name).read_text())
    services = of_kind(docs, "Service")
    for monitor in of_kind(docs, "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        chosen = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        assert chosen, f"{monitor['metadata']['name']} selects no Service"
        for service in chosen:
            names = {p["name"] for p in service["spec"]["ports"]}
            assert monitor["spec"]["endpoints"][0]["port"] in names, service["metadata"]["name"]
    scraped = {
        s["metadata"]["name"] for s in services if "openmmo.io/metrics" in s["metadata"]["labels"]
    }
    assert "openmmo-zone-town" not in scraped, "the game Service is not scraped a second time"


def test_optional_components_need_their_api(helm):
    for setting, api in (
        ("monitoring.serviceMonitor.enabled=true", "monitoring.coreos.com/v1"),
        ("keda.enabled=true", "keda.sh/v1alpha1"),
        ("istio.enabled=true", "istio.io/v1"),
        ("karpenter.enabled=true", "karpenter.sh/v1"),
    ):
        result = helm.template("--set", setting, apis=False)
        assert result.returncode != 0 and api in result.stderr, output(result)
        assert "--api-versions" in result.stderr


def test_optional_components_are_off_by_default(helm):
    kinds = {doc["kind"] for doc in helm.render_ci("default-values.yaml")}
    assert not kinds & (CRD_KINDS | {"HorizontalPodAutoscaler", "Ingress"})


def test_istio_canary_ab_and_hs256_jwks(helm):
    docs = helm.render_ci("all-features-values.yaml")
    (virtual,) = of_kind(docs, "VirtualService")
    header, primary = virtual["spec"]["http"]
    assert header["match"][0]["headers"] == {"x-openmmo-canary": {"exact": "true"}}
    assert sum(route["weight"] for route in primary["route"]) == 100
    assert [route["weight"] for route in primary["route"]] == [90, 10]
    (rule,) = of_kind(docs, "DestinationRule")
    assert rule["spec"]["trafficPolicy"]["loadBalancer"] == {"simple": "LEAST_CONN"}
    assert rule["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] == 5
    modes = {p["metadata"]["name"]: p["spec"] for p in of_kind(docs, "PeerAuthentication")}
    assert {spec["mtls"]["mode"] for spec in modes.values()} == {"STRICT"}
    assert modes["openmmo-zone"]["portLevelMtls"] == {"7000": {"mode": "PERMISSIVE"}}
    (auth,) = of_kind(docs, "RequestAuthentication")
    (jwt_rule,) = auth["spec"]["jwtRules"]
    keys = json.loads(jwt_rule["jwks"])["keys"]
    assert keys[0]["kty"] == "oct" and keys[0]["alg"] == "HS256"
    assert jwt_rule["issuer"] == "openmmo" and jwt_rule["audiences"] == ["openmmo"]
    template = (CHART / "templates" / "istio" / "requestauthentication.yaml").read_text()
    assert "HS256" in template and "oct" in template
    result = helm.template(
        "--set", "istio.enabled=true", "--set", "istio.requestAuthentication.enabled=true"
    )
    assert result.returncode != 0 and "jwks" in result.stderr


def test_karpenter_nodes_are_made_for_zone_pods_only(helm):
    docs = helm.render_ci("all-features-values.yaml")
    (pool,) = of_kind(docs, "NodePool")
    template = pool["spec"]["template"]
    assert template["metadata"]["labels"] == {"workload-type": "game-server"}
    assert template["spec"]["taints"] == [
        {"key": "game-server", "value": "true", "effect": "NoSchedule"}
    ]
    for deployment in of_kind(docs, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        tolerated = {(t["key"], t.get("value"), t["effect"]) for t in spec.get("tolerations", [])}
        is_zone = "-zone-" in deployment["metadata"]["name"]
        assert (("game-server", "true", "NoSchedule") in tolerated) == is_zone
        assert (spec.get("nodeSelector", {}).get("workload-type") == "game-server") == is_zone


def test_argocd_and_velero_point_at_this_release(helm):
    docs = helm.render_ci("all-features-values.yaml")
    (app,) = of_kind(docs, "Application")
    assert app["metadata"]["namespace"] == "argocd"
    assert app["spec"]["source"]["path"] == "deploy/helm/openmmo"
    assert app["spec"]["destination"]["namespace"] == NAMESPACE
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    (schedule,) = of_kind(docs, "Schedule")
    assert schedule["metadata"]["namespace"] == "velero"
    assert schedule["spec"]["template"]["includedNamespaces"] == [NAMESPACE]


def backup_cronjob(docs):
    (cron,) = [c for c in of_kind(docs, "CronJob") if c["metadata"]["name"].endswith("-backup")]
    return cron, cron["spec"]["jobTemplate"]["spec"]["template"]


def test_the_backup_cronjob_dumps_every_15_minutes_onto_its_volume(helm):
    assert not of_kind(helm.render_ci("default-values.yaml"), "CronJob"), "off by default"
    docs = helm.render_ci("all-features-values.yaml")
    cron, template = backup_cronjob(docs)
    assert cron["spec"]["schedule"] == "*/15 * * * *"  # RPO 15 min
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] < 15 * 60
    pod = template["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["--dir", "/backups", "--keep", "96"]
    gateway = named(docs, "Deployment", "openmmo-gateway")["spec"]["template"]["spec"]
    assert container["envFrom"] == gateway["containers"][0]["envFrom"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["backups"] == "/backups"
    claim = {v["name"]: v for v in pod["volumes"]}["backups"]["persistentVolumeClaim"]
    pvc = named(docs, "PersistentVolumeClaim", claim["claimName"])
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert pvc["spec"]["storageClassName"] == "standard"
    deny = named(docs, "NetworkPolicy", "openmmo-default-deny")["spec"]["podSelector"]
    assert deny["matchLabels"].items() <= template["metadata"]["labels"].items()
    # An existing claim is mounted as it is, and nothing is created for it.
    docs = helm.render_ci("existing-secret-values.yaml")
    _, template = backup_cronjob(docs)
    assert not of_kind(docs, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["backups"]["persistentVolumeClaim"] == {"claimName": "openmmo-backups"}
    assert template["spec"]["containers"][0]["args"][-1] == "48"


def test_the_backup_runs_our_script_from_a_configmap_in_the_postgresql_image(helm):
    """The OpenMMO image carries no PostgreSQL client (it would add ~150 MB to every zone
    pod): the script comes from a ConfigMap, identical to scripts/, and runs in postgres."""
    docs = helm.render_ci("all-features-values.yaml")
    _, template = backup_cronjob(docs)
    (container,) = template["spec"]["containers"]
    assert container["image"] == "docker.io/library/postgres:15"
    assert container["command"] == ["bash", "/opt/backup/backup.sh"]
    scripts = named(docs, "ConfigMap", "openmmo-backup-scripts")["data"]
    assert scripts["backup.sh"] == (ROOT / "scripts/backup.sh").read_text()
    assert scripts["restore.sh"] == (ROOT / "scripts/restore.sh").read_text()
    assert scripts["postgres.sh"] == (ROOT / "scripts/lib/postgres.sh").read_text()
    component = ROOT / "deploy/kustomize/components/backup/files"
    assert (component / "backup.sh").read_text() == scripts["backup.sh"], "make sync-monitoring"
    assert (component / "postgres.sh").read_text() == scripts["postgres.sh"]
    assert (component / "restore.sh").read_text() == scripts["restore.sh"]
    volume = {v["name"]: v for v in template["spec"]["volumes"]}["scripts"]["configMap"]
    assert {i["path"] for i in volume["items"]} == {"backup.sh", "restore.sh", "lib/postgres.sh"}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["scripts"] == "/opt/backup"


def test_the_backup_cronjob_backs_up_a_real_database_with_its_rendered_settings(
    helm, postgres_url, tmp_path
):
    """The CronJob's command and arguments, with the settings of its ConfigMap and Secret (the
    database URL pointed at a real database), run scripts/backup.sh to a good dump."""
    docs = helm.render_ci("all-features-values.yaml")
    _, template = backup_cronjob(docs)
    (container,) = template["spec"]["containers"]
    env = named(docs, "ConfigMap", "openmmo")["data"] | secret_data(
        named(docs, "Secret", "openmmo")
    )
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://")
    env["DATABASE_URL"] = postgres_url
    scripts = named(docs, "ConfigMap", "openmmo-backup-scripts")["data"]
    mounted = tmp_path / "opt-backup"  # the ConfigMap's files, where the pod mounts them
    (mounted / "lib").mkdir(parents=True)
    (mounted / "backup.sh").write_text(scripts["backup.sh"])
    (mounted / "lib" / "postgres.sh").write_text(scripts["postgres.sh"])
    command = [c.replace("/opt/backup", str(mounted)) for c in container["command"]]
    dumps = tmp_path / "backups"
    dumps.mkdir()
    args = [str(dumps) if a == "/backups" else a for a in container["args"]]
    result = subprocess.run(
        [*command, *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, output(result)
    (manifest,) = dumps.glob("*.json")
    assert json.loads(manifest.read_text())["sha256"]


# --- helm test and NOTES ------------------------------------------------------------------
def helm_test_pod(docs):
    (pod,) = [d for d in of_kind(docs, "Pod") if is_hook(d, "test")]
    return pod


def test_helm_test_logs_in_and_joins_through_the_gateway_service(helm, tmp_path):
    docs = helm.render_ci("default-values.yaml")
    pod = helm_test_pod(docs)
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    service = named(docs, "Service", "openmmo-gateway")
    assert env["GATEWAY_URL"] == f"http://openmmo-gateway.{NAMESPACE}.svc:8080"
    assert service["spec"]["ports"][0]["port"] == 8080
    assert env["ZONE_ID"] == "1"
    assert container["command"] == ["python", "-c"]
    script = container["args"][0]
    assert "/auth/device" in script and "/api/zones/" in script
    assert (
        container["image"]
        == named(docs, "Deployment", "openmmo-gateway")["spec"]["template"]["spec"]["containers"][
            0
        ]["image"]
    )
    # The very script, against a real local world, twice (the test account is reused).
    with LocalWorld(tmp_path / "world") as world:
        for _ in range(2):
            run = subprocess.run(
                [sys.executable, "-c", script],
                env={**os.environ, **env, "GATEWAY_URL": world.gateway_url},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 0, output(run)
            assert "ok: logged in and joined zone 1" in run.stdout
    refused = subprocess.run(
        [sys.executable, "-c", script.replace("time.monotonic() + 90", "time.monotonic() + 1")],
        env={**os.environ, **env, "GATEWAY_URL": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "FAIL" in refused.stderr


def test_notes_render(helm, tmp_path):
    """helm template does not render NOTES.txt: render it through `tpl` in a copy of the chart."""
    chart = tmp_path / "openmmo"
    shutil.copytree(CHART, chart)
    (chart / "files" / "notes.txt").write_text((CHART / "templates" / "NOTES.txt").read_text())
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        'data:\n  notes: {{ tpl (.Files.Get "files/notes.txt") . | quote }}\n'
    )
    for values in (
        "default-values.yaml",
        "existing-secret-values.yaml",
        "all-features-values.yaml",
    ):
        result = helm.template(
            "-f", str(CHART / "ci" / values), "-s", "templates/zz-notes.yaml", chart=chart
        )
        assert result.returncode == 0, output(result)
        notes = yaml.safe_load(result.stdout)["data"]["notes"]
        assert "openmmo-gateway" in notes and "helm test openmmo" in notes, notes
        assert "zone 1 (town)" in notes and "zone 2 (wilds)" in notes, notes
        assert "MATCHMAKER (Deployment openmmo-matchmaker" in notes, notes
        assert "openmmo:mm:q:<mode>" in notes and "WARNING" not in notes, notes
        assert "<no value>" not in notes and "change-me" not in notes, notes


def test_a_gateway_of_several_regions_may_probe_the_others(helm):
    """With REGIONS, the gateway probes the other regions' ping URLs: the default deny would
    make every other region look down. Only the gateway, only those ports."""
    regions = [
        {"name": "eu-west", "gateway_url": "https://eu.play.example"},
        {"name": "us-east", "gateway_url": "https://us.play.example"},
        {
            "name": "ap",
            "gateway_url": "https://ap.play.example",
            "ping_url": "http://ping.ap:8443/p",
        },
        {"name": "lab", "gateway_url": "http://lab.play.example"},
    ]
    values = json.dumps(regions)
    docs = helm.render("--set", "config.region=eu-west", "--set-json", f"config.regions={values}")
    policy = named(docs, "NetworkPolicy", "openmmo-gateway-regions")["spec"]
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
    assert policy["policyTypes"] == ["Egress"]
    assert sorted(p["port"] for rule in policy["egress"] for p in rule["ports"]) == [80, 443, 8443]
    assert not [
        p
        for p in of_kind(helm.render(), "NetworkPolicy")
        if p["metadata"]["name"] == "openmmo-gateway-regions"
    ], "one region: nothing to probe"
