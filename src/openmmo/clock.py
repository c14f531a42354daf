"""Injectable clocks.

Everything that needs the time takes a :class:`Clock`, so the simulation, token expiry and rate
limits can be driven by :class:`openmmo.testing.ManualClock` in tests instead of sleeping.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where time comes from: a monotonic clock for intervals, a wall clock for timestamps."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals and deadlines)."""
        ...

    def time(self) -> float:
        """Seconds since the Unix epoch (for tokens, logs and wire timestamps)."""
        ...


class SystemClock:
    """The real clocks of the machine."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


SYSTEM_CLOCK = SystemClock()
