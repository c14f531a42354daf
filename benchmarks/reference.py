"""Against the physical limit: our zone server next to a minimal C epoll server, same harness.

    .venv/bin/python benchmarks/reference.py [--steps 500 1000 1500 2000 2500]
        [--c-steps 500 1000 2000 3000 4000 5000] [--hold 20] [--quiet-load 0.7]
        [--protocol {1,2}] [--profile reports/ours]

Both servers run alone on core 0 (``taskset -c 0``); the load generator is
``benchmarks/reference/bots.c`` (single-threaded C, epoll) on core 1, so the bots are not the
bottleneck the Python load test was at ~1,000 bots. The bots speak the real protocol (msgpack,
docs/reference/protocol.md) and play the seed's behaviour: move at 10 Hz, attack the nearest
NPC within reach every 2 s, chat (``say``) every 5 s, each with a seq; latency is action→ack.

* **Ours**: a town zone server and the gateway, started like benchmarks/capacity.py (the
  machine's PostgreSQL and Redis, MAX_PLAYERS high, auth rate limits raised); the zone pinned
  to core 0, the gateway to core 1. Each bot logs in by device id and gets a join ticket
  (``POST /api/zones/1/join``) from the gateway; tickets are fed to bots.c as they are issued
  (they are single-use and live 30 s). Every step uses new devices, so its characters are
  new and spread over the town's spawn area like in benchmarks/capacity.py (reused ones would
  have wandered away from it, thinning the crowd, and some into the portal to the wilds).
* **C reference**: ``benchmarks/reference/server.c`` — accepts the same upgrade, reads every
  frame, acks attacks and chat at once, and writes one snapshot per client per tick under the
  same rule as ours, of the size our server's snapshots had at the same player count (measured
  by the bots in our run at the steps it kept up with; a least-squares line through those
  above them).

``--protocol 2``: the bots offer protocol v2 (``openmmo.v2.msgpack``, delta snapshots,
docs/reference/protocol.md §8.4) and keep each one's view from the deltas; the default is v1.
Ours then speaks v2; the C reference speaks v1 only, so its bots fall back to v1 (they read
``welcome.protocol``), and its snapshots are sent under v1's rule at the mean size the bots saw
from ours (v2 deltas) — a comparison of bandwidth, not of the same work. Every row has
``bytes_per_player_s`` (every frame a bot received, per second) and the protocol the bots
were welcomed with.

Each step: start N bots (ramping), wait until all play, settle 3 s, measure ``--hold`` seconds:
the server's CPU (``/proc/<pid>/stat``), core 0's busy time (to see interference), P50/P95/P99
per action, errors, snapshots. The knee is the largest N with every P95 ≤ 100 ms, errors <
0.1 % and every bot playing, all smaller steps passing too. Writes reports/reference.json
and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capacity import cpu_seconds, players_online, rss_mb, tick_buckets, tick_p99_ms, town_cluster

from openmmo.testing.local import free_port
from openmmo.testing.services import create_database, drop_database, namespace

HERE = Path(__file__).resolve().parent / "reference"
NOISY = 0.05  # a step is flagged when other processes took this much of the server's core
SERVER_CORE, BOTS_CORE = "0", "1"


# --- machine ------------------------------------------------------------------------------
def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_quiet(threshold: float, max_wait_s: float) -> dict[str, Any]:
    """Wait until the 1-minute load average is below ``threshold`` (other work shares the
    machine); give up after ``max_wait_s`` and say so."""
    started = time.monotonic()
    first = loadavg()
    while loadavg() >= threshold and time.monotonic() - started < max_wait_s:
        print(f"waiting for a quiet machine: load {loadavg():.2f} ≥ {threshold}", flush=True)
        time.sleep(30)
    value = loadavg()
    return {
        "threshold": threshold,
        "load_before_wait": first,
        "load_at_start": value,
        "waited_s": round(time.monotonic() - started),
        "quiet": value < threshold,
    }


def share_of_core(text: str) -> float:
    """argparse type of ``--cpu-share``: 0 < share ≤ 1."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text}: a share of one core, 0 < share <= 1")
    return value


def machine_options(parser: argparse.ArgumentParser, *, cpu_share: bool = True) -> None:
    """The options every benchmark driver takes about the machine it runs on."""
    parser.add_argument(
        "--quiet-load",
        type=float,
        default=0.7,
        help="wait for a 1-minute load average below this first (0: don't)",
    )
    parser.add_argument("--quiet-wait", type=float, default=1200.0)
    if cpu_share:
        parser.add_argument(
            "--cpu-share",
            type=share_of_core,
            default=None,
            help="hold the server to this share of its core (e.g. 0.3), so the bots can "
            "saturate it",
        )


