"""Containment of game code: every hook call isolated, timed and budgeted.

How it works. The engine never calls game code directly; it calls :meth:`HookRunner.call`
with the hook's name. An exception other than :class:`~openmmo.sim.declare.Reject` is caught,
recorded as a :class:`HookFailure` (hook, game, entity, traceback) and counted; the call
returns its ``on_error`` value and the tick goes on. The time of every call is added to its
hook's total for the tick; at the end of the tick (:meth:`end_tick`) a hook whose total went
over ``budget_s`` records an overrun, and a hook with ``max_overruns`` overruns within the
last ``window_ticks`` ticks is disabled for this zone (a :class:`HookDisabled` report, which
the zone announces and logs). A disabled hook is skipped: the engine behaves as if the game
had not registered it.

What it cannot do: stop a hook that never returns (an endless loop holds the event loop;
``/health/live`` then fails and the orchestrator restarts the process).

Kind: pure. The zone process drains the reports (:meth:`drain`) to log them and to feed the
``openmmo_game_hook_*`` metrics.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from openmmo.sim.declare import Reject

MAX_FAILURE_RECORDS_PER_TICK = 20  # beyond that failures are counted, not described


@dataclass(frozen=True, slots=True)
class HookFailure:
    hook: str
    game: str
    entity_id: int | None
    error: str
    traceback: str


@dataclass(frozen=True, slots=True)
class HookDisabled:
    hook: str
    game: str
    reason: str


@dataclass(frozen=True, slots=True)
class HookReport:
    """One tick of game code, for logs and metrics."""

    failures: list[HookFailure]
    error_counts: Counter[str]
    seconds: dict[str, float]  # hook -> time spent this tick
    disabled: list[HookDisabled]


class HookRunner:
    def __init__(
        self,
        game_name: str,
        *,
        budget_s: float = 0.010,
        max_overruns: int = 5,
        window_ticks: int = 200,
        timer: Callable[[], float] = time.perf_counter,
    ):
        self.game_name = game_name
        self.budget_s = budget_s
        self.max_overruns = max_overruns
        self.window_ticks = window_ticks
        self.disabled: set[str] = set()
        self._timer = timer
        self._seconds: dict[str, float] = {}
        self._failures: list[HookFailure] = []
        self._errors: Counter[str] = Counter()
        self._overruns: dict[str, deque[int]] = {}
        self._newly_disabled: list[HookDisabled] = []
        self._reports: list[HookReport] = []

    def configure(self, *, budget_s: float, max_overruns: int, window_ticks: int) -> None:
        self.budget_s = budget_s
        self.max_overruns = max_overruns
        self.window_ticks = window_ticks

    def enabled(self, hook: str) -> bool:
        return hook not in self.disabled

    def call(
        self,
        hook: str,
        fn: Callable[..., Any],
        *args: Any,
        entity_id: int | None = None,
        on_error: Any = None,
    ) -> Any:
        """``fn(*args)``, contained: a :class:`Reject` propagates (it answers the player),
        any other exception is recorded and ``on_error`` returned."""
        if hook in self.disabled:
            return on_error
        start = self._timer()
        try:
            return fn(*args)
        except Reject:
            raise
        except Exception as exc:
            self._record(hook, entity_id, exc)
            return on_error
        finally:
            self._seconds[hook] = self._seconds.get(hook, 0.0) + (self._timer() - start)

    def _record(self, hook: str, entity_id: int | None, exc: Exception) -> None:
        self._errors[hook] += 1
        if len(self._failures) < MAX_FAILURE_RECORDS_PER_TICK:
            self._failures.append(
                HookFailure(
                    hook,
                    self.game_name,
                    entity_id,
                    f"{type(exc).__name__}: {exc}"[:500],
                    traceback.format_exc(limit=20),
                )
            )

    def record_failure(self, hook: str, entity_id: int | None, message: str) -> None:
        """A game mistake the engine noticed itself (e.g. an undeclared error code)."""
        self._errors[hook] += 1
        if len(self._failures) < MAX_FAILURE_RECORDS_PER_TICK:
            self._failures.append(HookFailure(hook, self.game_name, entity_id, message, ""))

    def end_tick(self, tick: int) -> list[HookDisabled]:
        """Close the tick's accounts; returns the hooks disabled by it."""
        disabled: list[HookDisabled] = []
        for hook, seconds in self._seconds.items():
            if seconds <= self.budget_s or hook in self.disabled:
                continue
            recent = self._overruns.setdefault(hook, deque())
            recent.append(tick)
            while recent and recent[0] <= tick - self.window_ticks:
                recent.popleft()
            if len(recent) >= self.max_overruns:
                self.disabled.add(hook)
                disabled.append(
                    HookDisabled(
                        hook,
                        self.game_name,
                        f"took more than {self.budget_s * 1000:g} ms in {len(recent)} of the "
                        f"last {self.window_ticks} ticks (last: {seconds * 1000:.1f} ms)",
                    )
                )
        self._reports.append(HookReport(self._failures, self._errors, self._seconds, disabled))
        if len(self._reports) > 100:  # nobody drains (a test without a zone): keep the newest
            del self._reports[0]
        self._failures, self._errors, self._seconds = [], Counter(), {}
        return disabled

    def drain(self) -> list[HookReport]:
        reports, self._reports = self._reports, []
        return reports

    def enable_all(self) -> None:
        """Give every hook a fresh start (after a hot reload brought new code)."""
        self.disabled.clear()
        self._overruns.clear()
