"""Forecasting players per zone from their history: seasonal models from statsmodels.

Players follow the day (an evening peak) and the week (weekends); the models here are the
ones ``benchmarks/forecast.py`` compared on such a history (docs/benchmarks.md, "Predictive
scaling"), chosen by their error over a held-out day:

* ``holt_winters`` (the default): Holt-Winters exponential smoothing with a daily season,
  multiplicative, fitted on the last four days. Its level follows the last hours, so a
  weekend's higher level is taken up within the hour; 0.4 s per fit.
* ``mstl``: daily and weekly seasons removed by MSTL, the rest forecast by ETS; needs
  two weeks and a day of history and ~8 s per fit at 5-minute steps, for no better error on
  that history.
* ``seasonal_naive``: the same time a week ago (a baseline; needs a week of history).

A forecast that cannot be trusted is refused with :class:`ForecastError`, never guessed:
too little history, a gap too long to fill, a model that does not converge to numbers.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from openmmo.scaling.prometheus import Series

Model = Literal["holt_winters", "mstl", "seasonal_naive"]
MODELS: tuple[Model, ...] = ("holt_winters", "mstl", "seasonal_naive")
DAY_S = 86_400
WEEK_S = 7 * DAY_S
# Gaps up to this long are interpolated; longer ones are filled from the same time a day
# earlier, when that is known. Recent history must be whole: the level comes from it.
INTERPOLATE_GAP_S = 1800
RECENT_S = 3600
MAX_MISSING = 0.10


class ForecastError(Exception):
    """No forecast: the history or the model does not allow one (the message says why)."""


@dataclass(frozen=True)
class Forecast:
    values: np.ndarray  # players at each step after the history's end
    model: Model


def min_history_s(model: Model) -> int:
    return {"holt_winters": 2 * DAY_S, "mstl": 2 * WEEK_S + DAY_S, "seasonal_naive": WEEK_S}[model]


def regularize(series: Series, start: float, end: float, step_s: float) -> np.ndarray:
    """The series on the grid ``start, start + step, ... < end``, its gaps filled where that is
    safe; :class:`ForecastError` where it is not."""
    steps = round((end - start) / step_s)
    if steps <= 0:
        raise ForecastError("the history is empty")
    grid = np.full(steps, np.nan)
    index = np.rint((series.times - start) / step_s).astype(np.int64)
    inside = (index >= 0) & (index < steps) & np.isfinite(series.values)
    grid[index[inside]] = series.values[inside]
    known = np.isfinite(grid)
    if not known.any():
        raise ForecastError("the history has no samples")
    first = int(np.argmax(known))
    if first * step_s > max(INTERPOLATE_GAP_S, 0.05 * steps * step_s):
        span = (steps - first) * step_s / 3600
        raise ForecastError(f"too little history: samples cover only the last {span:.1f} h")
    missing = 1 - known[first:].mean()
    if missing > MAX_MISSING:
        raise ForecastError(
            f"{missing:.0%} of the history is missing (more than {MAX_MISSING:.0%})"
        )
    recent = int(RECENT_S / step_s)
    if not known[-recent:].all():
        raise ForecastError(
            f"samples are missing in the last {RECENT_S // 60} minutes: the current level "
            "is not known (is Prometheus scraping the zones?)"
        )
    values = grid[first:]
    day = int(DAY_S / step_s)
    for a, b in _gaps(np.isfinite(values)):
        if (b - a) * step_s <= INTERPOLATE_GAP_S and a > 0:
            values[a:b] = np.interp(np.arange(a, b), [a - 1, b], [values[a - 1], values[b]])
        elif a >= day and np.isfinite(values[a - day : b - day]).all():
            values[a:b] = values[a - day : b - day]
        else:
            at = start + (first + a) * step_s
            raise ForecastError(
                f"a gap of {(b - a) * step_s / 60:.0f} minutes in the history at Unix time "
                f"{at:.0f} cannot be filled (no samples a day earlier)"
            )
    return np.asarray(values, dtype=np.float64)


def _gaps(known: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([1], known.astype(np.int8), [1])))
    return list(zip(np.flatnonzero(edges == -1), np.flatnonzero(edges == 1), strict=True))


def forecast(history: np.ndarray, step_s: float, horizon_steps: int, model: Model) -> Forecast:
    """Players for the ``horizon_steps`` steps after ``history`` (regular, no gaps)."""
    if model not in MODELS:
        raise ForecastError(f"unknown model {model!r}; one of {', '.join(MODELS)}")
    need = min_history_s(model)
    have = len(history) * step_s
    if have < need:
        raise ForecastError(
            f"too little history for {model}: {have / 3600:.1f} h, it needs {need / 3600:.0f} h"
        )
    day, week = int(DAY_S / step_s), int(WEEK_S / step_s)
    # statsmodels turns its ConvergenceWarning to "always" when first imported: import it
    # first, so that the filter below wins (the forecast is checked instead).
    import statsmodels.tools.sm_exceptions  # type: ignore[import-untyped]  # noqa: F401

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if model == "seasonal_naive":
                values = history[len(history) - week : len(history) - week + horizon_steps]
            elif model == "holt_winters":
                values = _holt_winters(history[-4 * day :], day, horizon_steps)
            else:
                values = _mstl(history[-(2 * week + day) :], day, week, horizon_steps)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise ForecastError(f"{model} could not be fitted: {exc}") from None
    values = np.asarray(values, dtype=np.float64)
    if len(values) != horizon_steps or not np.isfinite(values).all():
        raise ForecastError(f"{model} forecast is not a number (NaN or infinite)")
    return Forecast(values=np.maximum(values, 0.0), model=model)


def _holt_winters(y: np.ndarray, day: int, horizon: int) -> np.ndarray:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing  # type: ignore[import-untyped]

    # Multiplicative (peaks scale with the level); +1 so an empty zone at night is allowed.
    fit = ExponentialSmoothing(y + 1.0, seasonal="mul", seasonal_periods=day, trend=None).fit()
    return np.asarray(fit.forecast(horizon)) - 1.0


def _mstl(y: np.ndarray, day: int, week: int, horizon: int) -> np.ndarray:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel  # type: ignore[import-untyped]
    from statsmodels.tsa.seasonal import MSTL  # type: ignore[import-untyped]

    seasonal = np.asarray(MSTL(y, periods=(day, week)).fit().seasonal)
    rest = y - seasonal.sum(axis=1)
    level = np.asarray(ETSModel(rest, error="add", trend=None).fit(disp=False).forecast(horizon))
    n = len(y)
    ahead = np.arange(horizon)
    return np.asarray(level + seasonal[n - day + ahead, 0] + seasonal[n - week + ahead, 1])


def mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error, in % (steps with no players left out)."""
    keep = actual > 0
    if not keep.any():
        return math.nan
    return float(np.mean(np.abs(actual[keep] - predicted[keep]) / actual[keep]) * 100)
