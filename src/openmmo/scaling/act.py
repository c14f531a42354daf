"""What ``openmmo predict-scale`` does with its plan, besides printing it.

* :func:`push`: the recommendation as metrics (``openmmo_predicted_channels{zone}`` and
  ``openmmo_predicted_players{zone}``) pushed to a Prometheus Pushgateway, which Prometheus
  scrapes; KEDA's Prometheus trigger or prometheus-adapter (for the HPA) reads them there.
* :func:`patch_min_replicas`: the zone HPA's ``spec.minReplicas`` set to the recommendation
  through the Kubernetes API (the official client). The ServiceAccount needs ``patch`` on
  those HPAs and nothing else (no ``get``: the bounds come from the plan's configuration).
"""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from openmmo.scaling.plan import Recommendation

PUSH_JOB = "openmmo-predict-scale"


class ActError(Exception):
    """The action was refused or could not be carried out; the message says why."""


def push(gateway: str, recommendations: list[Recommendation], horizon_min: float) -> None:
    registry = CollectorRegistry()
    channels = Gauge(
        "openmmo_predicted_channels",
        "Channels the forecast peak of the next PREDICTION_HORIZON_MINUTES needs (clamped).",
        ["zone"],
        registry=registry,
    )
    players = Gauge(
        "openmmo_predicted_players",
        "Forecast peak of players in the next PREDICTION_HORIZON_MINUTES.",
        ["zone"],
        registry=registry,
    )
    horizon = Gauge(
        "openmmo_prediction_horizon_seconds", "How far ahead the forecast looks.", registry=registry
    )
    stamp = Gauge(
        "openmmo_prediction_timestamp_seconds",
        "When the last recommendation was made (Unix time).",
        registry=registry,
    )
    for r in recommendations:
        if r.channels is not None and r.forecast_peak is not None:
            channels.labels(zone=r.zone).set(r.channels)
            players.labels(zone=r.zone).set(r.forecast_peak)
    horizon.set(horizon_min * 60)
    stamp.set_to_current_time()
    try:
        # PUT replaces the group: a zone without a recommendation this round loses its
        # old one instead of keeping a stale number.
        push_to_gateway(gateway, job=PUSH_JOB, registry=registry, timeout=10)
    except OSError as exc:  # URLError, HTTPError, connection refused
        raise ActError(f"the Pushgateway at {gateway} refused the push: {exc}") from None


def min_replicas_patch(channels: int) -> dict[str, Any]:
    return {"spec": {"minReplicas": channels}}


def patch_min_replicas(namespace: str, hpa: str, channels: int, api: Any = None) -> dict[str, Any]:
    """Patch the HPA; returns its spec after the patch. ``api``: an AutoscalingV2Api (the
    in-cluster configuration, or the kubeconfig's, by default)."""
    import urllib3
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    if api is None:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            try:
                config.load_kube_config()  # type: ignore[no-untyped-call]
            except (config.ConfigException, OSError) as exc:
                raise ActError(
                    f"no Kubernetes configuration (in-cluster or kubeconfig): {exc}"
                ) from None
        api = client.AutoscalingV2Api()
    try:
        result = api.patch_namespaced_horizontal_pod_autoscaler(
            hpa, namespace, min_replicas_patch(channels)
        )
    except ApiException as exc:
        raise ActError(
            f"the Kubernetes API refused the patch of {namespace}/{hpa}: {_reason(exc)}"
        ) from None
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        raise ActError(f"the Kubernetes API is unreachable: {exc}") from None
    spec = result.spec
    return {"minReplicas": spec.min_replicas, "maxReplicas": spec.max_replicas}


def _reason(exc: Any) -> str:
    try:
        status = json.loads(exc.body)
        return f"{status.get('reason', exc.reason)} ({exc.status}): {status.get('message', '')}"
    except (TypeError, ValueError):
        return f"{exc.reason} ({exc.status})"
