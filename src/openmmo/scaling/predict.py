"""``openmmo predict-scale``: the plan printed, pushed as metrics, or applied to the HPAs."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from openmmo.config import Settings
from openmmo.scaling.act import ActError, min_replicas_patch, patch_min_replicas, push
from openmmo.scaling.plan import Options, Recommendation, recommend
from openmmo.scaling.prometheus import Prometheus, PrometheusError

err = Console(stderr=True, soft_wrap=True)  # one line per error, whatever the width


def options_of(settings: Settings) -> Options:
    return Options(
        horizon_min=settings.prediction_horizon_minutes,
        headroom=settings.prediction_headroom,
        history_days=settings.prediction_history_days,
        step_s=settings.prediction_step_s,
        model=settings.prediction_model,
        selector=settings.prediction_selector,
    )


def run(
    settings: Settings,
    at: float | None = None,
    as_json: bool = False,
    push_to: str | None = None,
    patch: bool = False,
    namespace: str = "default",
    dry_run: bool = False,
    api: Any = None,
) -> int:
    """Exit code: 0 every zone got a recommendation (and the action took), 1 some zone did
    not or an action was refused (nothing changed for those), 2 nothing could be planned."""
    if not settings.prometheus_url:
        err.print("[bold red]error:[/] PROMETHEUS_URL is not set (the Prometheus to read)")
        return 2
    if patch and not dry_run:
        missing = [t.zone for t in settings.prediction_zones if not t.hpa]
        if not settings.prediction_zones or missing:
            err.print(
                "[bold red]error:[/] --patch needs PREDICTION_ZONES with the `hpa` of every "
                f"zone{' (missing for ' + ', '.join(missing) + ')' if missing else ''}"
            )
            return 2
    options = options_of(settings)
    try:
        with Prometheus(settings.prometheus_url) as prometheus:
            plan = recommend(prometheus, settings.prediction_zones or None, options, at)
    except PrometheusError as exc:
        err.print(f"[bold red]error:[/] {exc}; nothing changed")
        return 2
    code = 0 if plan and all(r.error is None for r in plan) else 1
    if not plan:
        err.print("[yellow]no zone to plan for:[/] Prometheus has no openmmo_players_online")
    actions: list[dict[str, Any]] = []
    try:
        if push_to:
            if dry_run:
                actions.append({"push": push_to, "dry_run": True})
            else:
                push(push_to, plan, options.horizon_min)
                actions.append({"push": push_to})
    except ActError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        code = 1
    if patch:
        for r in plan:
            if r.channels is None:
                continue
            action: dict[str, Any] = {"hpa": f"{namespace}/{r.hpa}"}
            action["patch"] = min_replicas_patch(r.channels)
            if dry_run:
                action["dry_run"] = True
            else:
                try:
                    action["result"] = patch_min_replicas(namespace, r.hpa, r.channels, api)
                except ActError as exc:
                    err.print(f"[bold red]error:[/] {exc}")
                    action["error"] = str(exc)
                    code = 1
            actions.append(action)
    if as_json:
        document = {
            "horizon_minutes": options.horizon_min,
            "headroom": options.headroom,
            "model": options.model,
            "zones": [r.as_dict() for r in plan],
            "actions": actions,
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        _table(plan, options)
        for action in actions:
            print(json.dumps(action))
    return code


def _table(plan: list[Recommendation], options: Options) -> None:
    table = Table(
        title=f"channels for the next {options.horizon_min:g} min "
        f"({options.model}, headroom {options.headroom:.0%})"
    )
    for column in ("zone", "players now", "forecast peak", "needed", "channels", "note"):
        table.add_column(column)
    for r in plan:
        if r.error is not None:
            table.add_row(r.zone, "", "", "", "unchanged", r.error)
            continue
        note = f"clamped to {r.bounded_by}" if r.bounded_by else ""
        table.add_row(
            r.zone,
            f"{r.players_now:.0f}",
            f"{r.forecast_peak:.0f}",
            str(r.needed),
            str(r.channels),
            note,
        )
    Console(width=140).print(table)
