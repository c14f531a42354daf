"""The Kustomize base, overlays and components under deploy/kustomize/, rendered the way a
cluster would get them and checked with the real tools: kubectl kustomize (v1.33, kustomize
v5), kubernetes-validate --strict against the 1.33 API, the custom resources against their
CRDs (scripts/validate-crds.mjs, JSON schemas for the two without npm models), checkov, and
structural rules of our own (Pod Security "restricted", resources, probes, default deny,
autoscaler targets, settings that exist in docs/reference/config.md)."""

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "bin"
KUSTOMIZE = ROOT / "deploy" / "kustomize"
SCHEMAS = Path(__file__).parent / "schemas" / "kustomize"
OVERLAYS = ("dev", "staging", "prod")
NAMESPACES = {"dev": "openmmo-dev", "staging": "openmmo-staging", "prod": "openmmo-prod"}
COMPONENTS = (
    "monitoring",
    "prometheus-adapter",
    "vpa",
    "istio",
    "keda",
    "argocd",
    "velero",
    "karpenter",
    "backup",
    "predictive-scaling",
    "multi-region",
)
# applied on their own, outside a world (log-shipping: one agent per node for every world)
CLUSTER_LEVEL = ("argocd", "velero", "karpenter", "log-shipping")
TEST_NAMESPACE = "openmmo-test"
REGION = "REGION=eu-west-1"
SECRET_KEYS = {"DATABASE_URL", "REDIS_URL", "RABBITMQ_URL", "JWT_SECRET"}
# API groups served by Kubernetes itself: kubernetes-validate knows their schemas
BUILTIN_GROUPS = {
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
}
JSON_SCHEMAS = {
    (
        "autoscaling.k8s.io/v1",
        "VerticalPodAutoscaler",
    ): "verticalpodautoscaler.autoscaling.k8s.io.v1",
    ("velero.io/v1", "Schedule"): "schedule.velero.io.v1",
}


def tool(name):
    path = TOOLS / name
    assert path.exists(), f"{name} is missing: run scripts/tools.sh"
    return str(path)


def run(args, **kwargs):
    env = {**os.environ, "KUBECONFIG": "/nonexistent"}
    return subprocess.run(args, capture_output=True, text=True, timeout=180, env=env, **kwargs)


def group(document):
    api_version = document["apiVersion"]
    return api_version.split("/")[0] if "/" in api_version else ""


def build(directory):
    result = run([tool("kubectl"), "kustomize", str(directory)])
    assert result.returncode == 0, f"kubectl kustomize {directory}:\n{result.stderr}"
    return result.stdout


def with_base(tmp, component):
    """A kustomization that puts one component on the base, as an overlay would."""
    directory = tmp / f"base+{component}"
    directory.mkdir()
    to = Path(os.path.relpath(KUSTOMIZE, directory))
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [str(to / "base")],
                "components": [str(to / "components" / component)],
                "transformers": [
                    yaml.safe_dump(
                        {
                            "apiVersion": "builtin",
                            "kind": "NamespaceTransformer",
                            "metadata": {"name": "namespace", "namespace": TEST_NAMESPACE},
                            "unsetOnly": True,
                        }
                    )
                ],
                "images": [
                    {"name": "openmmo", "newName": "ghcr.io/openmmo/openmmo", "newTag": "0.1.0"}
                ],
                "secretGenerator": [
                    {"name": "openmmo-secrets", "envs": ["secrets.env"]},
                ],
                # the region the overlay runs in (the multi-region component needs it)
                "configMapGenerator": [
                    {"name": "openmmo-config", "behavior": "merge", "literals": [REGION]},
                ],
            }
        )
    )
    (directory / "secrets.env").write_text(
        "".join(f"{key}=placeholder-{key.lower()}-0123456789abcdef\n" for key in SECRET_KEYS)
    )
    return directory


def alone(tmp, component):
    directory = tmp / f"only-{component}"
    directory.mkdir()
    to = Path(os.path.relpath(KUSTOMIZE, directory))
    (directory / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "components": [str(to / "components" / component)],
            }
        )
    )
    return directory


