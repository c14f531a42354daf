"""Server CPU per message: picows against the ``websockets`` library (docs/decisions/0001).

    .venv/bin/python benchmarks/websocket_libs.py [--libs picows websockets websockets-send]
        [--scenarios echo fanout] [--connections 500] [--seconds 10] [--settle 2]
        [--rate 10] [--quiet-load 0.7] [--out reports/websocket_libs.json]

For each lib and scenario the driver starts a fresh server (``server`` mode, ``taskset -c 0``,
uvloop) and a load client (``client`` mode, ``taskset -c 1``, picows ``ws_connect`` on uvloop),
connects ``--connections`` clients, waits ``--settle`` seconds and measures ``--seconds``: the
server's CPU (user + system from ``/proc/<pid>/stat``), the messages it received and sent (its
own counters, printed on SIGUSR1), core 0's busy time (other processes on the server's core)
and the client's CPU (is the load generator the limit?).

* **echo**: every client sends 10 30-byte binary messages a second (``--rate``), spread evenly
  over time (the connections are spread over 50 phases of a 100 ms period); the server answers
  each at once with a 30-byte binary ack, like our attack/chat acks. Cost = server CPU per
  received-and-acked message; latency = send → ack on the client.
* **fanout**: every 100 ms the server writes one 1,000-byte binary frame to every client, one
  write per client, like our snapshots; the clients only count. Cost = server CPU per frame.

Libs (the event loop is uvloop for all):

* ``picows``: ``ws_create_server``, ``WSListener.on_ws_frame``, ``transport.send``, as in
  src/openmmo/zone (picows' default transport, which is aiofastnet's when it is installed, and
  picows 2.3 depends on it).
* ``picows-native``: the same on uvloop's own transport (``use_aiofastnet=False``).
* ``websockets``: ``websockets.asyncio.server.serve``, an ``async for message in connection``
  handler, ``await connection.send(ack)``; fan-out with ``broadcast()``.
* ``websockets-send``: fan-out with an ``await connection.send(frame)`` loop instead; its echo
  is the same code as ``websockets`` (a repeat measurement: a noise estimate).

No compression (the picows client offers none; ``websockets`` is told ``compression=None``).
The server's system time includes the kernel's loopback delivery into the client's socket,
the same for every lib. Writes reports/websocket_libs.json and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
sys.path.insert(0, str(SCRIPT.parent))  # reference.py, imported by the driver only
SERVER_CORE, CLIENT_CORE = "0", "1"
LIBS = ("picows", "picows-native", "websockets", "websockets-send")
SCENARIOS = ("echo", "fanout")
MESSAGE_BYTES, ACK_BYTES, FRAME_BYTES = 30, 30, 1000
FANOUT_INTERVAL_S = 0.1
SLOTS = 50  # the client's sending period is split into slots: at 10/s, a send every 2 ms
CONNECT_CONCURRENCY = 50
NOISY = 0.05  # other processes took this much of the server's core: flag the row
CLIENT_BOUND = 0.9  # the client's share of its core above which it may be the limit


# --- server ---------------------------------------------------------------------------------
class Counters:
    __slots__ = ("received", "sent")

    def __init__(self) -> None:
        self.received = 0
        self.sent = 0


async def serve(lib: str, scenario: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    counters = Counters()
    echo = scenario == "echo"
    ack, frame = b"a" * ACK_BYTES, b"f" * FRAME_BYTES
    send_all: Any  # one fan-out: a plain function or a coroutine function

    if lib.startswith("picows"):
        from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

        binary, close = WSMsgType.BINARY, WSMsgType.CLOSE
        transports: set[WSTransport] = set()

        class Listener(WSListener):
            def on_ws_connected(self, transport: WSTransport) -> None:
                transports.add(transport)

            def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
                msg_type = frame.msg_type
                if msg_type is binary:
                    counters.received += 1
                    if echo:
                        transport.send(binary, ack)
                        counters.sent += 1
                elif msg_type is close:
                    transport.send_close(frame.get_close_code())
                    transport.disconnect()

            def on_ws_disconnected(self, transport: WSTransport) -> None:
                transports.discard(transport)

        server = await ws_create_server(
            lambda _request: Listener(),
            "127.0.0.1",
            0,
            websocket_handshake_timeout=5,
            enable_auto_ping=True,  # as the zone server
            auto_ping_idle_timeout=20,
            auto_ping_reply_timeout=20,
            reuse_address=True,
            backlog=1024,
            use_aiofastnet=None if lib == "picows" else False,
        )

        def send_all() -> None:
            for transport in transports:
                transport.send(binary, frame)
            counters.sent += len(transports)

    else:
        from websockets.asyncio.server import ServerConnection, broadcast
        from websockets.asyncio.server import serve as ws_serve
        from websockets.exceptions import ConnectionClosed

        connections: set[ServerConnection] = set()

        async def handler(connection: ServerConnection) -> None:
            connections.add(connection)
            try:
                async for _message in connection:
                    counters.received += 1
                    if echo:
                        await connection.send(ack)
                        counters.sent += 1
            except ConnectionClosed:  # the client exits without a closing handshake
                pass
            finally:
                connections.discard(connection)

        server = await ws_serve(
            handler,
            "127.0.0.1",
            0,
            compression=None,
            open_timeout=5,
            ping_interval=20,
            ping_timeout=20,
            backlog=1024,
        )
        if lib == "websockets":

            def send_all() -> None:
                broadcast(connections, frame)
                counters.sent += len(connections)

        else:

            async def send_all() -> None:
                for connection in list(connections):
                    with contextlib.suppress(ConnectionClosed):
                        await connection.send(frame)
                        counters.sent += 1

    def report() -> None:
        print(json.dumps({"received": counters.received, "sent": counters.sent}), flush=True)

    loop.add_signal_handler(signal.SIGUSR1, report)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"event": "ready", "port": port}), flush=True)
    fanout = None
    if scenario == "fanout":
        fanout = asyncio.create_task(fan_out(send_all))
    await stop.wait()
    if fanout:
        fanout.cancel()
    server.close()


async def fan_out(send_all: Any) -> None:
    """``send_all`` every ``FANOUT_INTERVAL_S`` on a fixed schedule (no drift)."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    is_coroutine = inspect.iscoroutinefunction(send_all)
    while True:
        due += FANOUT_INTERVAL_S
        await asyncio.sleep(max(0.0, due - loop.time()))
        if is_coroutine:
            await send_all()
        else:
            send_all()


