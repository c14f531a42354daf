"""The load-test master: spawns the workers, merges their numbers, shows progress, judges the
thresholds and writes the reports. Returns the exit code: 0 when every threshold passed."""

from __future__ import annotations

import json
import multiprocessing
import platform
import queue
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from openmmo.loadtest.report import write_html
from openmmo.loadtest.scenario import LATENCIES, Scenario
from openmmo.loadtest.stats import Histogram
from openmmo.loadtest.worker import worker_main


@dataclass
class Interval:
    """The merged numbers of every worker for one second (or the whole run)."""

    latency: dict[str, Histogram] = field(
        default_factory=lambda: {name: Histogram() for name in LATENCIES}
    )
    requests: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    rejections: int = 0
    snapshots: int = 0
    reconnects: int = 0
    drops: dict[str, int] = field(default_factory=dict)
    bytes_in: int = 0
    bots: dict[int, int] = field(default_factory=dict)  # per worker
    playing: dict[int, int] = field(default_factory=dict)

    def add(self, report: dict[str, Any]) -> None:
        stats = report["stats"]
        for name, wire in stats["latency"].items():
            self.latency[name].merge(Histogram.from_wire(wire))
        self.requests += stats["requests"]
        self.rejections += stats["rejections"]
        self.snapshots += stats["snapshots"]
        self.reconnects += stats.get("reconnects", 0)
        self.bytes_in += stats.get("bytes_in", 0)
        for code, count in stats.get("drops", {}).items():
            self.drops[code] = self.drops.get(code, 0) + count
        for kind, count in stats["failures"].items():
            self.failures[kind] = self.failures.get(kind, 0) + count
        for kind, count in stats["sent"].items():
            self.sent[kind] = self.sent.get(kind, 0) + count
        self.bots[report["worker"]] = report["bots"]
        self.playing[report["worker"]] = report["playing"]

    @property
    def failure_count(self) -> int:
        return sum(self.failures.values())

    @property
    def error_rate(self) -> float:
        return self.failure_count / self.requests if self.requests else 0.0