class Render:
    def __init__(self, name, text):
        self.name = name
        self.text = text
        self.docs = [d for d in yaml.safe_load_all(text) if d]

    def of(self, kind):
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind, name):
        found = [d for d in self.of(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.name}: {kind}/{name} found {len(found)} times"
        return found[0]


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kustomize")
    directories = {f"overlay {o}": KUSTOMIZE / "overlays" / o for o in OVERLAYS}
    directories |= {f"base+{c}": with_base(tmp, c) for c in COMPONENTS}
    directories |= {f"only {c}": alone(tmp, c) for c in CLUSTER_LEVEL}
    with ThreadPoolExecutor(4) as pool:
        texts = dict(zip(directories, pool.map(build, directories.values()), strict=True))
    return {name: Render(name, text) for name, text in texts.items()}


def app_renders(renders):
    """Renders that contain a world (base included)."""
    return [r for name, r in renders.items() if not name.startswith("only ")]


def pod_templates(render):
    for doc in render.docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield doc, doc["spec"]["template"]
        elif doc["kind"] == "CronJob":
            yield doc, doc["spec"]["jobTemplate"]["spec"]["template"]


def where(render, doc):
    return f"{render.name}: {doc['kind']}/{doc['metadata']['name']}"


def config_map_data(render, name_prefix):
    found = [d for d in render.of("ConfigMap") if d["metadata"]["name"].startswith(name_prefix)]
    assert len(found) == 1, f"{render.name}: ConfigMap {name_prefix}* found {len(found)} times"
    return found[0]["data"]


# --- the real tools ---------------------------------------------------------------------------


def test_every_overlay_and_component_builds(renders):
    assert {f"overlay {o}" for o in OVERLAYS} <= set(renders)
    for render in renders.values():
        assert render.docs, f"{render.name} rendered nothing"


def test_builtin_kinds_match_the_kubernetes_1_33_api_strictly(renders, tmp_path):
    def validate(item):
        name, render = item
        result = run(
            [tool("kubernetes-validate"), "--strict", "-k", "1.33.0", "-"], input=render.text
        )
        errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
        return name, result.returncode, errors + result.stderr.splitlines()[-5:]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(validate, renders.items()))
    failed = [(name, errors) for name, code, errors in results if code != 0 or errors]
    assert not failed, "\n".join(f"{name}: {errors}" for name, errors in failed)


def test_custom_resources_match_their_crds(renders, tmp_path):
    unique = {}
    for render in renders.values():
        for doc in render.docs:
            if group(doc) not in BUILTIN_GROUPS:
                unique[json.dumps(doc, sort_keys=True)] = doc
    docs = list(unique.values())
    kinds = {d["kind"] for d in docs}
    expected = {
        "ServiceMonitor",
        "PrometheusRule",
        "VerticalPodAutoscaler",
        "PeerAuthentication",
        "DestinationRule",
        "VirtualService",
        "Gateway",
        "AuthorizationPolicy",
        "RequestAuthentication",
        "ScaledObject",
        "Application",
        "Schedule",
        "NodePool",
        "EC2NodeClass",
    }
    assert expected <= kinds, f"not rendered: {sorted(expected - kinds)}"

    by_schema = [d for d in docs if (d["apiVersion"], d["kind"]) in JSON_SCHEMAS]
    by_model = [d for d in docs if (d["apiVersion"], d["kind"]) not in JSON_SCHEMAS]
    objects = tmp_path / "objects.json"
    objects.write_text(json.dumps(by_model))
    node = shutil.which("node")
    assert node, "node is missing: run scripts/tools.sh"
    assert (ROOT / ".tools" / "crd-models" / "node_modules").is_dir(), (
        "the CRD models are missing: run scripts/tools.sh"
    )
    result = run([node, str(ROOT / "scripts" / "validate-crds.mjs"), str(objects)])
    assert result.returncode == 0, result.stdout + result.stderr

    for (api_version, kind), schema in JSON_SCHEMAS.items():
        files = []
        for i, doc in enumerate(d for d in by_schema if d["kind"] == kind):
            files.append(tmp_path / f"{kind}-{i}.json")
            files[-1].write_text(json.dumps(doc))
        assert files, f"no {kind} rendered"
        result = run(
            [tool("check-jsonschema"), "--schemafile", str(SCHEMAS / f"{schema}.json")]
            + [str(f) for f in files]
        )
        assert result.returncode == 0, f"{api_version} {kind}:\n{result.stdout}{result.stderr}"


def test_the_crd_checks_catch_mistakes(tmp_path):
    """The validators are not rubber stamps: an unknown field, a wrong type and an unknown kind
    are each reported."""
    wrong = [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": {"name": "x"},
            "spec": {"selector": {}, "endpoints": [{"port": "metrics", "intervall": "15s"}]},
        },
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "x"},
            "spec": {
                "scaleTargetRef": {"name": "x"},
                "triggers": [{"type": "cron", "metadata": {"desiredReplicas": 4}}],
            },
        },
        {"apiVersion": "example.com/v1", "kind": "Unknown", "metadata": {"name": "x"}},
    ]
    objects = tmp_path / "objects.json"
    objects.write_text(json.dumps(wrong))
    result = run(
        [shutil.which("node") or "node", str(ROOT / "scripts" / "validate-crds.mjs"), str(objects)]
    )
    assert result.returncode == 1
    assert "intervall" in result.stdout
    assert "must be string" in result.stdout
    assert "Unknown/x" in result.stdout
    vpa = {
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": {"name": "x"},
        "spec": {"targetRef": {"kind": "Deployment", "name": "x"}, "updatePolicy": {"mode": "Off"}},
    }
    (tmp_path / "vpa.json").write_text(json.dumps(vpa))
    schema = SCHEMAS / "verticalpodautoscaler.autoscaling.k8s.io.v1.json"
    result = run(
        [tool("check-jsonschema"), "--schemafile", str(schema), str(tmp_path / "vpa.json")]
    )
    assert result.returncode == 1