# --- client ---------------------------------------------------------------------------------
def percentiles_ms(samples_ns: list[int]) -> dict[str, Any]:
    if not samples_ns:
        return {"count": 0}
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6, 3)

    return {"count": len(ordered), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99),
            "max": round(ordered[-1] / 1e6, 3)}  # fmt: skip


async def load(port: int, connections: int, scenario: str, rate: float) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    loop = asyncio.get_running_loop()
    binary = WSMsgType.BINARY
    clock = time.perf_counter_ns
    latencies: list[int] = []
    stats = {"sent": 0, "received": 0, "disconnected": 0, "failed": 0, "max_late_ms": 0.0}

    class Client(WSListener):
        def __init__(self) -> None:
            self.sent_at: deque[int] = deque()

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is binary:
                stats["received"] += 1
                if self.sent_at:  # echo: acks come in order, one per message
                    latencies.append(clock() - self.sent_at.popleft())

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            stats["disconnected"] += 1

    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    url = f"ws://127.0.0.1:{port}/"

    async def connect() -> tuple[WSTransport, Client] | None:
        async with gate:
            for _ in range(3):
                try:
                    transport, client = await ws_connect(Client, url)
                    assert isinstance(client, Client)
                    return transport, client
                except Exception:  # refused, reset, handshake timeout: try again
                    await asyncio.sleep(0.2)
            stats["failed"] += 1
            return None

    pairs = [p for p in await asyncio.gather(*(connect() for _ in range(connections))) if p]

    def report() -> None:
        print(json.dumps({**stats, "latency_ms": percentiles_ms(latencies)}), flush=True)
        latencies.clear()
        stats["max_late_ms"] = 0.0

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, report)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(json.dumps({"event": "connected", "connected": len(pairs), **stats}), flush=True)

    if scenario == "echo" and pairs:
        # Connection i sends at phase (i mod SLOTS) of each period: SLOTS evenly spaced sends
        # per period, each to len(pairs) / SLOTS connections.
        message = b"m" * MESSAGE_BYTES
        step = 1.0 / rate / SLOTS
        groups: list[list[tuple[WSTransport, deque[int]]]] = [[] for _ in range(SLOTS)]
        for index, (transport, client) in enumerate(pairs):
            groups[index % SLOTS].append((transport, client.sent_at))
        start = loop.time() + 0.05
        tick = 0

        def send_due() -> None:
            nonlocal tick
            now = loop.time()
            late = now - (start + tick * step)
            stats["max_late_ms"] = max(stats["max_late_ms"], round(late * 1000, 2))
            while start + tick * step <= now:  # catch up if the client fell behind
                for transport, sent_at in groups[tick % SLOTS]:
                    sent_at.append(clock())
                    transport.send(binary, message)
                stats["sent"] += len(groups[tick % SLOTS])
                tick += 1
            loop.call_at(start + tick * step, send_due)

        loop.call_at(start, send_due)

    await stop.wait()
    os._exit(0)  # no closing handshakes: the window is over, the server is stopped next