async def quiet_machine(args: argparse.Namespace) -> dict[str, Any]:
    """Wait for a quiet machine as ``--quiet-load`` asks; what :func:`wait_quiet` saw."""
    if not args.quiet_load:
        return {}
    return await asyncio.to_thread(wait_quiet, args.quiet_load, args.quiet_wait)


def core_times(core: str) -> tuple[float, float]:
    """(busy, total) jiffies of one CPU from /proc/stat; steal counts as busy (not ours)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + values[4]
            return float(sum(values[:8]) - idle), float(sum(values[:8]))
    raise RuntimeError(f"no cpu{core} in /proc/stat")


def user_system(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process; system includes the loopback receive path of
    the peer that the kernel runs inside this process's sends."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


CGROUP_CPU = Path("/sys/fs/cgroup/cpu")  # the cgroup v1 cpu controller of these machines
CPU_PERIOD_US = 10_000  # short periods: throttling delays a server by at most a few ms


class CpuShare:
    """Holds a server process (all its threads) to ``share`` of one core with the kernel's CFS
    bandwidth control: a core as slow as the load generator can saturate, the same for every
    server. ``with CpuShare(pid, 0.3):`` ... Without a share, does nothing."""

    def __init__(self, pid: int, share: float | None):
        self.pid, self.share = pid, share
        self.group = CGROUP_CPU / f"openmmo-bench-{pid}"

    def __enter__(self) -> CpuShare:
        if self.share is None:
            return self
        if not (CGROUP_CPU / "cpu.cfs_quota_us").exists():
            raise RuntimeError(f"--cpu-share needs the cgroup v1 cpu controller at {CGROUP_CPU}")
        self.group.mkdir(exist_ok=True)
        (self.group / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
        (self.group / "cpu.cfs_quota_us").write_text(str(round(CPU_PERIOD_US * self.share)))
        (self.group / "cgroup.procs").write_text(str(self.pid))
        return self

    def throttled(self) -> dict[str, int]:
        """The controller's counters: periods, throttled periods, throttled nanoseconds."""
        if self.share is None:
            return {}
        lines = (self.group / "cpu.stat").read_text().split("\n")
        return {k: int(v) for k, v in (line.split() for line in lines if line)}

    def __exit__(self, *exc: object) -> None:
        if self.share is None or not self.group.exists():
            return
        for pid in (self.group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):  # exited meanwhile
                (CGROUP_CPU / "cgroup.procs").write_text(pid)
        self.group.rmdir()


def build() -> dict[str, Path]:
    out = Path(tempfile.mkdtemp(prefix="openmmo-ref-bin-"))
    binaries = {}
    for name in ("bots", "server"):
        binaries[name] = out / name
        subprocess.run(
            ["cc", "-O2", "-Wall", "-o", str(out / name), str(HERE / f"{name}.c"), "-lm"],
            check=True,
        )
    return binaries


