"""Liveness and readiness.

Liveness answers from the event loop alone (if the loop can run the handler, it is live) and
never touches a dependency: a database outage must not get the pod restarted. Readiness runs
every registered check concurrently with a timeout and is false while the process is starting
or draining. Each run also sets ``openmmo_dependency_up`` per check (and /metrics runs them
before every scrape), so Prometheus sees a dependency outage even where nothing probes
/health/ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from openmmo.metrics import DEPENDENCY_UP

Check = Callable[[], Awaitable[None]]


class Health:
    def __init__(self, check_timeout_s: float = 2.0):
        self._checks: dict[str, Check] = {}
        self._timeout_s = check_timeout_s
        self.started = False
        self.draining = False

    def add_check(self, name: str, check: Check) -> None:
        """``check`` raises when ``name`` is not usable; its message is shown in /health/ready."""
        self._checks[name] = check

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run(self._checks[n]) for n in names))
        report = dict(zip(names, results, strict=True))
        for name, result in report.items():
            DEPENDENCY_UP.labels(name).set(1 if result == "ok" else 0)
        report["started"] = "ok" if self.started else "starting"
        report["draining"] = "draining" if self.draining else "ok"
        return all(v == "ok" for v in report.values()), report

    async def _run(self, check: Check) -> str:
        try:
            await asyncio.wait_for(check(), self._timeout_s)
        except TimeoutError:
            return f"timed out after {self._timeout_s}s"
        except Exception as exc:  # any failure of a dependency means "not ready", with why
            return f"error: {type(exc).__name__}: {exc}"[:300]
        return "ok"
