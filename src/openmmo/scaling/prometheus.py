"""Reading Prometheus' HTTP API (``/api/v1/query_range``, ``/api/v1/query``) for the operator
tools: what failed is said in one line (:class:`PrometheusError`), never a traceback."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

# Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS = 10_000


class PrometheusError(Exception):
    """Prometheus could not answer: unreachable, an error status, or a malformed answer."""


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and its samples (Unix seconds, values)."""

    labels: dict[str, str]
    times: np.ndarray
    values: np.ndarray


class Prometheus:
    def __init__(self, url: str, timeout_s: float = 30.0, transport: Any = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise PrometheusError(f"PROMETHEUS_URL {url!r} is not an http(s) URL")
        self.url = url.rstrip("/")
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[Series]:
        """The samples of ``expr`` from ``start`` to ``end`` every ``step_s``, in chunks of at
        most :data:`MAX_POINTS` steps, joined per series."""
        if end <= start:
            raise PrometheusError(f"empty range: {start} .. {end}")
        parts: dict[tuple[tuple[str, str], ...], list[tuple[list[float], list[float]]]] = {}
        chunk = step_s * MAX_POINTS
        at = start
        while at <= end:
            until = min(end, at + chunk - step_s)
            params = {"query": expr, "start": at, "end": until, "step": step_s}
            for item in self._get("/api/v1/query_range", params, "matrix"):
                key = tuple(sorted(item.get("metric", {}).items()))
                points = item.get("values", [])
                parts.setdefault(key, []).append(
                    ([float(t) for t, _ in points], [float(v) for _, v in points])
                )
            at = until + step_s
        return [
            Series(
                labels=dict(key),
                times=np.array([t for ts, _ in chunks for t in ts], dtype=np.float64),
                values=np.array([v for _, vs in chunks for v in vs], dtype=np.float64),
            )
            for key, chunks in parts.items()
        ]

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        """The value of ``expr`` at ``at`` (now by default), one (labels, value) per series."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        return [
            (dict(item.get("metric", {})), float(item["value"][1]))
            for item in self._get("/api/v1/query", params, "vector")
        ]

    def _get(self, path: str, params: dict[str, Any], kind: str) -> list[dict[str, Any]]:
        try:
            response = self._client.get(self.url + path, params=params)
        except httpx.HTTPError as exc:
            raise PrometheusError(f"Prometheus at {self.url} is unreachable: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(
                f"Prometheus at {self.url} answered HTTP {response.status_code} with no JSON"
            ) from None
        if response.status_code != 200 or body.get("status") != "success":
            error = body.get("error") or f"HTTP {response.status_code}"
            raise PrometheusError(f"Prometheus refused {params['query']!r}: {error}")
        data = body.get("data", {})
        if data.get("resultType") != kind or not isinstance(data.get("result"), list):
            raise PrometheusError(
                f"Prometheus answered {params['query']!r} with a {data.get('resultType')}, "
                f"not a {kind}"
            )
        result: list[dict[str, Any]] = data["result"]
        return result
