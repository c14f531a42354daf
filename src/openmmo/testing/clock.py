"""A clock that moves only when a test says so."""

from __future__ import annotations


class ManualClock:
    """Implements :class:`openmmo.clock.Clock`; ``advance()`` moves both clocks together."""

    def __init__(self, start_monotonic_s: float = 1000.0, start_time_s: float = 1_800_000_000.0):
        self._monotonic = start_monotonic_s
        self._time = start_time_s

    def monotonic(self) -> float:
        return self._monotonic

    def time(self) -> float:
        return self._time

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._monotonic += seconds
        self._time += seconds
