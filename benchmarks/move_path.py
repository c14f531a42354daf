"""CPU per move from the WebSocket frame to the tick's inputs: the compiled reader
(openmmo.zone._fastpath) against the pure-Python path, interleaved.

    .venv/bin/python benchmarks/move_path.py [--players 1000] [--rounds 20] [--pairs 5]

Each round, every player sends one move (a msgpack frame as the Python client writes it,
handed to the listener as picows does) and the tick then drains them into its inputs, as
``ZoneRuntime._tick`` does. No sockets, no step: only the path the compiled reader replaces
(frame callback, decode, validation, phase/seq checks, token bucket, inbox, handing to the
inputs). Prints µs per move for both, pair by pair, and their ratio.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgpack
from picows import WSMsgType
from picows.picows import _make_test_ws_frame

from openmmo.auth.tokens import KeyRing, TokenService
from openmmo.clock import SystemClock
from openmmo.protocol.codes import Encoding, Limits, Wire
from openmmo.protocol.session import Phase
from openmmo.sim.step import Inputs
from openmmo.testing import RecordingTransport
from openmmo.zone import fastpath, handlers
from openmmo.zone.sessions import Sessions, Traffic
from openmmo.zone.transport import GameListener


def zone_of(players: int, compiled: bool) -> tuple[Sessions, list[Any]]:
    clock = SystemClock()
    limits = Limits(max_messages_per_s=1e9, message_burst=1e9)
    sessions = Sessions(
        zone_id=1,
        server_id="bench",
        accept_zone_tickets=False,
        limits=limits,
        tokens=TokenService(KeyRing("k", "x" * 32), clock),
        clock=clock,
        traffic=Traffic(),
    )
    if compiled:
        sessions.moves = fastpath.MoveInbox(Phase.PLAYING, clock.monotonic)
    runtime = SimpleNamespace(sessions=sessions, config=SimpleNamespace(limits=limits))
    listeners = []
    for slot in range(players):
        listener = GameListener(runtime, Wire(Encoding.MSGPACK, 2), None)  # type: ignore[arg-type]
        listener.attach(RecordingTransport(f"10.0.{slot // 250}.{slot % 250}:1"))
        session = listener.session
        session.phase = Phase.PLAYING  # as after a join
        session.actor = SimpleNamespace(slot=slot)
        session.character_id = slot + 1
        listeners.append(listener)
    return sessions, listeners


def frames(players: int, rounds: int, first_seq: int) -> list[list[Any]]:
    return [
        [
            _make_test_ws_frame(
                WSMsgType.BINARY,
                msgpack.packb(
                    {"type": "move", "x": 100.0 + r * 0.25, "y": 200.5, "seq": first_seq + r}
                ),
                True,
                False,
            )
            for _ in range(players)
        ]
        for r in range(rounds)
    ]


def run(sessions: Sessions, listeners: list[Any], batches: list[list[Any]]) -> float:
    """Seconds of CPU for every batch: the frames, then the tick's drain."""
    gc.collect()
    started = time.process_time()
    for batch in batches:
        for listener, frame in zip(listeners, batch, strict=True):
            listener.on_ws_frame(None, frame)
        inputs, arrivals = Inputs(), []
        for session, message, at in sessions.drain_inbox():
            arrivals.append(at)
            handlers.handle_in_tick(None, session, message, inputs, at)  # type: ignore[arg-type]
        sessions.drain_moves(inputs, arrivals)
        assert len(inputs.move_slots) == len(listeners)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--out", default="reports/move_path.json")
    args = parser.parse_args()
    if not fastpath.COMPILED:
        raise SystemExit("openmmo.zone._fastpath is not built: run make install")
    zones = {name: zone_of(args.players, name == "compiled") for name in ("compiled", "python")}
    moves = args.players * args.rounds
    rows = []
    for pair in range(args.pairs):
        row: dict[str, float] = {}
        for name, (sessions, listeners) in zones.items():
            batches = frames(args.players, args.rounds, 1 + pair * args.rounds)
            row[name] = run(sessions, listeners, batches) / moves * 1e6
        row["ratio"] = row["python"] / row["compiled"]
        rows.append(row)
        print(
            f"pair {pair + 1}: compiled {row['compiled']:.2f} µs/move, "
            f"python {row['python']:.2f} µs/move, python/compiled {row['ratio']:.2f}"
        )
    ratios = sorted(r["ratio"] for r in rows)
    print(
        f"python/compiled: {ratios[0]:.2f}-{ratios[-1]:.2f} (median {ratios[len(ratios) // 2]:.2f})"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"players": args.players, "rounds": args.rounds, "pairs": rows}))


if __name__ == "__main__":
    main()
