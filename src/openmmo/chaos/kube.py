"""Chaos against a Kubernetes cluster: the same players and checks as the local scenarios,
the faults through the Kubernetes API (``kubectl``, with the caller's kubeconfig and
context) — delete a zone pod at once (a crash), restart the zone Deployments (a rollout),
cordon a zone pod's node and evict the pod (a node taken away).

The zone pods' channel ids are their pod names (the chart sets SERVER_NAME from
metadata.name), which is how a player's channel is matched to the pod that held it.
``--dry-run`` prints what would be done and sends nothing, to a cluster or to a game.
"""

from __future__ import annotations

import asyncio
import json
import math
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field

from openmmo.chaos.crowd import Crowd, Timeline
from openmmo.chaos.scenarios import Options, Result, judge_crash

ZONE_SELECTOR = "app.kubernetes.io/name=openmmo,app.kubernetes.io/component=zone"


class KubeError(Exception):
    """kubectl is missing, the cluster cannot be reached, or it refused a request."""


@dataclass
class Kube:
    namespace: str
    context: str | None = None
    selector: str = ZONE_SELECTOR
    dry_run: bool = False
    kubectl: str = "kubectl"
    planned: list[str] = field(default_factory=list)  # what a dry run would have run

    def _command(self, args: list[str]) -> list[str]:
        context = ["--context", self.context] if self.context else []
        return [self.kubectl, *context, "--namespace", self.namespace, *args]

    def run(self, *args: str, mutating: bool = True) -> str:
        """Run kubectl; a dry run records a mutating command instead of running it."""
        command = self._command(list(args))
        if self.dry_run and mutating:
            self.planned.append(shlex.join(command))
            return ""
        if shutil.which(self.kubectl) is None:
            raise KubeError(f"{self.kubectl} is not installed (or not on PATH)")
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired as exc:
            raise KubeError(f"{shlex.join(command)}: no answer in 120 s") from exc
        if done.returncode != 0:
            lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            raise KubeError(f"{shlex.join(command)}: {lines[-1] if lines else 'failed'}")
        return done.stdout

    def zone_pods(self) -> list[dict[str, str]]:
        """Running zone pods: name, node and owning Deployment (oldest first)."""
        if self.dry_run and shutil.which(self.kubectl) is None:
            return [{"name": "<a zone pod>", "node": "<its node>", "deployment": "<zone>"}]
        try:
            listed = json.loads(
                self.run("get", "pods", "-l", self.selector, "-o", "json", mutating=False)
            )
        except KubeError:
            if self.dry_run:  # no cluster to look at: show the plan with placeholders
                return [{"name": "<a zone pod>", "node": "<its node>", "deployment": "<zone>"}]
            raise
        pods = []
        for item in sorted(listed["items"], key=lambda i: i["metadata"]["creationTimestamp"]):
            if item["status"].get("phase") != "Running":
                continue
            owners = item["metadata"].get("ownerReferences", [])
            replica_set = next((o["name"] for o in owners if o["kind"] == "ReplicaSet"), "")
            pods.append(
                {
                    "name": item["metadata"]["name"],
                    "node": item["spec"].get("nodeName", ""),
                    # a Deployment's ReplicaSet is named <deployment>-<template hash>
                    "deployment": replica_set.rsplit("-", 1)[0] if replica_set else "",
                }
            )
        if not pods:
            raise KubeError(f"no running pod matches {self.selector} in {self.namespace}")
        return pods

    def delete_pod(self, name: str, grace_s: int = 0) -> None:
        args = ["delete", "pod", name, "--wait=false", f"--grace-period={grace_s}"]
        self.run(*args, *(["--force"] if grace_s == 0 else []))

    def restart_zones(self) -> None:
        self.run("rollout", "restart", "deployment", "-l", self.selector)

    def wait_rollout(self, deployment: str, timeout_s: int = 600) -> None:
        self.run("rollout", "status", f"deployment/{deployment}", f"--timeout={timeout_s}s")

    def cordon(self, node: str) -> None:
        self.run("cordon", node)

    def uncordon(self, node: str) -> None:
        self.run("uncordon", node)


