"""Replaying scaling policies on a players history: how many channels each would have run,
the minutes players were over the capacity that was there, and the pod-hours it cost.

The three policies compared (docs/howto/predictive-scaling.md):

* **reactive**: the zone HPA on players per channel. It wants ``ceil(players / capacity)``
  channels, keeps the highest wish of the last ``down_s`` before scaling down (the chart's
  scale-down stabilization), and a channel it adds serves ``lag_s`` later (metrics delay,
  HPA sync, scheduling, the pod's start).
* **cron**: KEDA's cron trigger holding a fixed number of channels in fixed windows, on top
  of the reactive trigger (KEDA takes the larger).
* **predictive**: ``openmmo predict-scale`` run every ``every_s``, setting the HPA's
  ``minReplicas`` to its recommendation; the HPA stays reactive above it, and the
  recommended channels also take ``lag_s`` to serve.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from openmmo.scaling.forecast import ForecastError, regularize
from openmmo.scaling.models import ZoneTarget
from openmmo.scaling.plan import Options, history, plan_zone
from openmmo.scaling.prometheus import Prometheus


@dataclass(frozen=True)
class Outcome:
    policy: str
    channels: np.ndarray  # channels serving at each step
    under_capacity_minutes: float
    pod_hours: float
    peak_excess: float  # worst ratio of capacity to the window's peak need, minus 1

    def figures(self) -> dict[str, float | str]:
        return {
            "policy": self.policy,
            "under_capacity_minutes": round(self.under_capacity_minutes, 1),
            "pod_hours": round(self.pod_hours, 2),
            "peak_excess": round(self.peak_excess, 3),
        }


def _delayed(channels: np.ndarray, steps: int) -> np.ndarray:
    """Channels that serve: an increase arrives ``steps`` later, a decrease at once."""
    if steps <= 0:
        return channels
    before = np.concatenate((np.full(steps, channels[0]), channels[:-steps]))
    return np.asarray(np.minimum(channels, before))


def _running_max(values: np.ndarray, steps: int) -> np.ndarray:
    if steps <= 1:
        return values
    padded = np.concatenate((np.full(steps - 1, values[0]), values))
    windows = np.lib.stride_tricks.sliding_window_view(padded, steps)
    return np.asarray(windows.max(axis=1))


def reactive_wish(
    players: np.ndarray, capacity: int, lo: int, hi: int, step_s: float, down_s: float = 300
) -> np.ndarray:
    """What the HPA asks for at each step (before the start-up delay)."""
    wanted = np.clip(np.ceil(players / capacity - 1e-9), lo, hi)
    return _running_max(wanted, max(1, round(down_s / step_s)))


def outcome(
    policy: str,
    players: np.ndarray,
    wish: np.ndarray,
    capacity: int,
    step_s: float,
    lag_s: float = 180,
    window_steps: int = 6,
) -> Outcome:
    """Score channels ``wish``-ed at each step: served ``lag_s`` later when they grow."""
    channels = _delayed(np.asarray(wish, dtype=np.float64), round(lag_s / step_s))
    under = players > channels * capacity
    excess = 0.0
    for a in range(0, len(players), window_steps):
        need = max(1.0, math.ceil(players[a : a + window_steps].max() / capacity - 1e-9))
        excess = max(excess, channels[a : a + window_steps].max() / need - 1)
    return Outcome(
        policy=policy,
        channels=channels,
        under_capacity_minutes=float(under.sum() * step_s / 60),
        pod_hours=float(channels.sum() * step_s / 3600),
        peak_excess=excess,
    )


def cron_wish(
    times: np.ndarray, windows: Sequence[tuple[float, float, int]], lo: int
) -> np.ndarray:
    """KEDA cron triggers: (start hour, end hour UTC, channels); ``lo`` outside them. An end
    before the start wraps past midnight."""
    hour = (times / 3600) % 24
    wish = np.full(len(times), float(lo))
    for start, end, channels in windows:
        inside = (hour >= start) & (hour < end) if start < end else (hour >= start) | (hour < end)
        wish = np.where(inside, np.maximum(wish, channels), wish)
    return wish


def predictive_wish(
    times: np.ndarray,
    players: np.ndarray,
    recommend_at: Callable[[float], int | None],
    every_s: float,
    capacity: int,
    lo: int,
    hi: int,
    step_s: float,
) -> np.ndarray:
    """The HPA with ``minReplicas`` set every ``every_s`` by ``recommend_at(time)`` (None:
    left as it was, as predict-scale does when it cannot forecast)."""
    reactive = reactive_wish(players, capacity, lo, hi, step_s)
    floor = np.full(len(times), float(lo))
    current = float(lo)
    next_run = times[0]
    for i, at in enumerate(times):
        if at >= next_run:
            recommended = recommend_at(float(at))
            if recommended is not None:
                current = float(recommended)
            next_run = at + every_s
        floor[i] = current
    return np.asarray(np.maximum(floor, reactive))


@dataclass(frozen=True)
class Replay:
    """One zone's held-out range replayed: the forecast error and the three policies."""

    zone: str
    times: np.ndarray
    players: np.ndarray
    mape: float  # % over every forecast step of every run
    fits: int
    fit_seconds: float  # mean wall time of one recommendation (query + fit)
    recommended: list[tuple[float, int]]  # (time, channels) of each run
    outcomes: list[Outcome]

    def figures(self) -> dict[str, object]:
        return {
            "zone": self.zone,
            "mape_percent": round(self.mape, 2),
            "fits": self.fits,
            "fit_seconds": round(self.fit_seconds, 3),
            "policies": [o.figures() for o in self.outcomes],
        }


