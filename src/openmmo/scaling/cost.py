"""``openmmo cost-report``: what a player-hour cost over a range, from Prometheus' history and
the price sheet (``COST_PRICES``).

Computed from the raw series with the same definitions as the cost recording rules
(deploy/monitoring/rules, group ``openmmo.recording``), so that it also covers ranges the rules
were not evaluated over (history from before they were loaded, a backfilled Prometheus):

* compute: every zone channel is a game node (``openmmo_node_info``), priced by the node-hour
  of its region and capacity type;
* egress: what the zones sent players (``openmmo_sent_bytes_total``) times the region's
  price per GB;
* idle capacity: seats of all channels without a player; wasted cost: compute times that share;
* predictive scaling against the reactive HPA: each zone's channels as they ran, against the
  channels the reactive HPA alone would have run on the same players (``backtest``), in
  pod-hours, cost, and minutes under capacity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from openmmo.scaling.backtest import outcome, reactive_wish
from openmmo.scaling.models import PriceSheet, ZoneTarget
from openmmo.scaling.prometheus import Prometheus, Series

CHANNELS = "count by (region, capacity_type) (openmmo_node_info)"
EGRESS = (
    "sum by (region) (rate(openmmo_sent_bytes_total[5m])"
    " * on (instance) group_left (region) max by (instance, region) (openmmo_node_info))"
)
PLAYERS = "sum(openmmo_players_online)"
SEATS = "sum(openmmo_players_max)"
ZONE_PLAYERS = "sum by (zone) (openmmo_players_online)"
ZONE_CHANNELS = "count by (zone) (openmmo_players_max)"


class CostError(Exception):
    """No report: the range or the history does not allow one."""


def on_grid(series: Series | None, start: float, steps: int, step_s: float) -> np.ndarray:
    """Samples on the grid, 0 where there is none (nothing scraped: nothing ran)."""
    grid = np.zeros(steps)
    if series is None:
        return grid
    index = np.rint((series.times - start) / step_s).astype(np.int64)
    keep = (index >= 0) & (index < steps) & np.isfinite(series.values)
    grid[index[keep]] = series.values[keep]
    return grid


@dataclass(frozen=True)
class Report:
    figures: dict[str, Any]
    zones: list[dict[str, Any]]
    times: np.ndarray
    compute: np.ndarray  # cost per hour at each step
    egress: np.ndarray
    players: np.ndarray
    seats: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        return {"figures": self.figures, "zones": self.zones}


def report(
    prometheus: Prometheus,
    sheet: PriceSheet,
    start: float,
    end: float,
    step_s: float = 300,
    targets: list[ZoneTarget] | None = None,
) -> Report:
    if end <= start:
        raise CostError(f"--to must be after --from ({start:.0f} .. {end:.0f})")
    steps = int((end - start) // step_s)
    if steps < 2:
        raise CostError(f"the range is shorter than two steps of {step_s:.0f} s")
    last = start + (steps - 1) * step_s
    times = start + np.arange(steps) * step_s
    hours = step_s / 3600

    def query(expr: str) -> list[Series]:
        return prometheus.query_range(expr, start, last, step_s)

    compute = np.zeros(steps)
    priced_node_hours = 0.0
    unpriced: dict[str, float] = {}
    for s in query(CHANNELS):
        region, capacity = s.labels.get("region", ""), s.labels.get("capacity_type", "")
        channels = on_grid(s, start, steps, step_s)
        try:
            compute += channels * sheet.node_hour(region, capacity)
            priced_node_hours += float(channels.sum() * hours)
        except KeyError:
            unpriced[f"{region}/{capacity}"] = float(channels.sum() * hours)
    egress = np.zeros(steps)
    egress_gb = 0.0
    for s in query(EGRESS):
        region = s.labels.get("region", "")
        gb_per_hour = on_grid(s, start, steps, step_s) * 3600 / 1e9
        egress_gb += float(gb_per_hour.sum() * hours)
        if region in sheet.regions:
            egress += gb_per_hour * sheet.regions[region].egress_gb
        elif gb_per_hour.any():
            unpriced[f"{region}/egress"] = float(gb_per_hour.sum() * hours)
    players = on_grid(next(iter(query(PLAYERS)), None), start, steps, step_s)
    seats = on_grid(next(iter(query(SEATS)), None), start, steps, step_s)
    player_hours = float(players.sum() * hours)
    compute_total, egress_total = float(compute.sum() * hours), float(egress.sum() * hours)
    total = compute_total + egress_total
    idle = 1 - float(players.sum()) / max(float(seats.sum()), 1.0)
    share = np.where(seats > 0, 1 - players / np.maximum(seats, 1), 0.0)
    wasted = float((compute * share).sum() * hours)
    mean_node_hour = compute_total / priced_node_hours if priced_node_hours else math.nan
    zones = _zones(query, targets, start, steps, step_s, mean_node_hour)
    per_player = total / player_hours if player_hours else math.nan
    figures: dict[str, Any] = {
        "currency": sheet.currency,
        "from": start,
        "to": end,
        "hours": round((end - start) / 3600, 2),
        "cost": round(total, 4),
        "compute_cost": round(compute_total, 4),
        "egress_cost": round(egress_total, 4),
        "egress_gb": round(egress_gb, 3),
        "player_hours": round(player_hours, 2),
        "cost_per_player_hour": round(per_player, 6) if player_hours else None,
        "compute_per_player_hour": round(compute_total / player_hours, 6) if player_hours else None,
        "egress_per_player_hour": round(egress_total / player_hours, 6) if player_hours else None,
        "target_per_player_hour": sheet.target_per_player_hour,
        "idle_capacity": round(idle, 4),
        "wasted_cost": round(wasted, 4),
        "unpriced": {k: round(v, 3) for k, v in unpriced.items()},
        "predictive_saved": round(sum(z["saved"] for z in zones), 4) if zones else None,
        "under_capacity_minutes_avoided": (
            round(sum(z["under_capacity_minutes_avoided"] for z in zones), 1) if zones else None
        ),
    }
    return Report(figures, zones, times, compute, egress, players, seats)


def _zones(
    query: Any,
    targets: list[ZoneTarget] | None,
    start: float,
    steps: int,
    step_s: float,
    node_hour: float,
) -> list[dict[str, Any]]:
    """Each zone as it ran against the reactive HPA alone on the same players."""
    players = {s.labels.get("zone", ""): s for s in query(ZONE_PLAYERS)}
    channels = {s.labels.get("zone", ""): s for s in query(ZONE_CHANNELS)}
    known = {t.zone: t for t in targets or []}
    out = []
    for zone in sorted(set(players) & set(channels)):
        target = known.get(zone, ZoneTarget(zone=zone))
        ran = on_grid(channels[zone], start, steps, step_s)
        load = on_grid(players[zone], start, steps, step_s)
        capacity = target.players_per_channel
        lo, hi = target.min_replicas, target.max_replicas
        reactive = outcome(
            "reactive", load, reactive_wish(load, capacity, lo, hi, step_s), capacity, step_s
        )
        actual = outcome("as run", load, ran, capacity, step_s, lag_s=0)
        saved_hours = reactive.pod_hours - actual.pod_hours
        out.append(
            {
                "zone": zone,
                "pod_hours": round(actual.pod_hours, 2),
                "reactive_pod_hours": round(reactive.pod_hours, 2),
                "under_capacity_minutes": round(actual.under_capacity_minutes, 1),
                "reactive_under_capacity_minutes": round(reactive.under_capacity_minutes, 1),
                "under_capacity_minutes_avoided": round(
                    reactive.under_capacity_minutes - actual.under_capacity_minutes, 1
                ),
                "saved": round(saved_hours * node_hour, 4) if math.isfinite(node_hour) else 0.0,
            }
        )
    return out


def write_report(result: Report, report_dir: Any) -> tuple[Any, Any]:
    """reports/cost.json and cost.html (plotly, the ``reports`` extra)."""
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    from openmmo import reports

    hours = (result.times - result.times[0]) / 3600
    currency = result.figures["currency"]
    cost = go.Figure()
    cost.add_trace(go.Scatter(x=hours, y=result.compute, name="compute", stackgroup="cost"))
    cost.add_trace(go.Scatter(x=hours, y=result.egress, name="egress", stackgroup="cost"))
    cost.update_layout(
        title=f"cost per hour ({currency})",
        xaxis_title="hours from --from",
        template="plotly_white",
    )
    load = go.Figure()
    load.add_trace(go.Scatter(x=hours, y=result.players, name="players", mode="lines"))
    load.add_trace(go.Scatter(x=hours, y=result.seats, name="seats (channels x MAX_PLAYERS)"))
    load.update_layout(title="players and seats", xaxis_title="hours", template="plotly_white")
    per_player = np.where(
        result.players > 0, (result.compute + result.egress) / np.maximum(result.players, 1), 0
    )
    unit = go.Figure(go.Scatter(x=hours, y=per_player, name="cost per player-hour"))
    unit.add_hline(y=result.figures["target_per_player_hour"], line_dash="dash")
    unit.update_layout(
        title=f"cost per player-hour ({currency}; dashed: the target)",
        xaxis_title="hours",
        template="plotly_white",
    )
    body = {**result.as_dict()}
    figures = [cost, load, unit]
    json_path, html_path = reports.write(
        report_dir, "cost", "Cost per player-hour", body, figures, verdict=None
    )
    if result.zones:  # the per-zone comparison as a table under the plots
        table = reports.table(list(result.zones[0]), [list(z.values()) for z in result.zones])
        text = html_path.read_text()
        html_path.write_text(text.replace("</body>", f"<h2>zones</h2>{table}</body>", 1))
    return json_path, html_path