def test_checkov_passes_with_every_skip_justified(renders, tmp_path):
    for name, render in renders.items():
        (tmp_path / f"{re.sub(r'[^a-z0-9]+', '-', name)}.yaml").write_text(render.text)
    env = {**os.environ, "KUBECONFIG": "/nonexistent", "PATH": f"{TOOLS}:{os.environ['PATH']}"}
    result = subprocess.run(
        [
            tool("checkov"),
            *("-d", str(tmp_path), "--framework", "kubernetes"),
            *("--skip-download", "--compact", "--quiet"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout, result.stdout[-2000:]

    # every skip carries its reason in the manifest (checkov.io/skipN: CKV_K8S_N=why)
    skips = {
        (key, value)
        for render in renders.values()
        for doc in render.docs
        for key, value in (doc["metadata"].get("annotations") or {}).items()
        if key.startswith("checkov.io/skip")
    }
    assert skips
    for key, value in skips:
        assert re.fullmatch(r"CKV2?_K8S_\d+=\S.{30,}", value), f"{key}: no reason given: {value}"


# --- Pod Security "restricted", resources, probes -----------------------------------------------


def test_every_pod_is_restricted(renders):
    for render in app_renders(renders):
        for doc, template in pod_templates(render):
            spec = template["spec"]
            at = where(render, doc)
            assert spec["securityContext"] == {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            }, at
            if doc["metadata"]["name"] == "predict-scale":  # its own account, which may patch
                assert spec["serviceAccountName"] == "predict-scale", at  # the zone HPAs only
            else:
                assert spec.get("automountServiceAccountToken") is False, at
                assert spec.get("serviceAccountName") == "openmmo", at
            assert spec.get("enableServiceLinks") is False, at
            for key in ("hostNetwork", "hostPID", "hostIPC"):
                assert not spec.get(key), at
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            assert all("hostPath" not in v for v in volumes.values()), at
            for container in spec.get("initContainers", []) + spec["containers"]:
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, at
                assert context["readOnlyRootFilesystem"] is True, at
                assert context["runAsNonRoot"] is True, at
                assert context["capabilities"] == {"drop": ["ALL"]}, at
                assert not context.get("privileged"), at
                assert all("hostPort" not in p for p in container.get("ports", [])), at
                tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
                assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{at}: no emptyDir on /tmp"


def test_every_container_has_requests_and_limits(renders):
    for render in app_renders(renders):
        for doc, template in pod_templates(render):
            for container in template["spec"]["containers"]:
                resources = container["resources"]
                for part in ("requests", "limits"):
                    assert set(resources[part]) >= {"cpu", "memory"}, where(render, doc)


def test_long_running_containers_have_probes_on_the_health_endpoints(renders):
    for render in app_renders(renders):
        for doc, template in pod_templates(render):
            if doc["kind"] in ("Job", "CronJob"):
                continue
            for container in template["spec"]["containers"]:
                at = f"{where(render, doc)} {container['name']}"
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                port = int(env["HEALTH_PORT"])
                ports = {p["name"]: p["containerPort"] for p in container["ports"]}
                for probe, path in (
                    ("livenessProbe", "/health/live"),
                    ("readinessProbe", "/health/ready"),
                    ("startupProbe", "/health/live"),
                ):
                    check = container[probe]["httpGet"]
                    assert check["path"] == path, at
                    assert ports[check["port"]] == port, f"{at}: {probe} is not on HEALTH_PORT"


def test_zone_pods_drain_before_they_are_killed(renders):
    for render in app_renders(renders):
        for doc, template in pod_templates(render):
            if doc["metadata"]["labels"].get("app.kubernetes.io/component") != "zone":
                continue
            spec = template["spec"]
            config = config_map_data(render, "openmmo-config")
            pre_stop = spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
            drain = float(config["DRAIN_TIMEOUT_S"])
            assert spec["terminationGracePeriodSeconds"] == 45, where(render, doc)
            assert spec["terminationGracePeriodSeconds"] >= pre_stop + drain + 10
            assert pre_stop >= 5


def test_env_comes_from_the_config_map_the_secret_and_the_pod_name(renders):
    for render in app_renders(renders):
        config_maps = {d["metadata"]["name"] for d in render.of("ConfigMap")}
        secrets = {d["metadata"]["name"]: d for d in render.of("Secret")}
        for doc, template in pod_templates(render):
            if doc["metadata"]["name"].startswith("predict-scale"):
                continue  # it reads Prometheus and patches HPAs: no world settings, no secrets
            for container in template["spec"]["containers"]:
                at = where(render, doc)
                sources = container["envFrom"]
                config = [s["configMapRef"]["name"] for s in sources if "configMapRef" in s]
                secret = [s["secretRef"]["name"] for s in sources if "secretRef" in s]
                secret += [
                    e["valueFrom"]["secretKeyRef"]["name"]
                    for e in container.get("env", [])
                    if "secretKeyRef" in e.get("valueFrom", {})
                ]
                assert (
                    config and config[0].startswith("openmmo-config") and config[0] in config_maps
                ), at
                assert (
                    secret and secret[0].startswith("openmmo-secrets") and secret[0] in secrets
                ), at
                assert set(secrets[secret[0]]["data"]) == SECRET_KEYS, at
                if doc["kind"] == "Job":  # the migration gets the database URL and no more
                    assert "secretRef" not in str(sources), at
                    assert [e["name"] for e in container["env"]] == ["DATABASE_URL"], at
                defined = []
                for variable in container.get("env", []):
                    for reference in re.findall(r"\$\((\w+)\)", variable.get("value", "")):
                        assert reference in defined, f"{at}: $({reference}) before it is defined"
                    defined.append(variable["name"])
                if doc["kind"] == "Deployment":
                    server_name = next(e for e in container["env"] if e["name"] == "SERVER_NAME")
                    assert server_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_every_setting_named_in_the_manifests_is_a_documented_setting(renders):
    documented = set(
        re.findall(r"^\| `([A-Z0-9_]+)` \|", (ROOT / "docs/reference/config.md").read_text(), re.M)
    )
    assert "SERVER_PORT" in documented
    for render in app_renders(renders):
        names = set(config_map_data(render, "openmmo-config"))
        for secret in render.of("Secret"):
            if secret["metadata"]["name"].startswith("openmmo-secrets"):
                names |= set(secret["data"])
        for _, template in pod_templates(render):
            for container in template["spec"]["containers"]:
                names |= {e["name"] for e in container.get("env", [])}
        assert names - documented == set(), f"{render.name}: unknown settings"


def test_zones_get_their_zone_id_and_ports(renders):
    for render in app_renders(renders):
        for name, zone in (("zone-town", "1"), ("zone-wilds", "2")):
            deployment = render.get("Deployment", name)
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert env["WORLD_ZONE_ID"] == zone
            assert (env["SERVER_PORT"], env["HEALTH_PORT"], env["METRICS_PORT"]) == (
                "7000",
                "8081",
                "9090",
            )
            assert container["args"] == ["zone"]
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert labels["openmmo.io/zone"] == zone
            assert deployment["spec"]["selector"]["matchLabels"]["openmmo.io/zone"] == zone
            assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
            headless = render.get("Service", name)
            assert headless["spec"]["clusterIP"] == "None"
            public = render.get("Service", f"zone-public-{name.removeprefix('zone-')}")
            assert public["spec"]["type"] == "LoadBalancer"
            assert {p["targetPort"] for p in public["spec"]["ports"]} == {"game"}
        gateway = render.get("Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
        assert gateway["args"] == ["gateway"]
        env = {e["name"]: e.get("value") for e in gateway["env"]}
        assert env["SERVER_PORT"] == env["HEALTH_PORT"] == env["METRICS_PORT"] == "8080"


MATCHMAKERS = {"dev": (1, 1), "staging": (2, 2), "prod": (2, 4)}


def test_the_matchmaker_runs_in_every_world_with_its_ports(renders):
    for render in app_renders(renders):
        deployment = render.get("Deployment", "matchmaker")
        assert "replicas" not in deployment["spec"], "the HPA (or KEDA) owns the replica count"
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["matchmaker"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert (env["HEALTH_PORT"], env["METRICS_PORT"]) == ("8081", "9090")
        assert "SERVER_PORT" not in env, "operator endpoints only"
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
            "health": 8081,
            "metrics": 9090,
        }
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        service = render.get("Service", "matchmaker")
        assert service["spec"]["clusterIP"] == "None"
        assert [p["name"] for p in service["spec"]["ports"]] == ["metrics"]
        assert service["spec"]["selector"].items() <= labels.items()
        budget = render.get("PodDisruptionBudget", "matchmaker")
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for overlay, (low, high) in MATCHMAKERS.items():
        hpa = renders[f"overlay {overlay}"].get("HorizontalPodAutoscaler", "matchmaker")["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (low, high), overlay


def test_services_and_budgets_select_pods_and_ports_that_exist(renders):
    for render in app_renders(renders):
        pods = [
            (t["metadata"]["labels"], t["spec"]["containers"]) for _, t in pod_templates(render)
        ]

        def matching(selector, pods=pods):
            return [c for labels, c in pods if selector.items() <= labels.items()]

        for service in render.of("Service"):
            found = matching(service["spec"]["selector"])
            assert found, f"{where(render, service)} selects no pod"
            names = {p["name"] for containers in found for c in containers for p in c["ports"]}
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in names, where(render, service)
        for budget in render.of("PodDisruptionBudget"):
            assert matching(budget["spec"]["selector"]["matchLabels"]), where(render, budget)


# --- network policy ------------------------------------------------------------------------------


def test_network_policies_deny_by_default_and_allow_the_listed_paths(renders):
    for render in app_renders(renders):
        policies = {p["metadata"]["name"]: p["spec"] for p in render.of("NetworkPolicy")}
        assert policies["default-deny-all"] == {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
        }, render.name
        dns = policies["allow-dns-egress"]["egress"][0]
        assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "kube-system"
        }
        assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
        backends = policies["allow-backends-egress"]["egress"][0]["ports"]
        assert {p["port"] for p in backends} == {5432, 6379, 5672}
        gateway = policies["gateway-ingress"]["ingress"]
        assert {
            r["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for r in gateway
        } == {
            "ingress-nginx",
            "monitoring",
        }
        zone = policies["zone-ingress"]["ingress"]
        anywhere = [r for r in zone if "from" not in r]
        assert [p["port"] for r in anywhere for p in r["ports"]] == [7000]
        monitoring = next(r for r in zone if "from" in r)
        assert {p["port"] for p in monitoring["ports"]} == {8081, 9090}
        # the matchmaker only calls out: Prometheus on the metrics port is all that gets in
        matchmaker = policies["matchmaker-ingress"]
        assert matchmaker["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == (
            "matchmaker"
        )
        (scrape,) = matchmaker["ingress"]
        assert [p["port"] for p in scrape["ports"]] == [9090]
        assert scrape["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ]


# --- autoscaling ---------------------------------------------------------------------------------

SCALE_UP = {
    "selectPolicy": "Max",
    "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 60},
        {"type": "Pods", "value": 4, "periodSeconds": 60},
    ],
}
SCALE_DOWN = {
    "stabilizationWindowSeconds": 300,
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
}


def test_autoscalers_target_workloads_that_exist(renders):
    for render in app_renders(renders):
        deployments = {d["metadata"]["name"]: d for d in render.of("Deployment")}
        hpas = {
            h["spec"]["scaleTargetRef"]["name"]: h for h in render.of("HorizontalPodAutoscaler")
        }
        scaled = {s["spec"]["scaleTargetRef"]["name"] for s in render.of("ScaledObject")}
        assert not set(hpas) & scaled, f"{render.name}: a Deployment with an HPA and a ScaledObject"
        assert "gateway" in hpas, render.name
        assert {"zone-town", "zone-wilds", "matchmaker"} <= set(hpas) | scaled, render.name
        for target, hpa in hpas.items():
            at = where(render, hpa)
            assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
            assert target in deployments, f"{at} targets a missing Deployment"
            assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], at
            requests = deployments[target]["spec"]["template"]["spec"]["containers"][0]["resources"]
            for metric in hpa["spec"]["metrics"]:
                if metric["type"] == "Resource":
                    assert metric["resource"]["name"] in requests["requests"], at
            behavior = hpa["spec"]["behavior"]
            assert behavior["scaleUp"]["stabilizationWindowSeconds"] in (0, 60), at
            assert {
                k: v for k, v in behavior["scaleUp"].items() if k != "stabilizationWindowSeconds"
            } == SCALE_UP
            assert behavior["scaleDown"] == SCALE_DOWN, at
            kinds = {m["type"] for m in hpa["spec"]["metrics"]}
            assert {"Resource"} <= kinds
        for vpa in render.of("VerticalPodAutoscaler"):
            assert vpa["spec"]["targetRef"]["name"] in deployments
            assert vpa["spec"]["updatePolicy"]["updateMode"] == "Off"
        for scaled_object in render.of("ScaledObject"):
            assert scaled_object["spec"]["scaleTargetRef"]["name"] in deployments


def test_players_per_pod_reach_the_zone_autoscalers_through_the_adapter(renders):
    for name in ("overlay prod", "base+prometheus-adapter"):
        render = renders[name]
        adapter = render.get("ConfigMap", "openmmo-prometheus-adapter")
        assert adapter["metadata"]["namespace"] == "monitoring"
        rules = yaml.safe_load(adapter["data"]["config.yaml"])["rules"]
        served = {r["name"]["as"] for r in rules}
        for zone in ("zone-town", "zone-wilds"):
            hpa = render.get("HorizontalPodAutoscaler", zone)
            pods = [m["pods"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
            assert pods == [
                {
                    "metric": {"name": "openmmo_players_online"},
                    "target": {"type": "AverageValue", "averageValue": "800"},
                }
            ]
            assert pods[0]["metric"]["name"] in served
        # the matchmaker: the queue length (every mode) as an External metric
        served = {
            r["name"]["as"] for r in yaml.safe_load(adapter["data"]["config.yaml"])["externalRules"]
        }
        hpa = render.get("HorizontalPodAutoscaler", "matchmaker")
        external = [m["external"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
        assert external == [
            {
                "metric": {"name": "openmmo_matchmaking_queue_length"},
                "target": {"type": "AverageValue", "averageValue": "100"},
            }
        ]
        assert external[0]["metric"]["name"] in served
    for name in ("overlay dev", "overlay staging"):  # no adapter: no metric that cannot be read
        for workload in ("zone-town", "zone-wilds", "matchmaker"):
            metrics = renders[name].get("HorizontalPodAutoscaler", workload)["spec"]["metrics"]
            assert {m["type"] for m in metrics} == {"Resource"}


def test_keda_replaces_the_zone_and_matchmaker_autoscalers(renders, tmp_path):
    render = renders["base+keda"]
    assert {h["metadata"]["name"] for h in render.of("HorizontalPodAutoscaler")} == {"gateway"}
    scaled = {s["metadata"]["name"]: s["spec"] for s in render.of("ScaledObject")}
    assert set(scaled) == {"zone-town", "zone-wilds", "matchmaker"}
    for spec in scaled.values():
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"] == SCALE_DOWN
    for zone in ("zone-town", "zone-wilds"):
        triggers = {t["type"] for t in scaled[zone]["triggers"]}
        assert triggers == {"prometheus", "cron", "cpu", "memory"}, (
            "the queues are not a zone signal"
        )
    # the matchmaker: one listLength trigger per mode on the real list, <NAMESPACE>:mm:q:<mode>
    namespace = config_map_data(render, "openmmo-config")["NAMESPACE"]
    redis = [t for t in scaled["matchmaker"]["triggers"] if t["type"] == "redis"]
    assert [t["metadata"]["listName"] for t in redis] == [
        f"{namespace}:mm:q:dungeon",
        f"{namespace}:mm:q:duel",
    ]
    assert {t["type"] for t in scaled["matchmaker"]["triggers"]} == {"redis", "cpu"}
    assert render.get("Deployment", "matchmaker")
    # an overlay's own NAMESPACE reaches the list names (the component's replacement runs after
    # the overlay merged its value into openmmo-config)
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(KUSTOMIZE / "base", overlay)],
                "components": [os.path.relpath(KUSTOMIZE / "components" / "keda", overlay)],
                "configMapGenerator": [
                    {
                        "name": "openmmo-config",
                        "behavior": "merge",
                        "literals": ["NAMESPACE=openmmo-eu1"],
                    }
                ],
            }
        )
    )
    merged = Render("overlay+keda", build(overlay))
    lists = [
        t["metadata"]["listName"]
        for t in merged.get("ScaledObject", "matchmaker")["spec"]["triggers"]
        if t["type"] == "redis"
    ]
    assert lists == ["openmmo-eu1:mm:q:dungeon", "openmmo-eu1:mm:q:duel"]


# --- overlays --------------------------------------------------------------------------------


def test_overlays_set_namespace_image_and_environment(renders):
    for overlay in OVERLAYS:
        render = renders[f"overlay {overlay}"]
        namespace = NAMESPACES[overlay]
        assert (
            render.get("Namespace", namespace)["metadata"]["labels"][
                "pod-security.kubernetes.io/enforce"
            ]
            == "restricted"
        )
        for doc in render.docs:
            if doc["kind"] == "Namespace":
                continue
            expected = (
                "monitoring"
                if doc["metadata"]["name"] == "openmmo-prometheus-adapter"
                else namespace
            )
            assert doc["metadata"].get("namespace") == expected, where(render, doc)
        for _, template in pod_templates(render):
            for container in template["spec"]["containers"]:
                image = container["image"]
                assert re.fullmatch(r"[a-z0-9./-]+/openmmo:\d+\.\d+\.\d+", image), image
        assert config_map_data(render, "openmmo-config")["NAMESPACE"] == namespace
        urls = {
            zone: next(
                e["value"]
                for e in render.get("Deployment", zone)["spec"]["template"]["spec"]["containers"][
                    0
                ]["env"]
                if e["name"] == "PUBLIC_WS_URL"
            )
            for zone in ("zone-town", "zone-wilds")
        }
        assert len(set(urls.values())) == 2 and all(u.endswith("/ws") for u in urls.values())
        ingress = render.get("Ingress", "gateway")["spec"]
        assert ingress["ingressClassName"] == "nginx"
        assert ingress["rules"][0]["host"] == ingress["tls"][0]["hosts"][0]
        paths = {p["path"] for p in ingress["rules"][0]["http"]["paths"]}
        assert {"/auth", "/api", "/play", "/static"} <= paths  # the API and the browser client
        assert not paths & {"/metrics", "/health", "/console"}, "inside the cluster only"
        secret = [
            s for s in render.of("Secret") if s["metadata"]["name"].startswith("openmmo-secrets")
        ]
        assert len(secret) == 1 and set(secret[0]["data"]) == SECRET_KEYS
        placeholder = (KUSTOMIZE / "overlays" / overlay / "secrets.env").read_text()
        assert "sealed-secrets" in placeholder and "external-secrets" in placeholder
        assert "CHANGE-ME" in placeholder


def test_overlays_enable_their_components(renders):
    kinds = {o: {d["kind"] for d in renders[f"overlay {o}"].docs} for o in OVERLAYS}
    monitoring = {"ServiceMonitor", "PrometheusRule"}
    assert not monitoring & kinds["dev"]
    assert monitoring <= kinds["staging"] and "VerticalPodAutoscaler" not in kinds["staging"]
    assert monitoring | {"VerticalPodAutoscaler", "CronJob"} <= kinds["prod"]
    prod = renders["overlay prod"]
    dashboards = prod.get("ConfigMap", "openmmo-dashboards")
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert {k for k in dashboards["data"] if k.endswith(".json")}


def test_predict_scale_may_patch_exactly_the_zone_hpas_it_plans_for(renders):
    for name in ("overlay prod", "base+predictive-scaling"):
        render = renders[name]
        job = render.get("CronJob", "predict-scale")
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["command"] == ["openmmo", "predict-scale", "--patch"]
        assert "envFrom" not in container and "secretKeyRef" not in str(container)
        env = {e["name"]: e.get("value") for e in container["env"]}
        zones = json.loads(env["PREDICTION_ZONES"])
        hpas = {h["metadata"]["name"]: h["spec"] for h in render.of("HorizontalPodAutoscaler")}
        for zone in zones:  # the bounds it clamps to are the HPAs' own
            spec = hpas[zone["hpa"]]
            assert (zone["min_replicas"], zone["max_replicas"]) == (
                spec["minReplicas"],
                spec["maxReplicas"],
            ), f"{name}: {zone}"
        assert {z["zone"] for z in zones} == {"town", "wilds"}
        role = render.get("Role", "predict-scale")
        assert role["rules"] == [
            {
                "apiGroups": ["autoscaling"],
                "resources": ["horizontalpodautoscalers"],
                "resourceNames": [z["hpa"] for z in zones],
                "verbs": ["patch"],
            }
        ]
        binding = render.get("RoleBinding", "predict-scale")
        assert binding["subjects"][0]["name"] == pod["serviceAccountName"] == "predict-scale"


def test_prod_zones_run_on_the_game_server_nodes(renders):
    nodepool = renders["only karpenter"].get("NodePool", "game-servers")["spec"]["template"]
    labels = nodepool["metadata"]["labels"]
    taints = nodepool["spec"]["taints"]
    assert labels["workload-type"] == "game-server"
    assert taints == [{"key": "game-server", "value": "true", "effect": "NoSchedule"}]
    for zone in ("zone-town", "zone-wilds"):
        spec = renders["overlay prod"].get("Deployment", zone)["spec"]["template"]["spec"]
        assert spec["nodeSelector"] == {"workload-type": "game-server"}
        assert spec["tolerations"] == [{"operator": "Equal", **taints[0]}]
        anti = spec["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    for overlay in ("dev", "staging"):
        spec = renders[f"overlay {overlay}"].get("Deployment", "zone-town")["spec"]["template"][
            "spec"
        ]
        assert "tolerations" not in spec and "nodeSelector" not in spec
    # the matchmaker spreads like the gateway and stays off the game-server nodes
    for name in ("gateway", "matchmaker"):
        spec = renders["overlay prod"].get("Deployment", name)["spec"]["template"]["spec"]
        assert "tolerations" not in spec and "nodeSelector" not in spec, name
        (term,) = spec["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
        assert (
            term["podAffinityTerm"]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"]
            == name
        )


# --- components ------------------------------------------------------------------------------


def test_monitoring_scrapes_the_gateway_and_zone_ports(renders):
    render = renders["base+monitoring"]
    monitor = render.get("ServiceMonitor", "openmmo")["spec"]
    ports = {e["port"] for e in monitor["endpoints"]}
    assert ports == {"http", "metrics"}
    scraped = [
        s
        for s in render.of("Service")
        if monitor["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
        and "openmmo.io/exposure" not in s["metadata"]["labels"]
    ]
    assert {s["metadata"]["name"] for s in scraped} == {
        "gateway",
        "zone-town",
        "zone-wilds",
        "matchmaker",
    }
    for service in scraped:
        assert ports & {p["name"] for p in service["spec"]["ports"]}


def test_istio_canary_split_and_mesh_security(renders):
    render = renders["base+istio"]
    assert render.get("PeerAuthentication", "default")["spec"]["mtls"]["mode"] == "STRICT"
    rule = render.get("DestinationRule", "gateway")["spec"]
    assert rule["trafficPolicy"]["loadBalancer"]["simple"] == "LEAST_CONN"
    assert rule["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] > 0
    tracks = {
        d["spec"]["template"]["metadata"]["labels"].get("openmmo.io/track")
        for d in render.of("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"
    }
    assert (
        {s["labels"]["openmmo.io/track"] for s in rule["subsets"]} == tracks == {"stable", "canary"}
    )
    routes = render.get("VirtualService", "gateway")["spec"]["http"]
    assert routes[0]["match"][0]["headers"]
    assert [r["weight"] for r in routes[1]["route"]] == [90, 10]
    jwks = json.loads(
        render.get("RequestAuthentication", "gateway-jwt")["spec"]["jwtRules"][0]["jwks"]
    )
    assert jwks["keys"][0]["kty"] == "oct" and jwks["keys"][0]["alg"] == "HS256"
    for deployment in render.of("Deployment"):
        assert (
            deployment["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"]
            == "true"
        )
    assert render.get("AuthorizationPolicy", "gateway")["spec"]["action"] == "ALLOW"
    assert render.get("Gateway", "openmmo")
    # the matchmaker: GET /metrics on 9090 only, which an out-of-mesh Prometheus scrapes in
    # plain text
    (rule,) = render.get("AuthorizationPolicy", "matchmaker")["spec"]["rules"]
    assert rule["to"] == [
        {"operation": {"ports": ["9090"], "methods": ["GET"], "paths": ["/metrics"]}}
    ]
    peer = render.get("PeerAuthentication", "matchmaker")["spec"]
    assert peer["selector"]["matchLabels"]["app.kubernetes.io/component"] == "matchmaker"
    assert peer["portLevelMtls"] == {"9090": {"mode": "PERMISSIVE"}}


def test_cluster_level_components_stand_alone(renders):
    workflow = (ROOT / ".github" / "workflows" / "ci.yaml").read_text()
    for application in renders["only argocd"].of("Application"):
        assert application["metadata"]["namespace"] == "argocd"
        assert application["metadata"]["name"] in workflow, "CI deploys through this app"
        path = application["spec"]["source"]["path"]
        overlay = Path(path).name
        assert (ROOT / path / "kustomization.yaml").exists(), path
        assert application["spec"]["destination"]["namespace"] == NAMESPACES[overlay]
    schedule = renders["only velero"].get("Schedule", "openmmo-prod-daily")
    assert schedule["metadata"]["namespace"] == "velero"
    assert schedule["spec"]["template"]["includedNamespaces"] == [NAMESPACES["prod"]]
    for doc in renders["only karpenter"].docs:
        assert "namespace" not in doc["metadata"], "NodePool and EC2NodeClass are cluster-scoped"


def test_log_shipping_runs_on_every_node_from_its_own_privileged_namespace(renders):
    """The agent mounts the node's /var/log, which the worlds' "restricted" namespaces refuse:
    it lives in openmmo-logging ("privileged"), may only read pods and namespaces, and
    tolerates the game-server taint, so the zones' nodes ship their logs too."""
    render = renders["only log-shipping"]
    namespace = render.get("Namespace", "openmmo-logging")["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "privileged"
    for doc in render.docs:
        if doc["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == "openmmo-logging", doc["kind"]
    (rule,) = render.get("ClusterRole", "openmmo-log-shipping")["rules"]
    assert rule == {
        "apiGroups": [""],
        "resources": ["pods", "namespaces"],
        "verbs": ["get", "list", "watch"],
    }
    (subject,) = render.get("ClusterRoleBinding", "openmmo-log-shipping")["subjects"]
    daemonset = render.get("DaemonSet", "log-shipping")
    spec = daemonset["spec"]["template"]["spec"]
    assert subject == {
        "kind": "ServiceAccount",
        "name": spec["serviceAccountName"],
        "namespace": "openmmo-logging",
    }
    (container,) = spec["containers"]
    context = container["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"]} and context["readOnlyRootFilesystem"]
    assert context["allowPrivilegeEscalation"] is False and not context.get("privileged")
    assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["varlog"] == {"name": "varlog", "mountPath": "/var/log", "readOnly": True}
    taints = renders["only karpenter"].get("NodePool", "game-servers")["spec"]["template"]["spec"][
        "taints"
    ]
    for taint in taints:
        assert {**taint, "operator": "Equal"} in spec["tolerations"], taint
    # the generated ConfigMaps (name hashes) are the ones mounted and read
    config = next(v for v in spec["volumes"] if v["name"] == "config")["configMap"]["name"]
    assert set(render.get("ConfigMap", config)["data"]) == {"fluent-bit.yaml", "output.yaml"}
    destination = container["envFrom"][0]["configMapRef"]["name"]
    port = render.get("ConfigMap", destination)["data"]["LOKI_PORT"]
    egress = render.get("NetworkPolicy", "log-shipping")["spec"]["egress"]
    assert int(port) in {p["port"] for rule in egress for p in rule["ports"]}


def test_one_region_of_several_probes_the_others_and_claims_the_global_name(tmp_path):
    docs = [d for d in yaml.safe_load_all(build(with_base(tmp_path, "multi-region"))) if d]
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["external-dns.alpha.kubernetes.io/set-identifier"] == "eu-west-1"
    assert annotations["external-dns.alpha.kubernetes.io/aws-region"] == "eu-west-1"
    regional, global_ = ingress["spec"]["rules"]
    assert global_["host"] == "play.openmmo.example"
    assert global_["http"] == regional["http"], "the same routes (no /metrics, no /health)"
    assert "play.openmmo.example" in ingress["spec"]["tls"][0]["hosts"]
    policy = next(d for d in docs if d["metadata"]["name"] == "gateway-regions-egress")
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
    assert policy["spec"]["egress"] == [{"ports": [{"protocol": "TCP", "port": 443}]}]
    # an overlay that forgets its REGION does not build (the records would collide)
    bare = tmp_path / "bare"
    bare.mkdir()
    to = Path(os.path.relpath(KUSTOMIZE, bare))
    (bare / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [str(to / "base")],
                "components": [str(to / "components" / "multi-region")],
            }
        )
    )
    result = run([tool("kubectl"), "kustomize", str(bare)])
    assert result.returncode != 0 and "REGION" in result.stderr, result.stderr
