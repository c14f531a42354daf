"""From a forecast to channels per zone: ``openmmo predict-scale``'s plan.

For each zone: the players forecast over the next ``horizon`` minutes, their peak, and the
channels that peak needs at the zone's players-per-channel capacity plus a headroom margin,
clamped to the zone autoscaler's bounds. A zone whose forecast is refused gets no
recommendation (and nothing is changed for it): its autoscaler keeps working reactively.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

from openmmo.scaling.forecast import Forecast, ForecastError, Model, forecast, regularize
from openmmo.scaling.models import ZoneTarget
from openmmo.scaling.prometheus import Prometheus, Series


def players_query(selector: str = "") -> str:
    return f"sum by (zone) (openmmo_players_online{{{selector}}})"


@dataclass(frozen=True)
class Recommendation:
    zone: str
    hpa: str
    players_now: float | None = None
    forecast_peak: float | None = None
    needed: int | None = None  # channels the peak needs with the headroom, before the bounds
    channels: int | None = None  # clamped to [min_replicas, max_replicas]
    bounded_by: str | None = None  # "min_replicas" / "max_replicas" when the clamp changed it
    model: str | None = None
    forecast: tuple[float, ...] = ()  # players at each step of the horizon
    error: str | None = None  # why there is no recommendation (nothing changes for the zone)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def channels_for(peak: float, target: ZoneTarget, headroom: float) -> tuple[int, int, str | None]:
    """(needed, clamped, which bound clamped it) for a peak of ``peak`` players."""
    needed = max(1, math.ceil(peak * (1 + headroom) / target.players_per_channel - 1e-9))
    if needed < target.min_replicas:
        return needed, target.min_replicas, "min_replicas"
    if needed > target.max_replicas:
        return needed, target.max_replicas, "max_replicas"
    return needed, needed, None


@dataclass(frozen=True)
class Options:
    horizon_min: float = 30.0
    headroom: float = 0.2
    history_days: float = 15.0
    step_s: float = 300.0
    model: Model = "holt_winters"
    selector: str = ""  # label matchers of the players query: namespace="games"


def recommend(
    prometheus: Prometheus,
    targets: list[ZoneTarget] | None,
    options: Options,
    at: float | None = None,
) -> list[Recommendation]:
    """One recommendation per target (every zone Prometheus knows, with the default
    capacity and bounds, when ``targets`` is None), from the players history up to ``at``
    (now by default).

    :class:`PrometheusError` when Prometheus does not answer at all; a zone whose history
    does not allow a forecast gets a recommendation with ``error`` set instead."""
    start, end, series = history(prometheus, options, at)
    if targets is None:
        targets = [ZoneTarget(zone=zone) for zone in sorted(series) if zone]
    return [plan_zone(target, series.get(target.zone), start, end, options) for target in targets]


def history(
    prometheus: Prometheus, options: Options, at: float | None = None
) -> tuple[float, float, dict[str, Series]]:
    """(start, end, players series per zone): the grid ``start .. end`` (exclusive) of
    ``options.history_days`` whose last step is the last one at or before ``at``."""
    at = time.time() if at is None else at
    last = at - at % options.step_s
    start = last - options.history_days * 86_400 + options.step_s
    found = prometheus.query_range(players_query(options.selector), start, last, options.step_s)
    return start, last + options.step_s, {s.labels.get("zone", ""): s for s in found}


def plan_zone(
    target: ZoneTarget, found: Series | None, start: float, end: float, options: Options
) -> Recommendation:
    horizon = max(1, math.ceil(options.horizon_min * 60 / options.step_s))
    try:
        if found is None:
            raise ForecastError(f"no openmmo_players_online{{zone={target.zone!r}}} in Prometheus")
        players = regularize(found, start, end, options.step_s)
        result: Forecast = forecast(players, options.step_s, horizon, options.model)
    except ForecastError as exc:
        return Recommendation(target.zone, target.hpa, error=str(exc))
    peak = float(result.values.max())
    needed, channels, bound = channels_for(peak, target, options.headroom)
    return Recommendation(
        target.zone,
        target.hpa,
        players_now=float(players[-1]),
        forecast_peak=peak,
        needed=needed,
        channels=channels,
        bounded_by=bound,
        model=result.model,
        forecast=tuple(round(float(v), 1) for v in result.values),
    )
