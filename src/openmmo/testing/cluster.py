"""A world of separate processes on the production backends, for integration and chaos tests:
one gateway and any number of zone servers (``openmmo gateway``, ``openmmo zone``) sharing
PostgreSQL, Redis and RabbitMQ. Each process can be killed and started again by name."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from openmmo.testing.local import TEST_JWT_SECRET, free_port


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    health_port: int
    server_port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)


class Cluster:
    """``zones`` lists the zone id of each zone server to run, e.g. ``[1, 1, 2]`` for two
    channels of zone 1 and one of zone 2; servers are named ``zone<id>-<n>``. Matchmaker
    replicas are named ``matchmaker-<n>``."""

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str,
        redis_url: str,
        rabbitmq_url: str | None,
        namespace: str,
        zones: list[int],
        env: dict[str, str] | None = None,
        cpus: dict[str, str] | None = None,
        matchmakers: int = 0,
    ):
        self.workdir = workdir
        self.cpus = cpus or {}  # process name -> CPUs for taskset (benchmarks pin processes)
        self.base_env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            **({"RABBITMQ_URL": rabbitmq_url} if rabbitmq_url else {}),
            "NAMESPACE": namespace,
            "JWT_SECRET": TEST_JWT_SECRET,
            "BIND_HOST": "127.0.0.1",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
            "OWNERSHIP_LEASE_S": "2",
            **(env or {}),
        }
        self.processes: dict[str, Process] = {}
        gateway_port = free_port()
        self._add(
            "gateway",
            ["gateway"],
            {
                "SERVER_PORT": str(gateway_port),
                "HEALTH_PORT": str(gateway_port),
                "METRICS_PORT": str(gateway_port),
            },
            gateway_port,
            gateway_port,
        )
        counts: dict[int, int] = {}
        for zone_id in zones:
            counts[zone_id] = counts.get(zone_id, 0) + 1
            name = f"zone{zone_id}-{counts[zone_id]}"
            port, health = free_port(), free_port()
            self._add(
                name,
                ["zone"],
                {
                    "SERVER_PORT": str(port),
                    "HEALTH_PORT": str(health),
                    "METRICS_PORT": str(health),
                    "WORLD_ZONE_ID": str(zone_id),
                    "SERVER_NAME": name,
                },
                health,
                port,
            )
        for n in range(1, matchmakers + 1):
            health = free_port()
            self._add(
                f"matchmaker-{n}",
                ["matchmaker"],
                {"HEALTH_PORT": str(health), "METRICS_PORT": str(health)},
                health,
                health,
            )

    def _add(
        self, name: str, args: list[str], env: dict[str, str], health_port: int, server_port: int
    ) -> None:
        self.processes[name] = Process(
            name, args, {**self.base_env, **env}, health_port, server_port
        )

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.processes['gateway'].server_port}"

    def zone_url(self, name: str) -> str:
        return f"ws://127.0.0.1:{self.processes[name].server_port}/ws"

    def health_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.processes[name].health_port}"

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "openmmo", "migrate"],
            env=self.base_env,
            cwd=self.workdir,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self, timeout_s: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.migrate()
        for name in self.processes:
            self.start_process(name, wait=False)
        for name in self.processes:
            self.wait_ready(name, timeout_s)

    def start_process(
        self, name: str, wait: bool = True, timeout_s: float = 30.0, same_name: bool = False
    ) -> None:
        """Start (or restart) a process. A restarted zone server gets a new SERVER_NAME, as a
        replaced pod does, unless ``same_name`` (a StatefulSet pod, or a process manager
        restarting it in place)."""
        proc = self.processes[name]
        proc.starts += 1
        env = dict(proc.env)
        if proc.starts > 1 and "SERVER_NAME" in env and not same_name:
            env["SERVER_NAME"] = f"{env['SERVER_NAME']}-r{proc.starts}"
        log = (self.workdir / f"{name}.log").open("ab")
        pin = ["taskset", "-c", self.cpus[name]] if name in self.cpus else []
        proc.process = subprocess.Popen(
            [*pin, sys.executable, "-m", "openmmo", *proc.args],
            env=env,
            cwd=self.workdir,
            stdout=log,
            stderr=log,
        )
        log.close()
        if wait:
            self.wait_ready(name, timeout_s)

    def ready(self, name: str) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.health_url(name)}/health/ready", timeout=1
            ) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_ready(self, name: str, timeout_s: float = 30.0) -> None:
        proc = self.processes[name]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.process is not None and proc.process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.process.returncode}: {self.log_tail(name)}"
                )
            if self.ready(name):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{name} not ready after {timeout_s}s: {self.log_tail(name)}")

    def kill(self, name: str) -> None:
        """SIGKILL: no drain, no save — a crash."""
        proc = self.processes[name]
        if proc.process is not None and proc.process.poll() is None:
            proc.process.kill()
            proc.process.wait(10)

    def stop(self, name: str, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait: a clean shutdown. Returns the exit code."""
        proc = self.processes[name]
        if proc.process is None:
            return 0
        if proc.process.poll() is None:
            proc.process.send_signal(signal.SIGTERM)
            try:
                proc.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.process.kill()
                proc.process.wait()
        return proc.process.returncode

    def stop_all(self) -> dict[str, int]:
        return {name: self.stop(name) for name in reversed(list(self.processes))}

    def log_tail(self, name: str, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.workdir / f"{name}.log").read_text().splitlines()[-lines:])
        return ""

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


@contextlib.contextmanager
def on_shared_services(
    workdir: Path,
    zones: list[int],
    *,
    env: dict[str, str] | None = None,
    matchmakers: int = 0,
) -> Iterator[Cluster]:
    """A started :class:`Cluster` on the machine's PostgreSQL (a database of its own, dropped
    after), Redis and RabbitMQ (a namespace of its own); every process stopped after."""
    from openmmo.testing.services import (
        RABBITMQ_URL,
        REDIS_URL,
        create_database,
        drop_database,
        namespace,
    )

    database = create_database()
    cluster = Cluster(
        workdir,
        database_url=database,
        redis_url=REDIS_URL,
        rabbitmq_url=RABBITMQ_URL,
        namespace=namespace(),
        zones=zones,
        env=env,
        matchmakers=matchmakers,
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop_all()
        drop_database(database)