def plan(kube: Kube, scenario: str) -> list[str]:
    """The kubectl commands ``scenario`` would run (a dry run: nothing is sent)."""
    kube.dry_run = True
    pod = kube.zone_pods()[0]
    if scenario == "kill-zone":
        kube.delete_pod(pod["name"])
    elif scenario == "rolling-restart":
        kube.restart_zones()
        kube.wait_rollout(pod["deployment"] or "<zone deployment>")
    elif scenario == "cordon-zone-node":
        kube.cordon(pod["node"])
        kube.delete_pod(pod["name"], grace_s=30)
        kube.uncordon(pod["node"])
    else:
        raise KubeError(f"scenario {scenario!r} has no Kubernetes version: {', '.join(KUBE)}")
    return kube.planned


async def kill_zone(kube: Kube, crowd: Crowd, timeline: Timeline, opts: Options) -> Result:
    """Delete the oldest zone pod with no grace period: its process is killed, as a crash."""
    pod = (await asyncio.to_thread(kube.zone_pods))[0]
    return await _crash(kube, crowd, timeline, "kill-zone", pod["name"], None)


async def cordon_zone_node(kube: Kube, crowd: Crowd, timeline: Timeline, opts: Options) -> Result:
    """Cordon the node of the oldest zone pod and delete the pod with its grace period: it
    drains (its players are moved) and is rescheduled elsewhere; then uncordon."""
    pod = (await asyncio.to_thread(kube.zone_pods))[0]
    return await _crash(kube, crowd, timeline, "cordon-zone-node", pod["name"], pod["node"])


async def _crash(
    kube: Kube, crowd: Crowd, timeline: Timeline, name: str, pod: str, node: str | None
) -> Result:
    result = Result(f"kube-{name}")
    await asyncio.sleep(2.5)
    crowd.remember()
    victims = [p for p in crowd.players if p.channel == pod]
    killed_at = time.time()
    if node is None:
        timeline.mark(f"delete pod {pod} (no grace)")
        await asyncio.to_thread(kube.delete_pod, pod)
    else:
        timeline.mark(f"cordon {node}, evict {pod}")
        await asyncio.to_thread(kube.cordon, node)
        await asyncio.to_thread(kube.delete_pod, pod, 30)
    try:
        await crowd.wait_back(victims, timeout_s=60)
    finally:
        if node is not None:
            await asyncio.to_thread(kube.uncordon, node)
    timeline.mark("victims back")
    judge_crash(result, crowd, victims, pod, killed_at, crashed=node is None)
    return result


async def rolling_restart(kube: Kube, crowd: Crowd, timeline: Timeline, opts: Options) -> Result:
    """``kubectl rollout restart`` of the zone Deployments, waiting for each to finish."""
    result = Result("kube-rolling-restart")
    pods = await asyncio.to_thread(kube.zone_pods)
    await asyncio.sleep(1.5)
    crowd.remember()
    timeline.mark("rollout restart")
    await asyncio.to_thread(kube.restart_zones)
    for deployment in sorted({p["deployment"] for p in pods if p["deployment"]}):
        await asyncio.to_thread(kube.wait_rollout, deployment)
    timeline.mark("rolled out")
    await crowd.wait_playing(timeout_s=60)
    codes = [code for p in crowd.players for code in p.client.drops]
    back = [s for p in crowd.players for s in p.client.out_of_play_s]
    lost = [p.lost_movement_s() for p in crowd.players]
    result.back_in_play_s = back
    result.figures.update(
        players=len(crowd.players),
        moved_by_transfer=codes.count(4007),
        told_to_reconnect=codes.count(1012),
        other_closes=[c for c in codes if c not in (4007, 1012)],
        gave_up=[p.client.stopped for p in crowd.players if p.client.stopped],
        lost_movement_max_s=max(lost, default=math.nan),
    )
    result.check(
        "everyone in play at the end", crowd.playing(), crowd.playing() == len(crowd.players)
    )
    result.check("nobody gave up", result.figures["gave_up"], not result.figures["gave_up"])
    result.check(
        "players moved, not dropped",
        result.figures["told_to_reconnect"],
        not result.figures["other_closes"] and 1012 not in codes,
    )
    return result


KUBE = {
    "kill-zone": kill_zone,
    "rolling-restart": rolling_restart,
    "cordon-zone-node": cordon_zone_node,
}
