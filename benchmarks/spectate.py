"""What one console watching costs a zone server: its CPU with and without a spectator.

    .venv/bin/python benchmarks/spectate.py [--bots 2000] [--window 15] [--pairs 3]

A zone server (town, core 0) holds N load-test bots (gateway and bots on core 1, as in
capacity.py). Then, interleaved A B A B (the machine drifts within minutes), windows of
``--window`` seconds without and with one spectator connected to its ``/spectate`` socket
(an admin reading every world frame). Prints and writes reports/spectate.json: the zone's
CPU (cores) in each window, the difference per pair, and the frames and bytes received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capacity import cpu_seconds, players_online, town_cluster

from openmmo.client import GatewayClient
from openmmo.testing.services import create_database, drop_database


class Watcher(threading.Thread):
    """A spectator in a thread of its own (so the bots' process is not disturbed)."""

    def __init__(self, url: str, token: str):
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.frames = self.bytes = 0
        self.stop = threading.Event()

    def run(self) -> None:
        asyncio.run(self._watch())

    async def _watch(self) -> None:
        async with websockets.connect(self.url, max_size=2**24) as ws:
            await ws.send(msgpack.packb({"type": "auth", "token": self.token}))
            welcome = msgpack.unpackb(await ws.recv())
            assert welcome["type"] == "welcome", welcome
            while not self.stop.is_set():
                try:
                    data = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                self.frames += 1
                self.bytes += len(data)


def admin_token(cluster: Any) -> str:
    async def login() -> str:
        gateway = GatewayClient(cluster.gateway_url)
        await gateway.register("bench_admin", "correct horse battery")
        return str(gateway.token)

    token = asyncio.run(login())
    subprocess.run(
        [sys.executable, "-m", "openmmo", "admin", "grant-admin", "bench_admin"],
        env=cluster.base_env,
        check=True,
        capture_output=True,
    )
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bots", type=int, default=2000)
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args()
    args.report_dir.mkdir(parents=True, exist_ok=True)
    database = create_database()
    workdir = Path(tempfile.mkdtemp(prefix="openmmo-spectate-"))
    cluster = town_cluster(workdir, database)
    runner = None
    try:
        cluster.migrate()
        cluster.start()
        token = admin_token(cluster)
        zone = cluster.processes["zone1-1"].process
        assert zone is not None
        health = cluster.health_url("zone1-1")
        ramp_s = max(5.0, args.bots / 100)
        runner = subprocess.Popen(
            ["taskset", "-c", "1", sys.executable, "-m", "openmmo", "loadtest",
             "--gateway", cluster.gateway_url, "--processes", "1",
             "--stages", f"{ramp_s}s:{args.bots},3600s:{args.bots},2s:0",
             "--report-dir", str(workdir / "loadtest")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + ramp_s * 3 + 360  # joins come at ~10/s
        while players_online(health) < 0.99 * args.bots and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(5)
        spectate_url = cluster.zone_url("zone1-1").removesuffix("/ws") + "/spectate"
        rows = []
        for pair in range(args.pairs):
            row: dict[str, Any] = {"pair": pair + 1}
            for watching in (False, True):
                watcher = Watcher(spectate_url, token) if watching else None
                if watcher:
                    watcher.start()
                    time.sleep(1)  # authenticated, frames flowing
                cpu0, wall0 = cpu_seconds(zone.pid), time.monotonic()
                time.sleep(args.window)
                cores = (cpu_seconds(zone.pid) - cpu0) / (time.monotonic() - wall0)
                row["with" if watching else "without"] = round(cores, 4)
                if watcher:
                    row["frames_per_s"] = round(watcher.frames / (args.window + 1), 2)
                    row["kb_per_frame"] = round(watcher.bytes / max(watcher.frames, 1) / 1024, 1)
                    watcher.stop.set()
                    watcher.join(5)
            row["difference"] = round(row["with"] - row["without"], 4)
            row["players"] = players_online(health)
            rows.append(row)
            print(json.dumps(row))
        differences = [r["difference"] for r in rows]
        result = {
            "bots": args.bots,
            "window_s": args.window,
            "machine": f"{platform.processor() or platform.machine()}, {platform.node()}",
            "pairs": rows,
            "difference_cores": {
                "median": round(statistics.median(differences), 4),
                "min": min(differences),
                "max": max(differences),
            },
            "relative": round(
                statistics.median(differences) / statistics.median(r["without"] for r in rows), 4
            ),
        }
        (args.report_dir / "spectate.json").write_text(json.dumps(result, indent=2))
        print(json.dumps({k: v for k, v in result.items() if k != "pairs"}, indent=2))
    finally:
        if runner is not None:
            runner.send_signal(signal.SIGINT)
            try:
                runner.wait(60)
            except subprocess.TimeoutExpired:
                runner.kill()
        cluster.stop_all()
        drop_database(database)


if __name__ == "__main__":
    main()
