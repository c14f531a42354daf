"""The load test's HTML report: one self-contained page built with :mod:`openmmo.reports`
(players over time, latency percentiles over time per action, back in play, errors).

plotly is the extra ``openmmo[reports]``: without it the JSON report is still written and
the HTML page says what to install.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ACTIONS = ("move", "attack", "chat")


def figures(result: dict[str, Any]) -> list[Any]:
    from openmmo import reports

    timeline = result["timeline"]
    made = [
        reports.timeline(
            "Players over time",
            "players",
            {
                "playing": [(p["t"], p["bots"]) for p in timeline],
                "target": [(p["t"], p["target"]) for p in timeline],
            },
        )
    ]
    for action in ACTIONS:
        name = f"ack_{action}"
        made.append(
            reports.timeline(
                f"{action} → ack latency (the seed's goal: P95 < 100 ms)",
                "ms",
                {
                    q: [(p["t"], p["latency"][name][q]) for p in timeline if p["latency"][name][q]]
                    for q in ("p50", "p95", "p99")
                },
            )
        )
    made.append(
        reports.timeline(
            "Errors per second", "errors", {"errors": [(p["t"], p["errors"]) for p in timeline]}
        )
    )
    return made


def render(result: dict[str, Any]) -> str:
    from openmmo import reports

    passed = result["passed"]
    thresholds = (
        reports.table(
            ["", "metric", "threshold", "value"],
            [
                ("✔" if t["passed"] else "✘", t["metric"], t["expression"], t["value"])
                for t in result["thresholds"]
            ],
        )
        if result["thresholds"]
        else "<p>No thresholds.</p>"
    )
    totals = reports.table(
        ["metric (ms)", "count", "avg", "p50", "p95", "p99", "max"],
        [
            (name, row["count"], row["avg"], row["p50"], row["p95"], row["p99"], row["max"])
            for name, row in result["totals"].items()
        ],
    )
    errors = result["errors"]
    scenario = result["scenario"]
    started = datetime.fromtimestamp(result["started_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    drops = result.get("drops") or {}
    body = f"""<p>Started {started} against {html.escape(scenario["gateway"])}, zone
{scenario["zone"]}, peak {max((s["target"] for s in scenario["stages"]), default=0)} bots in
{scenario["processes"]} process(es) on {html.escape(result["machine"]["node"])}.
{result["requests"]} requests, {errors["count"]} errors ({errors["rate"]:.4%}),
{result["rejections"]} game-rule rejections; {sum(drops.values())} connections dropped,
{result.get("reconnects", 0)} resumed.</p>
<h2>Thresholds</h2>{thresholds}
<h2>Latency</h2>{totals}"""
    return reports.page("OpenMMO load test", passed, body, figures(result))


def write_html(result: dict[str, Any], path: Path) -> None:
    try:
        page = render(result)
    except ImportError:  # plotly: the extra openmmo[reports]
        verdict = "PASSED" if result["passed"] else "FAILED"
        page = (
            f"<!doctype html><title>OpenMMO load test {verdict}</title>"
            f"<h1>OpenMMO load test {verdict}</h1><p>The figures are in loadtest.json; for "
            "this page's plots install <code>openmmo[reports]</code>.</p>"
        )
    path.write_text(page)
