"""The HTML report: one self-contained page (inline SVG charts, no scripts, no network)."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36

Series = dict[str, Sequence[tuple[float, float]]]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def line_chart(
    title: str, unit: str, series: Series, guide: float | None = None, x_max: float | None = None
) -> str:
    """An SVG line chart of ``series`` (name → points), with an optional dashed guide line;
    charts of one report share ``x_max`` so their time axes line up."""
    points = [p for values in series.values() for p in values]
    x_max = x_max or max((x for x, _ in points), default=1.0) or 1.0
    y_max = _nice_max(max([y for _, y in points] + [guide or 0.0], default=1.0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + x / x_max * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - min(y, y_max) / y_max * plot_h

    parts = [f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">']
    for i in range(5):
        y = y_max * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{sy(y):.1f}" '
            f'y2="{sy(y):.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{sy(y) + 4:.1f}" class="axis" text-anchor="end">{y:g}</text>'
        )
    for i in range(6):
        x = x_max * i / 5
        parts.append(
            f'<text x="{sx(x):.1f}" y="{HEIGHT - 14}" class="axis" '
            f'text-anchor="middle">{x:.0f}s</text>'
        )
    parts.append(
        f'<text x="12" y="{TOP + plot_h / 2:.0f}" class="axis" '
        f'transform="rotate(-90 12 {TOP + plot_h / 2:.0f})" '
        f'text-anchor="middle">{html.escape(unit)}</text>'
    )
    if guide is not None:
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{sy(guide):.1f}" '
            f'y2="{sy(guide):.1f}" class="guide"/>'
        )
    for color, (name, values) in zip(COLORS, series.items(), strict=False):
        if values:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" '
                f'stroke-width="2"><title>{html.escape(name)}</title></polyline>'
            )
    parts.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{c}"></i>{html.escape(n)}</span>'
        for c, n in zip(COLORS, series, strict=False)
    )
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>{''.join(parts)}"
        f'<div class="legend">{legend}</div></figure>'
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(result: dict[str, Any]) -> str:
    timeline = result["timeline"]
    end = float(timeline[-1]["t"]) if timeline else 1.0
    charts = [
        line_chart(
            "Players over time",
            "players",
            {
                "playing": [(p["t"], p["bots"]) for p in timeline],
                "target": [(p["t"], p["target"]) for p in timeline],
            },
            x_max=end,
        )
    ]
    for action in ("move", "attack", "chat"):
        name = f"ack_{action}"
        charts.append(
            line_chart(
                f"{action} → ack latency",
                "ms",
                {
                    q: [(p["t"], p["latency"][name][q]) for p in timeline if p["latency"][name][q]]
                    for q in ("p50", "p95", "p99")
                },
                guide=100.0,
                x_max=end,
            )
        )
    charts.append(
        line_chart(
            "Errors per second",
            "errors",
            {"errors": [(p["t"], p["errors"]) for p in timeline]},
            x_max=end,
        )
    )
    passed = result["passed"]
    verdict = "PASSED" if passed else "FAILED"
    thresholds = (
        _table(
            ["", "metric", "threshold", "value"],
            [
                ("✔" if t["passed"] else "✘", t["metric"], t["expression"], t["value"])
                for t in result["thresholds"]
            ],
        )
        if result["thresholds"]
        else "<p>No thresholds.</p>"
    )
    totals = _table(
        ["metric (ms)", "count", "avg", "p50", "p95", "p99", "max"],
        [
            (name, row["count"], row["avg"], row["p50"], row["p95"], row["p99"], row["max"])
            for name, row in result["totals"].items()
        ],
    )
    errors = result["errors"]
    scenario = result["scenario"]
    started = datetime.fromtimestamp(result["started_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OpenMMO load test {verdict}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:780px;color:#111}}
h1 .verdict{{color:{"#16a34a" if passed else "#dc2626"}}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}
td,th{{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:right}}
td:first-child,th:first-child{{text-align:left}}
figure{{margin:1.5rem 0}} figcaption{{font-weight:600;margin-bottom:.25rem}}
svg{{width:100%;height:auto;background:#fafafa}}
.grid{{stroke:#e5e5e5}} .guide{{stroke:#999;stroke-dasharray:6 4}}
.axis{{font-size:11px;fill:#555}}
.legend span{{margin-right:1rem;font-size:.9rem}}
.legend i{{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}}
</style></head><body>
<h1>OpenMMO load test: <span class="verdict">{verdict}</span></h1>
<p>Started {started} against {html.escape(scenario["gateway"])}, zone {scenario["zone"]},
peak {max((s["target"] for s in scenario["stages"]), default=0)} bots in
{scenario["processes"]} process(es) on {html.escape(result["machine"]["node"])}.
{result["requests"]} requests, {errors["count"]} errors ({errors["rate"]:.4%}),
{result["rejections"]} game-rule rejections.</p>
<h2>Thresholds</h2>{thresholds}
<h2>Latency</h2>{totals}
{"".join(charts)}
</body></html>
"""


def write_html(result: dict[str, Any], path: Path) -> None:
    path.write_text(render(result))
