"""Reports the tools write: the figures as JSON (for machines and for comparing runs) and one
self-contained HTML page with interactive plots (plotly, its script inlined: no network
needed to open it). Used by ``openmmo chaos`` and ``openmmo loadtest``. plotly is the extra
``openmmo[reports]`` (the server image has no use for it).
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go  # type: ignore[import-untyped]
from plotly.io import to_html  # type: ignore[import-untyped]

Points = Sequence[tuple[float, float]]


def timeline(
    title: str,
    y_title: str,
    series: dict[str, Points],
    events: Sequence[tuple[float, str]] = (),
) -> Any:
    """A time plot (seconds on x) of ``series`` with the scenario's events as vertical
    lines (a kill, a restart, a dependency down and back)."""
    figure = go.Figure()
    for name, points in series.items():
        figure.add_trace(
            go.Scatter(x=[t for t, _ in points], y=[v for _, v in points], mode="lines", name=name)
        )
    for at, label in events:
        figure.add_vline(x=at, line_dash="dash", line_color="#dc2626")
        figure.add_annotation(
            x=at, y=1, yref="paper", text=label, showarrow=False, textangle=-90, xanchor="right"
        )
    figure.update_layout(
        title=title,
        xaxis_title="seconds",
        yaxis_title=y_title,
        height=360,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        template="plotly_white",
    )
    return figure


def histogram(title: str, x_title: str, values: Sequence[float]) -> Any:
    figure = go.Figure(go.Histogram(x=list(values), nbinsx=30))
    figure.update_layout(
        title=title, xaxis_title=x_title, yaxis_title="count", height=320, template="plotly_white"
    )
    return figure


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_shown(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def page(title: str, verdict: bool | None, body: str, figures: Sequence[Any]) -> str:
    """A self-contained page: ``title`` with its verdict, ``body`` (HTML), the figures."""
    plots = [
        to_html(figure, full_html=False, include_plotlyjs=(i == 0), default_width="100%")
        for i, figure in enumerate(figures)
    ]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    badge = "" if verdict is None else ("PASSED" if verdict else "FAILED")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} {badge}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #111 }}
table {{ border-collapse: collapse; margin: 1rem 0 }}
th, td {{ border-bottom: 1px solid #ddd; padding: .3rem .8rem; text-align: left }}
.pass td:first-child {{ color: #16a34a; font-weight: bold }}
.fail td:first-child {{ color: #dc2626; font-weight: bold }}
.badge {{ font-weight: bold; color: {"#16a34a" if verdict else "#dc2626"} }}
</style></head><body>
<h1>{html.escape(title)} <span class="badge">{badge}</span></h1>
<p>{stamp}</p>
{body}
{"".join(plots)}
</body></html>
"""


def write(
    report_dir: Path,
    name: str,
    title: str,
    result: dict[str, Any],
    figures: Sequence[Any],
    verdict: bool | None = None,
) -> tuple[Path, Path]:
    """``<name>.json`` (``result``) and ``<name>.html`` (a table of the result's top-level
    numbers, its checks, and the figures); returns both paths."""
    report_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = report_dir / f"{name}.json", report_dir / f"{name}.html"
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_shown(v))}</td></tr>"
        for k, v in result.get("figures", {}).items()
    )
    checks = "".join(
        f'<tr class="{"pass" if c["passed"] else "fail"}"><td>{"PASS" if c["passed"] else "FAIL"}'
        f"</td><td>{html.escape(c['check'])}</td><td>{html.escape(_shown(c.get('value')))}</td></tr>"
        for c in result.get("checks", [])
    )
    body = f"<table>{rows}</table><table>{checks}</table>"
    html_path.write_text(page(title, verdict, body, figures))
    return json_path, html_path


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