def run(scenario: Scenario, report_dir: Path, out: TextIO = sys.stdout) -> int:
    context = multiprocessing.get_context("spawn")
    reports: Any = context.Queue()
    interrupted = context.Event()
    # Ctrl-C (or SIGTERM) ends the run early; the reports are still written.
    previous = {
        sig: signal.signal(sig, lambda *_: interrupted.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    started_at = time.time() + 1.5  # time for the workers to import and start
    workers = [
        context.Process(
            target=worker_main,
            daemon=True,
            args=(scenario, i, scenario.processes, started_at, reports, interrupted),
        )
        for i in range(scenario.processes)
    ]
    for process in workers:
        process.start()
    totals = Interval()
    timeline: dict[int, Interval] = {}
    finished: set[int] = set()
    deadline = started_at + scenario.duration_s + 30
    live = out.isatty()
    last_shown = -1
    while len(finished) < len(workers) and time.time() < deadline:
        try:
            report = reports.get(timeout=0.5)
        except queue.Empty:
            if not any(p.is_alive() for p in workers):
                break
            continue
        second = int(report["t"])
        timeline.setdefault(second, Interval()).add(report)
        totals.add(report)
        if report.get("final"):
            finished.add(report["worker"])
        if second > last_shown and second - 1 in timeline:
            last_shown = second
            _progress(out, second - 1, timeline[second - 1], scenario, live)
    for process in workers:
        process.join(timeout=15)
        if process.is_alive():
            process.kill()
    for sig, handler in previous.items():
        signal.signal(sig, handler)
    if live:
        out.write("\n")
    result = _result(scenario, totals, timeline, started_at, finished)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "loadtest.json").write_text(json.dumps(result, indent=2))
    write_html(result, report_dir / "loadtest.html")
    _summary(out, result, report_dir)
    return 0 if result["passed"] else 1


def _progress(out: TextIO, second: int, interval: Interval, scenario: Scenario, live: bool) -> None:
    p95 = {name: interval.latency[name].percentile(95) for name in LATENCIES}
    line = (
        f"t={second:>4}s bots={sum(interval.playing.values()):>5}/"
        f"{scenario.target_at(second):<5} moves/s={interval.sent.get('move', 0):>6} "
        f"p95 ack move={p95['ack_move']:6.1f}ms attack={p95['ack_attack']:6.1f}ms "
        f"chat={p95['ack_chat']:6.1f}ms errors={interval.failure_count}"
    )
    if live:
        out.write("\r" + line)
    elif second % 5 == 0:
        out.write(line + "\n")
    out.flush()


def _result(
    scenario: Scenario,
    totals: Interval,
    timeline: dict[int, Interval],
    started_at: float,
    finished: set[int],
) -> dict[str, Any]:
    thresholds = []
    for threshold in scenario.thresholds:
        if threshold.metric == "errors":
            value = totals.error_rate
            measured = totals.requests > 0
        else:
            histogram = totals.latency[threshold.metric]
            value = histogram.stat(threshold.stat)
            measured = histogram.count > 0
        # A threshold on something that never happened fails: a run where no bot got in
        # must not pass because nothing was slow.
        thresholds.append(
            {
                "metric": threshold.metric,
                "expression": threshold.expression,
                "value": round(value, 6) if measured else None,
                "passed": measured and threshold.passes(value),
            }
        )
    complete = len(finished) == scenario.processes
    # Bytes per player-second: what the bots received over the seconds they were playing.
    player_seconds = sum(sum(i.playing.values()) for i in timeline.values())
    return {
        "run_id": scenario.run_id,
        "started_at": started_at,
        "machine": {
            "node": platform.node(),
            "python": platform.python_version(),
            "cpus": multiprocessing.cpu_count(),
        },
        "scenario": asdict(scenario),
        "totals": {name: totals.latency[name].summary() for name in LATENCIES},
        "requests": totals.requests,
        "errors": {
            "count": totals.failure_count,
            "rate": round(totals.error_rate, 6),
            "by_kind": totals.failures,
        },
        "rejections": totals.rejections,
        "reconnects": totals.reconnects,
        "drops": totals.drops,
        "sent": totals.sent,
        "snapshots": totals.snapshots,
        "bytes_received": totals.bytes_in,
        "bytes_per_player_s": round(totals.bytes_in / player_seconds, 1)
        if player_seconds
        else None,
        "timeline": [
            {
                "t": second,
                "bots": sum(i.playing.values()),
                "target": scenario.target_at(second),
                "sent": i.sent,
                "errors": i.failure_count,
                "bytes_in": i.bytes_in,
                "latency": {
                    name: {
                        q: round(i.latency[name].percentile(float(q[1:])), 3)
                        for q in ("p50", "p95", "p99")
                    }
                    for name in LATENCIES
                },
                # the second's histograms, so any window of the run can be merged exactly
                "histograms": {name: i.latency[name].to_wire() for name in LATENCIES},
            }
            for second, i in sorted(timeline.items())
        ],
        "thresholds": thresholds,
        "complete": complete,
        "passed": complete and all(t["passed"] for t in thresholds),
    }


def _summary(out: TextIO, result: dict[str, Any], report_dir: Path) -> None:
    out.write(f"\n{'metric':<20}{'count':>9}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}\n")
    for name, row in result["totals"].items():
        out.write(
            f"{name:<20}{row['count']:>9}{row['p50']:>10.1f}{row['p95']:>10.1f}"
            f"{row['p99']:>10.1f}{row['max']:>10.1f}\n"
        )
    errors = result["errors"]
    out.write(
        f"requests {result['requests']}, errors {errors['count']} "
        f"({errors['rate']:.4%}) {errors['by_kind'] or ''}, "
        f"game rejections {result['rejections']}\n"
    )
    if result["bytes_per_player_s"] is not None:
        out.write(
            f"received {result['bytes_per_player_s'] / 1024:.2f} KB per player-second "
            f"({result['bytes_received']} bytes)\n"
        )
    if result["drops"]:
        out.write(
            f"connections dropped {sum(result['drops'].values())} {result['drops']}, "
            f"resumed {result['reconnects']} (same accounts and characters)\n"
        )
    if not result["complete"]:
        out.write("  FAIL a bot process died before the end of the run\n")
    for threshold in result["thresholds"]:
        mark = "PASS" if threshold["passed"] else "FAIL"
        out.write(
            f"  {mark} {threshold['metric']} {threshold['expression']} (was {threshold['value']})\n"
        )
    out.write(f"reports: {report_dir / 'loadtest.json'}, {report_dir / 'loadtest.html'}\n")