def replay(
    prometheus: Prometheus,
    target: ZoneTarget,
    options: Options,
    start: float,
    end: float,
    every_s: float = 1800,
    cron: Sequence[tuple[float, float, int]] | None = None,
    lag_s: float = 180,
) -> Replay:
    """Replay ``start .. end`` (history before ``start`` known to the model as it goes):
    predict-scale run every ``every_s`` as of that time, against the reactive HPA and the
    KEDA ``cron`` windows (default: 18:00-24:00 UTC at the channels last week's peak needed
    with the headroom)."""
    step = options.step_s
    matchers = ",".join(m for m in (options.selector, f'zone="{target.zone}"') if m)
    query = f"sum(openmmo_players_online{{{matchers}}})"
    found = prometheus.query_range(query, start, end - step, step)
    if not found:
        raise ForecastError(f"no players of zone {target.zone!r} in {start:.0f} .. {end:.0f}")
    truth = regularize(found[0], start, end, step)
    times = start + np.arange(len(truth)) * step
    errors: list[np.ndarray] = []
    runs: list[tuple[float, int]] = []
    spent: list[float] = []

    def recommend_at(at: float) -> int | None:
        began = time.perf_counter()
        first, last, series = history(prometheus, options, at)
        made = plan_zone(target, series.get(target.zone), first, last, options)
        spent.append(time.perf_counter() - began)
        if made.channels is None:
            return None
        i = round((at - start) / step) + 1
        actual = truth[i : i + len(made.forecast)]
        if len(actual):
            predicted = np.array(made.forecast[: len(actual)])
            keep = actual > 0
            errors.append(np.abs(actual[keep] - predicted[keep]) / actual[keep])
        runs.append((at, made.channels))
        return made.channels

    capacity, lo, hi = target.players_per_channel, target.min_replicas, target.max_replicas
    predictive = predictive_wish(times, truth, recommend_at, every_s, capacity, lo, hi, step)
    if cron is None:
        week = prometheus.query_range(query, start - 7 * 86_400, start - step, step)
        peak = float(week[0].values.max()) if week else float(truth.max())
        channels = min(hi, max(lo, math.ceil(peak * (1 + options.headroom) / capacity)))
        cron = [(18.0, 24.0, channels)]
    reactive = reactive_wish(truth, capacity, lo, hi, step)
    outcomes = [
        outcome("reactive HPA", truth, reactive, capacity, step, lag_s),
        outcome(
            "KEDA cron + reactive",
            truth,
            np.maximum(cron_wish(times, cron, lo), reactive),
            capacity,
            step,
            lag_s,
        ),
        outcome("predict-scale + reactive", truth, predictive, capacity, step, lag_s),
    ]
    every = np.concatenate(errors) if errors else np.array([math.nan])
    return Replay(
        zone=target.zone,
        times=times,
        players=truth,
        mape=float(every.mean() * 100),
        fits=len(spent),
        fit_seconds=float(np.mean(spent)) if spent else math.nan,
        recommended=runs,
        outcomes=outcomes,
    )
