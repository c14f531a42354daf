"""`openmmo chaos --kube`: what it asks of the cluster, against a stand-in kubectl that
records its arguments (no cluster is reachable from here), and its dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from openmmo.chaos.kube import Kube, KubeError, plan

PODS = {
    "items": [
        {
            "metadata": {
                "name": name,
                "creationTimestamp": created,
                "ownerReferences": [{"kind": "ReplicaSet", "name": "openmmo-zone-town-5d9f8"}],
            },
            "spec": {"nodeName": node},
            "status": {"phase": phase},
        }
        for name, created, node, phase in [
            ("openmmo-zone-town-5d9f8-bbbbb", "2026-12-03T10:00:02Z", "node-b", "Running"),
            ("openmmo-zone-town-5d9f8-aaaaa", "2026-12-03T10:00:01Z", "node-a", "Running"),
            ("openmmo-zone-town-5d9f8-ccccc", "2026-12-03T10:00:00Z", "node-c", "Pending"),
        ]
    ]
}


@pytest.fixture
def kubectl(tmp_path):
    """A kubectl that logs each call and answers `get pods` with PODS."""
    log = tmp_path / "calls.jsonl"
    script = tmp_path / "kubectl"
    script.write_text(
        f"""#!{sys.executable}
import json, sys
with open({str(log)!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if "get" in sys.argv and "pods" in sys.argv:
    print(json.dumps({PODS!r}))
elif "fail-me" in sys.argv:
    sys.stderr.write("Error from server (Forbidden): pods is forbidden\\n")
    sys.exit(1)
"""
    )
    script.chmod(0o755)

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return str(script), calls


def test_it_finds_running_zone_pods_oldest_first_with_node_and_deployment(kubectl):
    path, calls = kubectl
    pods = Kube("games", context="prod", kubectl=path).zone_pods()
    assert [p["name"] for p in pods] == [
        "openmmo-zone-town-5d9f8-aaaaa",
        "openmmo-zone-town-5d9f8-bbbbb",
    ]
    assert pods[0] == {
        "name": "openmmo-zone-town-5d9f8-aaaaa",
        "node": "node-a",
        "deployment": "openmmo-zone-town",
    }
    (call,) = calls()
    assert call[:4] == ["--context", "prod", "--namespace", "games"]
    assert "app.kubernetes.io/component=zone" in call[call.index("-l") + 1]


def test_a_crash_deletes_the_pod_at_once_and_a_node_loss_cordons_evicts_and_uncordons(kubectl):
    path, calls = kubectl
    kube = Kube("games", kubectl=path)
    kube.delete_pod("openmmo-zone-town-5d9f8-aaaaa")
    kube.cordon("node-a")
    kube.delete_pod("openmmo-zone-town-5d9f8-aaaaa", grace_s=30)
    kube.uncordon("node-a")
    kube.restart_zones()
    made = [c[2:] for c in calls()]
    assert made[0] == [
        "delete", "pod", "openmmo-zone-town-5d9f8-aaaaa", "--wait=false", "--grace-period=0",
        "--force",
    ]  # fmt: skip
    assert made[1] == ["cordon", "node-a"]
    assert made[2][-1] == "--grace-period=30"  # drains: its players are moved
    assert made[3] == ["uncordon", "node-a"]
    assert made[4][:3] == ["rollout", "restart", "deployment"]


def test_a_dry_run_sends_nothing_but_reads_the_pods(kubectl):
    path, calls = kubectl
    planned = plan(Kube("games", kubectl=path), "cordon-zone-node")
    assert planned == [
        f"{path} --namespace games cordon node-a",
        f"{path} --namespace games delete pod openmmo-zone-town-5d9f8-aaaaa --wait=false "
        "--grace-period=30",
        f"{path} --namespace games uncordon node-a",
    ]
    assert [c[2] for c in calls()] == ["get"]  # nothing mutating ran


def test_refusals_and_a_missing_kubectl_are_clear_errors(kubectl, tmp_path):
    path, _ = kubectl
    with pytest.raises(KubeError, match="Forbidden"):
        Kube("games", kubectl=path).run("fail-me")
    with pytest.raises(KubeError, match="not installed"):
        Kube("games", kubectl=str(tmp_path / "nowhere")).run("get", "pods")
    with pytest.raises(KubeError, match="no Kubernetes version"):
        plan(Kube("games", kubectl=path), "redis-down")


def test_the_cli_dry_run_needs_no_cluster_and_a_real_run_needs_one(tmp_path):
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "none")}
    cli = [sys.executable, "-m", "openmmo", "chaos"]
    dry = subprocess.run(
        [*cli, "kill-zone", "--kube", "--namespace", "games", "--dry-run"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "delete pod" in dry.stdout and "--grace-period=0" in dry.stdout
    real = subprocess.run(
        [*cli, "kill-zone", "--kube", "--gateway", "http://127.0.0.1:9"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert real.returncode == 2  # the cluster does not answer: nothing else is tried
    assert "error:" in real.stderr
