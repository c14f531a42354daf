"""Predictive scaling on a made-up past: forecast error per model and the scaling policies.

    .venv/bin/python benchmarks/predict_scale.py [--days 22] [--every 1800] [--models ...]

A real Prometheus (Debian's, from scripts/tools.sh) is backfilled with ``--days`` of players
per zone (daily and weekly peaks, 4 % noise: ``openmmo.testing.prometheus.players``) ending
now; the last day is held out. For each model, ``openmmo predict-scale``'s own code runs as
of every ``--every`` seconds of that day, fitting on what came before: its forecast error
(MAPE over every step of every 30-minute forecast) and the time one recommendation takes.
Then the policies on the same day: the reactive HPA, KEDA's cron windows on top of it, and
predict-scale raising the HPA's minReplicas: minutes under capacity, pod-hours, the worst
excess over the peak's need. Prints the tables; writes reports/predict_scale.{json,html}.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import plotly.graph_objects as go  # type: ignore[import-untyped]

from openmmo import reports
from openmmo.scaling.backtest import replay
from openmmo.scaling.forecast import MODELS
from openmmo.scaling.models import ZoneTarget
from openmmo.scaling.plan import Options
from openmmo.scaling.prometheus import Prometheus
from openmmo.testing.prometheus import History, backfilled_prometheus, players

ZONES = {"town": (3000, 1), "wilds": (1200, 2)}  # zone: (weekend peak, noise seed)
STEP = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=22, help="days of history, the last held out")
    parser.add_argument("--every", type=float, default=1800, help="seconds between runs")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--headroom", type=float, default=0.2)
    parser.add_argument("--out", type=Path, default=Path("reports"))
    args = parser.parse_args()

    now = time.time()
    end = now - now % 86_400  # the held-out day is yesterday, midnight to midnight UTC
    start = end - 86_400
    times = np.arange(end - args.days * 86_400, end, STEP)
    history = History()
    for zone, (peak, seed) in ZONES.items():
        history.add("openmmo_players_online", {"zone": zone}, times, players(times, peak, seed))
    targets = [ZoneTarget(zone=zone, min_replicas=1, max_replicas=10) for zone in ZONES]
    results: dict[str, object] = {"days": args.days, "every_s": args.every, "models": {}}
    figures = []
    with tempfile.TemporaryDirectory() as tmp, backfilled_prometheus(Path(tmp), history) as url:
        prometheus = Prometheus(url)
        print(f"held-out day {time.strftime('%Y-%m-%d (%a)', time.gmtime(start))}")
        print(
            f"{'model':15} {'zone':6} {'MAPE %':>7} {'s/fit':>6}  policy: under-capacity min, pod-h"
        )
        replays = {}
        for model in args.models:
            options = Options(headroom=args.headroom, model=model, history_days=15)
            for target in targets:
                r = replay(prometheus, target, options, start, end, every_s=args.every)
                replays[(model, target.zone)] = r
                policies = "; ".join(
                    f"{o.policy}: {o.under_capacity_minutes:.0f} min, {o.pod_hours:.1f}"
                    for o in r.outcomes
                )
                print(f"{model:15} {target.zone:6} {r.mape:7.2f} {r.fit_seconds:6.2f}  {policies}")
                results["models"][f"{model}/{target.zone}"] = r.figures()  # type: ignore[index]
        for target in targets:
            r = replays[(args.models[0], target.zone)]
            hours = (r.times - start) / 3600
            figure = go.Figure()
            figure.add_trace(go.Scatter(x=hours, y=r.players, name="players", mode="lines"))
            for o in r.outcomes:
                figure.add_trace(
                    go.Scatter(
                        x=hours,
                        y=o.channels * target.players_per_channel,
                        name=f"capacity: {o.policy}",
                        mode="lines",
                        line={"shape": "hv"},
                    )
                )
            figure.update_layout(
                title=f"zone {target.zone}: players and capacity ({args.models[0]})",
                xaxis_title="hour of the held-out day (UTC)",
                yaxis_title="players",
                template="plotly_white",
                height=420,
            )
            figures.append(figure)
        prometheus.close()
    json_path, html_path = reports.write(
        args.out, "predict_scale", "Predictive scaling on a backfilled Prometheus", results, figures
    )
    print(f"reports: {json_path}, {html_path}")


if __name__ == "__main__":
    main()
