import xml.etree.ElementTree as ET

from openmmo.loadtest.report import line_chart, render


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


def test_charts_are_valid_svg_with_a_line_per_series():
    svg = line_chart("t", "ms", {"p50": [(0, 1), (1, 2)], "p95": [(0, 3), (1, 4)]}, guide=100)
    root = ET.fromstring(svg.split("<svg", 1)[1].split("</svg>")[0].join(["<svg", "</svg>"]))
    assert len(root.findall("{*}polyline") or root.findall("polyline")) == 2


def test_the_page_shows_the_verdict_thresholds_and_five_charts():
    page = render(result())
    assert "PASSED" in page and "p(95)&lt;100" in page
    assert page.count("<svg") == 5
    assert "http" not in page.split("<body>")[1].replace("http://g", "")  # self-contained
    assert "FAILED" in render(result(passed=False))