class Window:
    """What the driver samples when bots.c opens and closes its measurement window; with
    ``profile`` (a path), py-spy records the server's Python stacks (without pausing it) during
    it, as collapsed stacks that ``flamegraph.pl`` or speedscope read."""

    def __init__(
        self,
        pid: int,
        health_url: str | None,
        c_server: CServer | None,
        profile: Path | None = None,
    ):
        self.pid, self.health_url, self.c_server = pid, health_url, c_server
        self.marks: dict[str, dict[str, Any]] = {}
        self.profile = profile
        self.profiler: asyncio.subprocess.Process | None = None

    async def sample(self, event: str) -> None:
        if self.profile and event == "window_start":
            self.profile.parent.mkdir(parents=True, exist_ok=True)
            py_spy = str(Path(sys.executable).with_name("py-spy"))
            self.profiler = await asyncio.create_subprocess_exec(
                *["taskset", "-c", BOTS_CORE, py_spy, "record"],
                *["--pid", str(self.pid), "--rate", "100", "--nonblocking"],
                *["--format", "raw", "--output", str(self.profile)],
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        if self.profiler and event == "window_end":
            if self.profiler.returncode is None:
                self.profiler.send_signal(signal.SIGINT)  # py-spy writes its file and exits
            if await self.profiler.wait():
                print(f"py-spy failed (exit {self.profiler.returncode})", file=sys.stderr)
        mark: dict[str, Any] = {
            "wall": time.monotonic(),
            "cpu": cpu_seconds(self.pid),
            "user_system": user_system(self.pid),
            "core": core_times(SERVER_CORE),
            "load": loadavg(),
        }
        if self.health_url:
            mark["ticks"] = await asyncio.to_thread(tick_buckets, self.health_url)
        if self.c_server:
            mark["stats"] = await self.c_server.stats()
        self.marks[event] = mark

    def summary(self) -> dict[str, Any]:
        start, end = self.marks["window_start"], self.marks["window_end"]
        wall = end["wall"] - start["wall"]
        cpu = (end["cpu"] - start["cpu"]) / wall
        busy = (end["core"][0] - start["core"][0]) / max(1.0, end["core"][1] - start["core"][1])
        result: dict[str, Any] = {
            "server_cpu": round(cpu, 3),
            "server_user": round((end["user_system"][0] - start["user_system"][0]) / wall, 3),
            "server_system": round((end["user_system"][1] - start["user_system"][1]) / wall, 3),
            "core0_busy": round(busy, 3),
            "core0_other": round(max(0.0, busy - cpu), 3),  # other processes on the server core
            "noisy": busy - cpu >= NOISY,
            "load_avg": end["load"],
        }
        if "ticks" in start:
            result["tick_p99_ms"] = round(tick_p99_ms(start["ticks"], end["ticks"]), 2)
        if "stats" in start:
            a, b = start["stats"], end["stats"]
            before = {float(k.replace("+Inf", "inf")): v for k, v in a["tick_buckets"].items()}
            after = {float(k.replace("+Inf", "inf")): v for k, v in b["tick_buckets"].items()}
            cumulative_a, cumulative_b, total_a, total_b = {}, {}, 0, 0
            for le in sorted(after):
                total_a += before.get(le, 0)
                total_b += after[le]
                cumulative_a[le], cumulative_b[le] = total_a, total_b
            result["tick_p99_ms"] = round(tick_p99_ms(cumulative_a, cumulative_b), 2)
            result["snapshots_skipped"] = b["skipped"] - a["skipped"]
        return result


class CServer:
    def __init__(self, binary: Path, port: int, snapshot_bytes: int):
        self.binary, self.port, self.snapshot_bytes = binary, port, snapshot_bytes
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> int:
        self.proc = await asyncio.create_subprocess_exec(
            "taskset", "-c", SERVER_CORE, str(self.binary), "--port", str(self.port),
            "--snapshot-bytes", str(self.snapshot_bytes),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        return self.proc.pid

    async def stats(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        self.proc.send_signal(signal.SIGUSR1)
        line = await asyncio.wait_for(self.proc.stdout.readline(), 5)
        stats: dict[str, Any] = json.loads(line)
        return stats

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.communicate(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# --- tickets from the gateway ---------------------------------------------------------------
AHEAD = 64  # tickets handed out beyond the bots that finished joining


class Progress:
    """bots.c's ``progress`` lines: how many bots have joined or failed so far."""

    def __init__(self) -> None:
        self.done = 0
        self._event = asyncio.Event()

    def update(self, done: int) -> None:
        self.done = done
        self._event.set()

    async def changed(self) -> None:
        self._event.clear()
        await self._event.wait()


async def feed_tickets(
    gateway: str,
    run: str,
    bots: int,
    rate: float,
    sink: asyncio.StreamWriter,
    stats: dict[str, int],
    progress: Progress,
) -> None:
    """Log each bot in by device id, get a join ticket for the town and hand it to bots.c at
    once: at most ``rate`` per second, and at most ``AHEAD`` tickets beyond the bots that have
    joined (or failed), so no ticket waits long enough to expire when joins are slow."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(bots):
        queue.put_nowait(index)
    started = time.monotonic()
    issued = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal issued
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            while index >= progress.done + AHEAD:
                await progress.changed()
            ticket = ""
            for _ in range(3):
                try:
                    login = await client.post(
                        "/auth/device", json={"device_id": f"ref-{run}-{index:06d}"}
                    )
                    login.raise_for_status()
                    grant = await client.post(
                        "/api/zones/1/join",
                        json={},
                        headers={"Authorization": f"Bearer {login.json()['token']}"},
                    )
                    grant.raise_for_status()
                    ticket = grant.json()["ticket"]
                    break
                except (httpx.HTTPError, KeyError, ValueError):
                    stats["ticket_retries"] = stats.get("ticket_retries", 0) + 1
                    await asyncio.sleep(0.5)
            if not ticket:
                stats["ticket_failures"] = stats.get("ticket_failures", 0) + 1
                ticket = "no-ticket"  # bots.c connects and counts the refusal as an error
            sink.write(f"{ticket}\n".encode())
            await sink.drain()
            issued += 1

    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=gateway, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(16)))
    sink.close()


async def device_logins(
    gateway: str, device_ids: list[str], *, join_zone: int | None = None
) -> list[str]:
    """Log each device in, 16 requests at a time (a new device gets an account and a
    character); returns the access tokens, or with ``join_zone`` a join ticket for that zone
    per device, in ``device_ids``' order."""
    results = [""] * len(device_ids)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(device_ids)):
        queue.put_nowait(index)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            login = await client.post("/auth/device", json={"device_id": device_ids[index]})
            login.raise_for_status()
            results[index] = login.json()["token"]
            if join_zone is not None:
                grant = await client.post(
                    f"/api/zones/{join_zone}/join",
                    json={},
                    headers={"Authorization": f"Bearer {results[index]}"},
                )
                grant.raise_for_status()
                results[index] = grant.json()["ticket"]

    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=gateway, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(16)))
    return results


# --- one step -------------------------------------------------------------------------------
async def run_bots(
    binaries: dict[str, Path],
    port: int | str,
    bots: int,
    hold: float,
    rate: float,
    out: Path,
    window: Window,
    tickets: tuple[str, str] | None,
    *,
    extra: tuple[str, ...] = (),
    core: str | None = BOTS_CORE,
) -> dict[str, Any]:
    """Run bots.c for one step; ``tickets`` = (gateway url, run id) to fetch real tickets;
    ``port`` may list several ("7001,7002"); ``extra`` adds bots.c options; ``core`` pins it
    (None: anywhere)."""
    command = [
        *(["taskset", "-c", core] if core else []), str(binaries["bots"]), "--port", str(port),
        "--bots", str(bots), "--hold", str(hold), "--settle", "3", "--rate", str(rate),
        "--inflight", "200", "--join-timeout", str(bots / rate * 2 + 60), "--linger", "3",
        "--out", str(out), *extra,
    ]  # fmt: skip
    if tickets:
        command += ["--tokens", "-"]
    log = out.with_suffix(".log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE if tickets else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    feed_stats: dict[str, int] = {}
    feeder = None
    progress = Progress()
    if tickets:
        assert proc.stdin is not None
        feeder = asyncio.create_task(
            feed_tickets(tickets[0], tickets[1], bots, rate, proc.stdin, feed_stats, progress)
        )
    assert proc.stdout is not None
    async for line in proc.stdout:
        message = json.loads(line)
        event = message["event"]
        if event == "progress":
            progress.update(message["done"])
            continue
        await window.sample(event)
        if event == "window_end" and window.health_url:
            window.marks["playing_server"] = {
                "n": await asyncio.to_thread(players_online, window.health_url),
                "rss": rss_mb(window.pid),
            }
    await proc.wait()
    log.close()
    if feeder:
        if not feeder.done():  # bots.c gave up waiting for joins
            feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await feeder
    report: dict[str, Any] = json.loads(await asyncio.to_thread(out.read_text))
    report["ticket_feed"] = feed_stats
    return report


def protocol_flags(protocol: int) -> tuple[str, ...]:
    """bots.c's options for ``--protocol``: none for v1 (its default)."""
    return () if protocol == 1 else ("--protocol", str(protocol))


def row_of(
    server: str, bots: int, report: dict[str, Any], window: Window, **extra: Any
) -> dict[str, Any]:
    actions = report["actions"]
    row = {
        "server": server,
        "bots": bots,
        "playing": report["playing"],
        **window.summary(),
        "bots_cpu": report["bots_cpu"],
        "p50_ms": {a: v["p50_ms"] for a, v in actions.items()},
        "p95_ms": {a: v["p95_ms"] for a, v in actions.items()},
        "p99_ms": {a: v["p99_ms"] for a, v in actions.items()},
        "samples": {a: v["count"] for a, v in actions.items()},
        "errors": report["errors"]["count"],
        "error_rate": report["errors"]["rate"],
        "error_kinds": report["errors"]["kinds"],
        "snapshot_bytes": report["snapshot_bytes_mean"],
        "snapshots_per_player_s": report["snapshots_per_bot_s"],
        "rejections": report["rejections"],
        "join_retries": report["join_retries"],
        "ticket_feed": report["ticket_feed"],
        "bytes_per_player_s": report.get("bytes_in_per_bot_s"),
        "protocol": report.get("protocol"),
        **extra,
    }
    if "playing_server" in window.marks:
        row["playing_server"] = window.marks["playing_server"]["n"]
        row["server_rss_mb"] = round(window.marks["playing_server"]["rss"], 1)
    row["us_per_player_s"] = round(row["server_cpu"] * 1e6 / bots, 1) if bots else None
    row["ok"] = good(row)
    return row


def good(row: dict[str, Any]) -> bool:
    return (
        all(v <= 100 for v in row["p95_ms"].values())
        and row["error_rate"] < 0.001
        and row["playing"] >= row["bots"]
    )


def show(row: dict[str, Any]) -> None:
    p95 = row["p95_ms"]
    print(
        f"{row['server']:>4} {row['bots']:>6} bots: playing {row['playing']:>5}"
        f"  server cpu {row['server_cpu']:5.2f} (core0 other {row['core0_other']:4.2f})"
        f"  {row['us_per_player_s']:6.1f} µs/player-s"
        f"  p95 move {p95['move']:6.1f} attack {p95['attack']:6.1f} chat {p95['chat']:6.1f} ms"
        f"  errors {row['errors']:>4}  tick p99 {row.get('tick_p99_ms', float('nan')):6.1f} ms"
        f"{'  NOISY' if row['noisy'] else ''}"
        f"  snap {row['snapshot_bytes']:6.0f} B"
        f"  rx {row['bytes_per_player_s'] or 0:7.0f} B/player-s"
        f"  bots cpu {row['bots_cpu']:4.2f}"
        f"  {'ok' if row['ok'] else 'OVER'}",
        flush=True,
    )


# --- the two servers ------------------------------------------------------------------------
async def measure_ours(
    binaries: dict[str, Path],
    steps: list[int],
    hold: float,
    rate: float,
    workdir: Path,
    share: float | None = None,
    protocol: int = 1,
    profile: Path | None = None,
) -> list[dict[str, Any]]:
    database = create_database()
    cluster = town_cluster(workdir / "cluster", database)
    rows = []
    run = namespace()
    try:
        await asyncio.to_thread(cluster.start)
        zone = cluster.processes["zone1-1"]
        assert zone.process is not None
        health = cluster.health_url("zone1-1")
        idle_rss = rss_mb(zone.process.pid)
        for bots in steps:
            stacks = profile.with_name(f"{profile.stem}-{bots}.txt") if profile else None
            window = Window(zone.process.pid, health, None, stacks)
            with CpuShare(zone.process.pid, share) as limit:
                report = await run_bots(
                    binaries, zone.server_port, bots, hold, rate, workdir / f"ours-{bots}.json",
                    window, (cluster.gateway_url, f"{run}-{bots}"), extra=protocol_flags(protocol),
                )  # fmt: skip
                throttled = limit.throttled()
            row = row_of(
                "ours", bots, report, window, idle_rss_mb=round(idle_rss, 1),
                cpu_share=share, throttled=throttled,
            )  # fmt: skip
            rows.append(row)
            show(row)
            await asyncio.to_thread(wait_empty, health, 60)  # every character saved and gone
            await asyncio.sleep(2)
    finally:
        await asyncio.to_thread(cluster.stop_all)
        drop_database(database)
    return rows


def wait_empty(health: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while players_online(health) > 0 and time.monotonic() < deadline:
        time.sleep(1)


def snapshot_size(measured: dict[int, float], bots: int) -> int:
    """Our snapshot size at ``bots`` players: measured, else a least-squares line through the
    measurements (density grows linearly with the player count in the same spawn area)."""
    if bots in measured:
        return round(measured[bots])
    points = sorted(measured.items())
    if len(points) < 2:
        return round(points[0][1] * bots / points[0][0]) if points else 1500
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return round(my + slope * (bots - mx))


async def measure_c(
    binaries: dict[str, Path],
    steps: list[int],
    hold: float,
    rate: float,
    workdir: Path,
    sizes: dict[int, float],
    share: float | None = None,
    protocol: int = 1,
) -> list[dict[str, Any]]:
    rows = []
    for bots in steps:
        size = snapshot_size(sizes, bots)
        port = free_port()
        server = CServer(binaries["server"], port, size)
        pid = await server.start()
        try:
            window = Window(pid, None, server)
            with CpuShare(pid, share) as limit:
                report = await run_bots(
                    binaries, port, bots, hold, rate, workdir / f"c-{bots}.json", window, None,
                    extra=protocol_flags(protocol),
                )  # fmt: skip
                throttled = limit.throttled()
            row = row_of(
                "c", bots, report, window, snapshot_bytes_target=size, cpu_share=share,
                throttled=throttled,
            )  # fmt: skip
        finally:
            await server.stop()
        rows.append(row)
        show(row)
        await asyncio.sleep(2)
    return rows


def knee(rows: list[dict[str, Any]]) -> int:
    """The largest N that passed with every smaller step passing too (near saturation a step
    can pass by luck after a smaller one failed; that is not capacity)."""
    best = 0
    for row in sorted(rows, key=lambda r: r["bots"]):
        if not row["ok"]:
            break
        best = row["bots"]
    return best


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {int(BOTS_CORE)})  # the driver (and its ticket fetching) off core 0
    binaries = build()
    workdir = Path(tempfile.mkdtemp(prefix="openmmo-reference-"))
    quiet: dict[str, Any] = {}
    started = datetime.now(UTC).isoformat(timespec="seconds")
    ours: list[dict[str, Any]] = []
    if "ours" in args.servers:
        quiet["ours"] = await quiet_machine(args)
        ours = await measure_ours(
            binaries, args.steps, args.hold, args.rate_ours, workdir, args.cpu_share,
            args.protocol, Path(args.profile) if args.profile else None,
        )  # fmt: skip
    # Sizes only from steps where our server kept up: an overloaded one skips snapshots, and
    # the events then pile up in the next one, which says nothing about the crowd's density.
    sizes = {r["bots"]: r["snapshot_bytes"] for r in ours if r["ok"] and r["snapshot_bytes"]}
    sizes.update({int(k): float(v) for k, v in (s.split(":") for s in args.sizes)})
    reference: list[dict[str, Any]] = []
    if "c" in args.servers:
        quiet["c"] = await quiet_machine(args)
        reference = await measure_c(
            binaries, args.c_steps or args.steps, args.hold, args.rate_c, workdir, sizes,
            args.cpu_share, args.protocol,
        )  # fmt: skip
    ours_knee, c_knee = knee(ours), knee(reference)
    by_n = {r["bots"]: r for r in reference}
    equal_n = [
        {
            "bots": r["bots"],
            "ours_us_per_player_s": r["us_per_player_s"],
            "c_us_per_player_s": by_n[r["bots"]]["us_per_player_s"],
            "fraction": round(by_n[r["bots"]]["us_per_player_s"] / r["us_per_player_s"], 3),
        }
        for r in ours
        if r["bots"] in by_n and r["us_per_player_s"]
    ]
    return {
        "started": started,
        "machine": "2 vCPU AMD EPYC VM, Debian 12",
        "command": " ".join(sys.argv),
        "quiet": quiet,
        "load_at_end": loadavg(),
        "knee_ours": ours_knee,
        "knee_c": c_knee,
        "knee_fraction": round(ours_knee / c_knee, 3) if c_knee else None,
        "cpu_share": args.cpu_share,  # the knees are players per this share of a core
        "protocol": args.protocol,
        "cpu_at_equal_n": equal_n,
        "snapshot_bytes_by_n": sizes,
        "ours": ours,
        "c": reference,
        "workdir": str(workdir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[500, 1000, 1500, 2000, 2500])
    parser.add_argument(
        "--c-steps",
        type=int,
        nargs="+",
        default=None,
        help="steps of the C reference (default: --steps)",
    )
    parser.add_argument("--servers", nargs="+", default=["ours", "c"], choices=["ours", "c"])
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--rate-ours", type=float, default=100.0, help="joins per second")
    parser.add_argument("--rate-c", type=float, default=500.0, help="joins per second")
    parser.add_argument(
        "--sizes",
        nargs="*",
        default=[],
        help="snapshot bytes for the C server as N:BYTES (else from our run)",
    )
    parser.add_argument(
        "--protocol",
        type=int,
        choices=[1, 2],
        default=1,
        help="the protocol the bots offer: 2 is v2, delta snapshots (the C reference speaks v1)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="py-spy our server during each hold, into PROFILE-<bots>.txt (collapsed stacks)",
    )
    machine_options(parser)
    parser.add_argument("--out", default="reports/reference.json")
    args = parser.parse_args()
    summary = asyncio.run(main_async(args))
    print(
        json.dumps(
            {
                k: summary[k]
                for k in ("knee_ours", "knee_c", "knee_fraction", "cpu_at_equal_n", "quiet")
            }
        )
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
