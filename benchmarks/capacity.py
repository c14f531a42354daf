"""Players per server core: step the bot count and find the knee.

    .venv/bin/python benchmarks/capacity.py [--steps 500 1000 1500 2000] [--hold 20]

A zone server (town) runs alone on core 0; the gateway and the bots share core 1. Each step
ramps to N bots playing the seed's behaviour (move 10 Hz, chat every 5 s, attack every 2 s),
holds, and records the zone server's CPU over the hold, the P95 action→ack latency of every
action type, errors, the tick duration P99 (from the server's own histogram) and its memory.
The knee is the largest N with every P95 ≤ 100 ms, errors < 0.1 % and all bots playing.

Backends: the machine's PostgreSQL (a throwaway database) and Redis (directory, sessions,
checkpoints); no RabbitMQ (not on this path). Writes reports/capacity.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from openmmo.loadtest.stats import Histogram
from openmmo.testing.cluster import Cluster
from openmmo.testing.services import REDIS_URL, create_database, drop_database, namespace

ENV = {
    "MAX_PLAYERS": "20000",
    "AUTH_RATE_PER_IP": "100000",
    "AUTH_BURST_PER_IP": "100000",
    "LOG_LEVEL": "warning",
    "ARGON2_MAX_CONCURRENCY": "2",
}
TICKS = re.compile(
    r'^openmmo_tick_duration_seconds_bucket\{le="([^"]+)",zone="town"\} (\S+)$', re.M
)


def town_cluster(
    workdir: Path,
    database: str,
    *,
    channels: int = 1,
    env: dict[str, str] | None = None,
    pinned: bool = True,
) -> Cluster:
    """The town (``channels`` zone servers) and a gateway on ``database`` and the machine's
    Redis, set up for load (:data:`ENV` plus ``env``); ``pinned``: zone on core 0, gateway on
    core 1."""
    return Cluster(
        workdir,
        database_url=database,
        redis_url=REDIS_URL,
        rabbitmq_url=None,
        namespace=namespace(),
        zones=[1] * channels,
        env={**ENV, **(env or {})},
        cpus={"zone1-1": "0", "gateway": "1"} if pinned else None,
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tick_buckets(url: str) -> dict[float, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {float(le): float(count) for le, count in TICKS.findall(text)}


def tick_p99_ms(before: dict[float, float], after: dict[float, float]) -> float:
    counts = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = counts[-1][1] if counts else 0.0
    for le, cumulative in counts:
        if total and cumulative >= 0.99 * total:
            return le * 1000
    return float("nan")


def players_online(url: str) -> int:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(r'^openmmo_players_online\{zone="town"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


def window(report: dict[str, Any], first: float, last: float) -> dict[str, Histogram]:
    """The exact latency histograms of the seconds first..last of a load-test report."""
    merged = {name: Histogram() for name in ("ack_move", "ack_attack", "ack_chat")}
    for point in report["timeline"]:
        if first <= point["t"] <= last:
            for name, histogram in merged.items():
                histogram.merge(Histogram.from_wire(point["histograms"][name]))
    return merged


def step(cluster: Cluster, bots: int, hold_s: float, report_dir: Path) -> dict[str, Any]:
    """Ramp to ``bots``, wait until they all play, measure ``hold_s`` seconds, stop."""
    zone = cluster.processes["zone1-1"].process
    assert zone is not None
    health = cluster.health_url("zone1-1")
    ramp_s = max(5.0, bots / 100)
    command = [
        "taskset",
        "-c",
        "1",
        sys.executable,
        "-m",
        "openmmo",
        "loadtest",
        "--gateway",
        cluster.gateway_url,
        "--processes",
        "1",
        "--stages",
        f"{ramp_s}s:{bots},600s:{bots},2s:0",
        "--report-dir",
        str(report_dir),
    ]
    launched = time.monotonic()
    runner = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = launched + ramp_s * 3 + 120
    while players_online(health) < 0.99 * bots and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(3)  # let the last joins settle
    first = time.monotonic() - launched - 1.5  # loadtest time: it starts 1.5 s after launch
    cpu0, ticks0, wall0 = cpu_seconds(zone.pid), tick_buckets(health), time.monotonic()
    time.sleep(hold_s)
    cpu1, ticks1, wall1 = cpu_seconds(zone.pid), tick_buckets(health), time.monotonic()
    playing = players_online(health)
    rss = rss_mb(zone.pid)
    runner.send_signal(signal.SIGINT)
    output, _ = runner.communicate(timeout=120)
    report = json.loads((report_dir / "loadtest.json").read_text())
    latency = window(report, first + 1, first + hold_s - 1)
    return {
        "bots": bots,
        "playing": playing,
        "zone_cpu": round((cpu1 - cpu0) / (wall1 - wall0), 3),
        "p95_ms": {
            name.removeprefix("ack_"): round(h.percentile(95), 1) for name, h in latency.items()
        },
        "p99_ms": {
            name.removeprefix("ack_"): round(h.percentile(99), 1) for name, h in latency.items()
        },
        "samples": {name.removeprefix("ack_"): h.count for name, h in latency.items()},
        "errors": report["errors"]["count"],
        "error_rate": report["errors"]["rate"],
        "tick_p99_ms": round(tick_p99_ms(ticks0, ticks1), 2),
        "zone_rss_mb": round(rss, 1),
        "loadtest_output_tail": output.splitlines()[-3:],
    }


def good(row: dict[str, Any]) -> bool:
    return (
        all(v <= 100 for v in row["p95_ms"].values())
        and row["error_rate"] < 0.001
        and row["playing"] >= 0.99 * row["bots"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[500, 1000, 1500, 2000, 2500])
    parser.add_argument("--hold", type=float, default=20.0)
    args = parser.parse_args()
    database = create_database()
    workdir = Path(tempfile.mkdtemp(prefix="openmmo-capacity-"))
    cluster = town_cluster(workdir, database)
    rows = []
    try:
        cluster.start()
        zone_pid = cluster.processes["zone1-1"].process.pid  # type: ignore[union-attr]
        idle_rss = rss_mb(zone_pid)
        for bots in args.steps:
            row = step(cluster, bots, args.hold, workdir / f"step-{bots}")
            rows.append(row)
            print(
                f"{bots:>6} bots: playing {row['playing']:>5}  zone cpu {row['zone_cpu']:5.2f}"
                f"  p95 move {row['p95_ms']['move']:6.1f} attack {row['p95_ms']['attack']:6.1f}"
                f" chat {row['p95_ms']['chat']:6.1f} ms  errors {row['errors']:>4}"
                f"  tick p99 {row['tick_p99_ms']:6.1f} ms  rss {row['zone_rss_mb']:.0f} MB"
                f"  {'ok' if good(row) else 'OVER'}",
                flush=True,
            )
            time.sleep(3)
    finally:
        cluster.stop_all()
        drop_database(database)
    fits = [r for r in rows if good(r)]
    knee = max((r["bots"] for r in fits), default=0)
    per_player_kb = None
    if fits:
        best = max(fits, key=lambda r: r["bots"])
        per_player_kb = round((best["zone_rss_mb"] - idle_rss) * 1024 / best["bots"], 1)
    summary = {
        "knee_players_per_core": knee,
        "idle_rss_mb": round(idle_rss, 1),
        "memory_per_player_kb": per_player_kb,
        "steps": rows,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "steps"}))
    Path("reports").mkdir(exist_ok=True)
    Path("reports/capacity.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