# --- driver ---------------------------------------------------------------------------------
def run_ns(pid: int) -> int:
    """CPU time of all a process's threads in ns (``/proc/<pid>/task/*/schedstat``): exact,
    where ``/proc/<pid>/stat`` rounds to clock ticks (10 ms), ±2 % of a 5 s window at 0.2 cores."""
    return sum(
        int((task / "schedstat").read_text().split()[0])
        for task in Path(f"/proc/{pid}/task").iterdir()
    )


class Child:
    """A server or client subprocess that prints JSON lines and reports on SIGUSR1."""

    def __init__(self, name: str, core: str, args: list[str], log: Path):
        self.name, self.core, self.args, self.log = name, core, args, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                "taskset", "-c", self.core, sys.executable, str(SCRIPT),
                *self.args,
                stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def line(self, within_s: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), within_s)
        if not raw:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited ({self.log}):\n{tail}")
        message: dict[str, Any] = json.loads(raw)
        return message

    async def stats(self) -> dict[str, Any]:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGUSR1)
        return await self.line(5)

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.communicate(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def measure(lib: str, scenario: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    from reference import core_times, loadavg, user_system

    tag = f"{lib}-{scenario}"
    server = Child(
        "server", SERVER_CORE, ["server", "--lib", lib, "--scenario", scenario],
        logs / f"{tag}-server.log",
    )  # fmt: skip
    client: Child | None = None
    await server.start()
    try:
        port = (await server.line(30))["port"]
        client = Child(
            "client", CLIENT_CORE,
            ["client", "--port", str(port), "--connections", str(args.connections),
             "--scenario", scenario, "--rate", str(args.rate)],
            logs / f"{tag}-client.log",
        )  # fmt: skip
        await client.start()
        connected = await client.line(60)
        await asyncio.sleep(args.settle)

        async def mark() -> dict[str, Any]:
            assert client is not None
            wall = time.monotonic()
            cpu = (user_system(server.pid), user_system(client.pid), core_times(SERVER_CORE))
            ns = run_ns(server.pid)
            server_stats, client_stats = await asyncio.gather(server.stats(), client.stats())
            return {"wall": wall, "server": cpu[0], "client": cpu[1], "core0": cpu[2], "ns": ns,
                    "server_stats": server_stats, "client_stats": client_stats}  # fmt: skip

        start = await mark()
        await asyncio.sleep(args.seconds)
        end = await mark()
        load_at_end = loadavg()
    finally:
        if client is not None:
            await client.stop()
        await server.stop()

    wall = end["wall"] - start["wall"]
    user = end["server"][0] - start["server"][0]
    system = end["server"][1] - start["server"][1]
    cpu_s = user + system
    cpu_ns = end["ns"] - start["ns"]
    client_cpu_s = sum(end["client"]) - sum(start["client"])
    busy = (end["core0"][0] - start["core0"][0]) / max(1.0, end["core0"][1] - start["core0"][1])
    received = end["server_stats"]["received"] - start["server_stats"]["received"]
    sent = end["server_stats"]["sent"] - start["server_stats"]["sent"]
    handled = received if scenario == "echo" else sent
    c0, c1 = start["client_stats"], end["client_stats"]
    row: dict[str, Any] = {
        "lib": lib,
        "scenario": scenario,
        "connections": connected["connected"],
        "connect_failures": connected["failed"],
        "window_s": round(wall, 3),
        "server_received": received,
        "server_sent": sent,
        "messages_per_s": round(handled / wall, 1),
        "expected_per_s": round(
            connected["connected"] * (args.rate if scenario == "echo" else 1 / FANOUT_INTERVAL_S),
            1,
        ),
        "server_cpu": round(cpu_s / wall, 3),
        "server_user": round(user / wall, 3),
        "server_system": round(system / wall, 3),
        "us_per_message": round(cpu_s * 1e6 / handled, 2) if handled else None,
        "server_cpu_schedstat": round(cpu_ns / 1e9 / wall, 4),
        "us_per_message_schedstat": round(cpu_ns / 1e3 / handled, 2) if handled else None,
        "core0_busy": round(busy, 3),
        "core0_other": round(max(0.0, busy - cpu_s / wall), 3),
        "noisy": busy - cpu_s / wall >= NOISY,
        "client_cpu": round(client_cpu_s / wall, 3),
        "client_user": round((end["client"][0] - start["client"][0]) / wall, 3),
        "client_system": round((end["client"][1] - start["client"][1]) / wall, 3),
        "client_bound": client_cpu_s / wall >= CLIENT_BOUND,
        "client_sent": c1["sent"] - c0["sent"],
        "client_received": c1["received"] - c0["received"],
        "client_max_late_ms": c1["max_late_ms"],
        "disconnected": c1["disconnected"],
        "load_avg_end": load_at_end,
    }
    if scenario == "echo":
        row["ack_latency_ms"] = c1["latency_ms"]
    return row


def show(rows: list[dict[str, Any]]) -> None:
    """µs/msg: server CPU (user + system, /proc/<pid>/stat) per message handled (echo: received
    and acked; fanout: frame sent); sched: the same from schedstat (ns-exact); core0+: other
    processes' share of the server's core; client: the load client's share of its core."""
    header = (
        f"{'lib':<16}{'scenario':<9}{'conns':>6}{'msg/s':>8}{'srv cpu':>9}{'usr/sys':>11}"
        f"{'µs/msg':>8}{'sched':>7}{'p50 ms':>8}{'p95 ms':>8}{'client':>8}{'core0+':>8}  notes"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        latency = r.get("ack_latency_ms", {})
        notes = []
        if r["noisy"]:
            notes.append("NOISY")
        if r["client_bound"]:
            notes.append("CLIENT-BOUND")
        if r["messages_per_s"] < 0.95 * r["expected_per_s"]:
            notes.append(f"BEHIND (expected {r['expected_per_s']:.0f}/s)")
        if r["disconnected"] or r["connect_failures"]:
            notes.append(f"lost {r['disconnected']}, failed {r['connect_failures']}")
        if r["lib"] == "websockets-send" and r["scenario"] == "echo":
            notes.append("same code as websockets: a repeat")
        us, sched = r["us_per_message"], r["us_per_message_schedstat"]
        split = f"{r['server_user']:.2f}/{r['server_system']:.2f}"
        print(
            f"{r['lib']:<16}{r['scenario']:<9}{r['connections']:>6}{r['messages_per_s']:>8.0f}"
            f"{r['server_cpu']:>9.3f}{split:>11}{us or 0:>8.1f}{sched or 0:>7.1f}"
            f"{latency.get('p50', '-'):>8}{latency.get('p95', '-'):>8}"
            f"{r['client_cpu']:>8.3f}{r['core0_other']:>8.3f}  {', '.join(notes)}"
        )
    print(inspect.cleandoc(show.__doc__ or ""))


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    # Imported here, not at the top: the server and client processes do not need
    # reference.py's imports (httpx, openmmo.testing) in their heaps.
    from reference import loadavg, wait_quiet

    load_before = loadavg()
    quiet = wait_quiet(args.quiet_load, 1200) if args.quiet_load > 0 else None
    logs = Path(tempfile.mkdtemp(prefix="openmmo-wslibs-"))
    rows = []
    for scenario in args.scenarios:
        for lib in args.libs:
            print(f"… {lib} {scenario}: {args.connections} connections", flush=True)
            rows.append(await measure(lib, scenario, args, logs))
    print()
    show(rows)
    return {
        "benchmark": "websocket_libs",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            "connections": args.connections,
            "seconds": args.seconds,
            "settle_s": args.settle,
            "echo_rate_per_connection": args.rate,
            "message_bytes": MESSAGE_BYTES,
            "ack_bytes": ACK_BYTES,
            "fanout_frame_bytes": FRAME_BYTES,
            "fanout_interval_s": FANOUT_INTERVAL_S,
            "server_core": SERVER_CORE,
            "client_core": CLIENT_CORE,
            "event_loop": "uvloop",
        },
        "versions": {
            "python": platform.python_version(),
            **{name: version(name) for name in ("picows", "aiofastnet", "websockets", "uvloop")},
        },
        "machine": {"cpus": os.cpu_count(), "load_avg_before": load_before, "quiet": quiet},
        "logs": str(logs),
        "results": rows,
    }


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "drive"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    if mode == "server":
        parser.add_argument("mode")
        parser.add_argument("--lib", choices=LIBS, required=True)
        parser.add_argument("--scenario", choices=SCENARIOS, required=True)
        args = parser.parse_args()
        import uvloop

        uvloop.run(serve(args.lib, args.scenario))
    elif mode == "client":
        parser.add_argument("mode")
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--connections", type=int, default=500)
        parser.add_argument("--scenario", choices=SCENARIOS, required=True)
        parser.add_argument("--rate", type=float, default=10.0)
        args = parser.parse_args()
        import uvloop

        uvloop.run(load(args.port, args.connections, args.scenario, args.rate))
    else:
        parser.add_argument("--libs", nargs="+", choices=LIBS,
                            default=["picows", "websockets", "websockets-send"])  # fmt: skip
        parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
        parser.add_argument("--connections", type=int, default=500)
        parser.add_argument("--seconds", type=float, default=10.0)
        parser.add_argument("--settle", type=float, default=2.0)
        parser.add_argument("--rate", type=float, default=10.0, help="echo messages/s/connection")
        parser.add_argument("--quiet-load", type=float, default=0.7,
                            help="wait for a 1-min load average below this (0: don't)")  # fmt: skip
        parser.add_argument("--out", default="reports/websocket_libs.json")
        args = parser.parse_args()
        report = asyncio.run(drive(args))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
