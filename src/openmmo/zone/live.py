"""A zone server's own live figures, published with every heartbeat for the web console's
cluster view (so it needs no Prometheus): players are in the directory entry already; these
are the tick's P95, messages and bytes per second both ways, and action→ack P95 (from a
message's arrival to the end of the tick that answered it) over the last few seconds."""

from __future__ import annotations

from collections import deque

import numpy as np

WINDOW_S = 5.0
_TICKS = 200  # at 20 Hz, 10 s of ticks; the P95 is over those inside the window
_ACKS = 4096


class LiveStats:
    def __init__(self, now: float):
        self.ticks: deque[tuple[float, float]] = deque(maxlen=_TICKS)  # (end, seconds)
        self.acks: deque[tuple[float, float]] = deque(maxlen=_ACKS)  # (end, seconds)
        self.msgs_in = self.msgs_out = self.bytes_in = self.bytes_out = 0
        self._marks: deque[tuple[float, int, int, int, int]] = deque([(now, 0, 0, 0, 0)])

    def tick(self, end: float, elapsed_s: float, arrivals: list[float]) -> None:
        self.ticks.append((end, elapsed_s))
        acks = self.acks
        for at in arrivals[-256:]:  # a flood does not make the window longer to sort
            acks.append((end, end - at))

    def traffic(self, msgs_in: int, msgs_out: int, bytes_in: int, bytes_out: int) -> None:
        self.msgs_in += msgs_in
        self.msgs_out += msgs_out
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out

    def take(self, now: float) -> dict[str, float]:
        """The figures over the last :data:`WINDOW_S` seconds (rates over the time since the
        oldest mark inside the window)."""
        marks = self._marks
        marks.append((now, self.msgs_in, self.msgs_out, self.bytes_in, self.bytes_out))
        while len(marks) > 2 and marks[1][0] <= now - WINDOW_S:
            marks.popleft()
        then, m_in, m_out, b_in, b_out = marks[0]
        span = max(now - then, 1e-3)
        horizon = now - WINDOW_S
        return {
            "tick_p95_ms": _p95_ms([s for end, s in self.ticks if end >= horizon]),
            "ack_p95_ms": _p95_ms([s for end, s in self.acks if end >= horizon]),
            "msgs_in_per_s": round((self.msgs_in - m_in) / span, 1),
            "msgs_out_per_s": round((self.msgs_out - m_out) / span, 1),
            "bytes_in_per_s": round((self.bytes_in - b_in) / span),
            "bytes_out_per_s": round((self.bytes_out - b_out) / span),
        }


def _p95_ms(values: list[float]) -> float:
    return round(float(np.percentile(values, 95)) * 1000, 2) if values else 0.0
