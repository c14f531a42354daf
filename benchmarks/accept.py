"""Accepting players while the zone is busy: a burst of joins into a loaded zone server.

    .venv/bin/python benchmarks/accept.py [--players 2000] [--burst 500] [--rate 500]
        [--hold 20] [--quiet-load 0.7]

A busy event loop accepts connections slowly (a prototype accepted ~100 per second under tick
load), and a burst of joins can stall the players already in the world. This measures both.
The town zone server runs alone on core 0 with ``--players`` C bots playing the seed's
behaviour (benchmarks/reference.py's setup: gateway and bots on core 1). Halfway through the
load's measurement window, ``--burst`` more players join at once: their tickets are fetched
from the gateway first (login by device id, ``POST /api/zones/1/join``), then a second bots.c
connects them at ``--rate`` per second. Reported: each new player's time from TCP connect to
``joined`` (WebSocket upgrade, ticket check, character load from PostgreSQL, ownership claim)
and the achieved join rate; the playing players' P95 action→ack over the window that contains
the burst. Writes reports/accept.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capacity import rss_mb, town_cluster
from reference import (
    BOTS_CORE,
    Window,
    build,
    device_logins,
    machine_options,
    quiet_machine,
    row_of,
    run_bots,
    show,
)

from openmmo.testing.services import create_database, drop_database, namespace


class LoadWindow(Window):
    """The load's window, telling the burst when it opened."""

    def __init__(self, pid: int, health_url: str):
        super().__init__(pid, health_url, None)
        self.opened = asyncio.Event()

    async def sample(self, event: str) -> None:
        await super().sample(event)
        if event == "window_start":
            self.opened.set()


async def burst(
    binaries: dict[str, Path],
    port: int,
    gateway: str,
    args: argparse.Namespace,
    window: LoadWindow,
    workdir: Path,
) -> dict[str, Any]:
    """Wait until the load's window is half over, then join ``--burst`` players at once."""
    await window.opened.wait()
    await asyncio.sleep(args.hold / 2 - 4)  # fetching the tickets takes a few seconds
    started = asyncio.get_running_loop().time()
    run = namespace()
    devices = [f"burst-{run}-{index}" for index in range(args.burst)]
    tickets = await device_logins(gateway, devices, join_zone=1)
    fetched_s = asyncio.get_running_loop().time() - started
    path = workdir / "burst-tickets.txt"
    path.write_text("\n".join(tickets) + "\n")
    out = workdir / "burst.json"
    proc = await asyncio.create_subprocess_exec(
        "taskset", "-c", BOTS_CORE, str(binaries["bots"]), "--port", str(port),
        "--bots", str(args.burst), "--tokens", str(path), "--rate", str(args.rate),
        "--inflight", str(args.burst), "--settle", "0", "--hold", "2", "--linger", "0",
        "--join-timeout", "30", "--seed", "7", "--out", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await proc.wait()
    report: dict[str, Any] = json.loads(out.read_text())
    report["tickets_fetched_s"] = round(fetched_s, 2)
    return report


async def run(args: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {int(BOTS_CORE)})
    quiet = await quiet_machine(args)
    binaries = build()
    workdir = Path(tempfile.mkdtemp(prefix="openmmo-accept-"))
    database = create_database()
    cluster = town_cluster(workdir / "cluster", database)
    try:
        await asyncio.to_thread(cluster.start)
        zone = cluster.processes["zone1-1"]
        assert zone.process is not None
        window = LoadWindow(zone.process.pid, cluster.health_url("zone1-1"))
        joining = asyncio.create_task(
            burst(binaries, zone.server_port, cluster.gateway_url, args, window, workdir)
        )
        load = await run_bots(
            binaries, zone.server_port, args.players, args.hold, 100.0,
            workdir / "load.json", window, (cluster.gateway_url, namespace()),
        )  # fmt: skip
        joined = await joining
        row = row_of("ours", args.players, load, window, rss_mb=round(rss_mb(zone.process.pid)))
    finally:
        await asyncio.to_thread(cluster.stop_all)
        drop_database(database)
    return {
        "started": args.started,
        "machine": "2 vCPU AMD EPYC VM, Debian 12",
        "command": " ".join(sys.argv),
        "quiet": quiet,
        "load": row,
        "burst": {
            "players": args.burst,
            "rate": args.rate,
            "playing": joined["playing"],
            "join": joined["join"],
            "joins_per_s": round(joined["join"]["count"] / joined["join"]["span_s"], 1)
            if joined["join"]["span_s"]
            else None,
            "errors": joined["errors"],
            "tickets_fetched_s": joined["tickets_fetched_s"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--players", type=int, default=2000, help="playing while the burst joins")
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--rate", type=float, default=500.0, help="burst connects per second")
    parser.add_argument("--hold", type=float, default=20.0)
    machine_options(parser, cpu_share=False)
    parser.add_argument("--out", default="reports/accept.json")
    args = parser.parse_args()
    args.started = datetime.now(UTC).isoformat(timespec="seconds")
    result = asyncio.run(run(args))
    show(result["load"])
    b = result["burst"]
    print(
        f"burst of {b['players']} at {b['rate']:g}/s: {b['playing']} joined, "
        f"{b['joins_per_s']} joins/s; connect→joined P50 {b['join']['p50_ms']:.1f} "
        f"P95 {b['join']['p95_ms']:.1f} P99 {b['join']['p99_ms']:.1f} ms; "
        f"errors {b['errors']['count']} {b['errors']['kinds']}; "
        f"tickets fetched in {b['tickets_fetched_s']} s"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
