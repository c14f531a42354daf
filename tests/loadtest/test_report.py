import re

from openmmo.loadtest.report import figures, render, write_html


def result(passed=True):
    latency = dict.fromkeys(("p50", "p95", "p99"), 10.0)
    return {
        "run_id": "x",
        "started_at": 1_800_000_000.0,
        "passed": passed,
        "complete": True,
        "machine": {"node": "vm", "python": "3.11", "cpus": 2},
        "scenario": {
            "gateway": "http://g",
            "zone": 1,
            "processes": 1,
            "stages": [{"duration_s": 2, "target": 5}],
        },
        "totals": {"ack_move": {"count": 3, "avg": 1, "p50": 1, "p95": 2, "p99": 3, "max": 3}},
        "requests": 10,
        "errors": {"count": 0, "rate": 0.0, "by_kind": {}},
        "rejections": 0,
        "thresholds": [
            {"metric": "ack_move", "expression": "p(95)<100", "value": 2.0, "passed": passed}
        ],
        "timeline": [
            {
                "t": t,
                "bots": 5,
                "target": 5,
                "errors": 0,
                "latency": {f"ack_{a}": latency for a in ("move", "attack", "chat")},
            }
            for t in range(3)
        ],
    }


def test_the_figures_are_plotly_charts_with_a_line_per_series():
    made = figures(result())
    assert len(made) == 5  # players, three actions, errors
    players, move = made[0], made[1]
    assert [trace.name for trace in players.data] == ["playing", "target"]
    assert [trace.name for trace in move.data] == ["p50", "p95", "p99"]
    assert list(move.data[1].y) == [10.0, 10.0, 10.0]


def test_the_page_shows_the_verdict_thresholds_and_five_charts_and_is_self_contained():
    page = render(result())
    assert "PASSED" in page and "p(95)&lt;100" in page
    assert page.count('class="plotly-graph-div"') == 5
    assert page.count("<script") >= 5 and "plotly" in page.lower()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', page)
    assert scripts == []  # plotly is inlined: the page opens with no network
    assert "FAILED" in render(result(passed=False))


def test_without_the_reports_extra_the_page_says_what_to_install(tmp_path, monkeypatch):
    import sys

    import openmmo

    monkeypatch.delattr(openmmo, "reports", raising=False)
    monkeypatch.setitem(sys.modules, "openmmo.reports", None)  # as if plotly were missing
    path = tmp_path / "loadtest.html"
    write_html(result(), path)
    page = path.read_text()
    assert "PASSED" in page and "openmmo[reports]" in page
    assert "plotly-graph-div" not in page
