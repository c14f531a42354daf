"""A real Prometheus with a made-up past: weeks of players per zone with daily and weekly peaks
plus noise, backfilled with ``promtool tsdb create-blocks-from openmetrics``, served on
127.0.0.1. For the forecasting and cost tests and ``benchmarks/predict_scale.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from openmmo.testing.local import eventually, free_port

DAY_S = 86_400


def players(times: np.ndarray, peak: float, seed: int = 1, noise: float = 0.04) -> np.ndarray:
    """Players at ``times`` (Unix seconds, UTC): a night low of ~a third of the evening
    peak at 20:30, a smaller lunch bump, weekends 30 % busier, a slow growth, and noise."""
    hour = (times / 3600) % 24
    weekday = ((times // DAY_S) + 3) % 7  # 1970-01-01 was a Thursday: 0 is Monday
    evening, lunch = np.exp(-((hour - 20.5) ** 2) / 18), np.exp(-((hour - 13) ** 2) / 8)
    daily = 0.35 + 0.65 * evening + 0.25 * lunch
    weekly = np.where(weekday >= 5, 1.3, 1.0)
    growth = 1 + 0.0005 * (times - times[0]) / DAY_S
    rng = np.random.default_rng(seed)
    shape = daily * weekly * growth * (1 + rng.normal(0, noise, len(times)))
    return np.asarray(np.maximum(np.rint(peak / 1.3 * shape), 0.0))


@dataclass
class History:
    """Samples to backfill: metric name → list of (labels, times, values)."""

    series: dict[str, list[tuple[dict[str, str], np.ndarray, np.ndarray]]] = field(
        default_factory=dict
    )
    kinds: dict[str, str] = field(default_factory=dict)

    def add(
        self,
        name: str,
        labels: dict[str, str],
        times: np.ndarray,
        values: np.ndarray,
        kind: str = "gauge",
    ) -> None:
        self.series.setdefault(name, []).append((labels, times, values))
        self.kinds[name] = kind

    def openmetrics(self) -> str:
        lines = []
        for name, items in self.series.items():
            lines.append(f"# TYPE {name} {self.kinds[name]}")
            for labels, times, values in items:
                shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                sample = f"{name}{{{shown}}}" if shown else name
                if self.kinds[name] == "counter":
                    sample = sample.replace(name, name + "_total", 1)
                lines.extend(
                    f"{sample} {v:.6g} {t:.0f}" for t, v in zip(times, values, strict=True)
                )
        lines.append("# EOF")
        return "\n".join(lines) + "\n"


@contextmanager
def backfilled_prometheus(workdir: Path, history: History) -> Iterator[str]:
    """A Prometheus serving ``history`` (and nothing scraped); yields its base URL."""
    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    if not promtool or not prometheus:
        raise RuntimeError("promtool/prometheus are missing: run scripts/tools.sh")
    workdir.mkdir(parents=True, exist_ok=True)
    source, tsdb = workdir / "history.om", workdir / "tsdb"
    source.write_text(history.openmetrics())
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(tsdb)],
        check=True,
        capture_output=True,
    )
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tsdb}",
            "--storage.tsdb.retention.time=400d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not eventually(lambda: _ready(base), 30, 0.2):
            raise RuntimeError("Prometheus did not become ready")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(base: str) -> bool:
    with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
        return bool(response.status == 200)
