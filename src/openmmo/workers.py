"""Gateway worker processes sharing one port (``GATEWAY_WORKERS`` > 1).

One Python process serves HTTP on one core. ``openmmo gateway`` with ``GATEWAY_WORKERS=N``
runs N workers instead, each a whole gateway with its own event loop, listening on the same
ports with ``SO_REUSEPORT``: the kernel spreads new connections across them. The process
started first is the supervisor and serves nothing: it reserves the ports (so port 0 works),
starts the workers, starts again one that died, passes SIGTERM/SIGINT on and waits for them to
drain. A worker whose supervisor is gone stops by itself.

The workers share their state as separate gateways do: through Redis (sessions, the zone
directory, rate limits) and the database, so more than one needs ``REDIS_URL``. Their metrics
go to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode; a fresh
directory under the temporary directory unless it is set); whichever worker answers a scrape
adds up every worker's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

from openmmo.config import ConfigError, Settings
from openmmo.logs import configure_logging, get_logger
from openmmo.ops.http import bind

log = get_logger("openmmo.workers")

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# A worker that dies sooner than this after starting is started again only after a pause
# that doubles up to RESTART_PAUSE_MAX_S: a worker that cannot start must not spin.
HEALTHY_AFTER_S = 10.0
RESTART_PAUSE_MAX_S = 30.0


def check(settings: Settings) -> None:
    """ConfigError when the settings cannot run more than one worker."""
    if settings.gateway_workers > 1 and settings.redis_url is None:
        raise ConfigError(
            "invalid configuration: GATEWAY_WORKERS: more than one worker needs REDIS_URL "
            "(the workers share sessions, rate limits and the zone directory through it)"
        )


def supervise(settings: Settings) -> int:
    """Run ``settings.gateway_workers`` gateway workers until SIGTERM/SIGINT; the exit code."""
    metrics_dir, made = _metrics_dir()
    wanted = {"server_port": settings.server_port, "health_port": settings.health_port}
    wanted["metrics_port"] = settings.metrics_port
    # Bound with SO_REUSEPORT and not listening: the ports (the ones the kernel picked, for
    # port 0) are held for the workers, and take no connections themselves.
    reserved = {
        p: bind(settings.bind_host, p, reuse_port=True, listen=False)
        for p in dict.fromkeys(wanted.values())
    }
    ports = {name: reserved[p].getsockname()[1] for name, p in wanted.items()}
    settings = settings.model_copy(update=ports)
    stopping: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no loop, no threads
    workers: dict[int, BaseProcess] = {}
    started_at: dict[int, float] = {}
    pause = dict.fromkeys(range(settings.gateway_workers), 1.0)
    restart_at: dict[int, float] = {}

    def start(index: int) -> None:
        process = context.Process(
            target=worker_main,
            args=(settings, index, os.getpid()),
            name=f"openmmo-gateway-{index}",
        )
        process.start()
        workers[index], started_at[index] = process, time.monotonic()

    try:
        for index in range(settings.gateway_workers):
            start(index)
        log.info(
            "gateway_workers_started",
            workers=settings.gateway_workers,
            pids=[p.pid for p in workers.values()],
            ports=sorted(set(ports.values())),
        )
        while not stopping:
            wait([p.sentinel for p in workers.values()], timeout=0.5)
            now = time.monotonic()
            for index, process in list(workers.items()):
                if process.is_alive():
                    continue
                _forget(process, metrics_dir)
                del workers[index]
                ran = now - started_at[index]
                pause[index] = (
                    1.0 if ran > HEALTHY_AFTER_S else min(pause[index] * 2, RESTART_PAUSE_MAX_S)
                )
                restart_at[index] = now + pause[index]
                log.error(
                    "gateway_worker_exited",
                    worker=index,
                    pid=process.pid,
                    exit_code=process.exitcode,
                    ran_s=round(ran, 1),
                    restart_in_s=pause[index],
                )
            for index, at in list(restart_at.items()):
                if now >= at and not stopping:
                    del restart_at[index]
                    start(index)
                    log.info("gateway_worker_restarted", worker=index, pid=workers[index].pid)
        return _drain(workers, stopping, settings.drain_timeout_s, metrics_dir)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for sock in reserved.values():
            sock.close()
        if made:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _drain(
    workers: dict[int, BaseProcess], stopping: list[int], drain_timeout_s: float, metrics: str
) -> int:
    """Pass the signal on and wait for the workers to exit; a second signal, or the drain
    timeout, kills those still running. 0 when every worker exited cleanly."""
    log.info("stopping", signal=signal.Signals(stopping[0]).name, workers=len(workers))
    for process in workers.values():
        _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + drain_timeout_s + 5
    while any(p.is_alive() for p in workers.values()):
        if len(stopping) > 1 or time.monotonic() > deadline:
            log.warning("forced_exit", workers=[p.pid for p in workers.values() if p.is_alive()])
            for process in workers.values():
                _signal(process, signal.SIGKILL)
        wait([p.sentinel for p in workers.values() if p.is_alive()], timeout=0.5)
    codes = [p.exitcode for p in workers.values()]
    for process in workers.values():
        _forget(process, metrics)
    return 0 if all(c == 0 for c in codes) else 1


def _signal(process: BaseProcess, signum: signal.Signals) -> None:
    if process.pid is not None and process.is_alive():
        os.kill(process.pid, signum)


def _forget(process: BaseProcess, metrics_dir: str) -> None:
    """Drop a gone worker's live gauges (its counters stay: totals do not go down)."""
    from prometheus_client import multiprocess

    if process.pid is not None:
        multiprocess.mark_process_dead(process.pid, metrics_dir)  # type: ignore[no-untyped-call]


def _metrics_dir() -> tuple[str, bool]:
    """An empty directory for the workers' metric files, named to them by the environment
    (they inherit it; prometheus_client reads it when first imported there), and whether it
    was made here (and is removed at the end)."""
    configured = os.environ.get(METRICS_DIR_VARIABLE)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # a previous run's values would be added to ours
            stale.unlink()
        directory, made = str(path), False
    else:
        directory, made = tempfile.mkdtemp(prefix="openmmo-metrics-"), True
    os.environ[METRICS_DIR_VARIABLE] = directory
    return directory, made


def worker_main(settings: Settings, index: int, supervisor: int) -> None:
    """One worker: the gateway on the shared ports, until signalled or orphaned."""
    from openmmo.roles import gateway_main, run
    from openmmo.tracing import configure_tracing

    _stop_with_parent(supervisor)
    _watch_parent(supervisor, settings.drain_timeout_s)
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing("openmmo-gateway")
    log.info("gateway_worker_started", worker=index)
    run(lambda stop: gateway_main(settings, stop), settings.drain_timeout_s)


PR_SET_PDEATHSIG = 1


def _watch_parent(supervisor: int, drain_timeout_s: float) -> None:
    """The same, without relying on the kernel: a thread that sees the supervisor gone (this
    process handed to another parent) signals SIGTERM a second later (a second SIGTERM,
    after the kernel's, ends the drain at once: no supervisor, nothing to hand back to), and
    ends the process if it is still there after the drain's deadline. (The kernel's signal
    alone left workers running in some full test runs.)"""

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(0.5)
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(drain_timeout_s + 5)
        os._exit(1)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def _stop_with_parent(supervisor: int) -> None:
    """Have the kernel send this process SIGTERM (a drain) when the supervisor dies, even by
    SIGKILL; on Linux, where prctl exists (elsewhere the worker outlives it)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != supervisor:  # it died before the prctl
        os.kill(os.getpid(), signal.SIGTERM)
