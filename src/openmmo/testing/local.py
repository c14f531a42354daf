"""Run a real local world (`openmmo up`) in a subprocess, on free ports, for tests and tools."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

TEST_JWT_SECRET = "test-secret-for-local-worlds-only-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def eventually(
    condition: Callable[[], bool], timeout_s: float = 15.0, interval_s: float = 0.1
) -> bool:
    """Whether ``condition()`` came true within ``timeout_s``, polling every ``interval_s``.
    An OSError (a server not listening yet, a connection refused) counts as not yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError):
            if condition():
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)


class LocalWorld:
    """``with LocalWorld(tmp_path) as world:`` starts the gateway and the game's zones (two
    for the default game; pass ``zones`` for another) and waits until they are ready; leaving
    the block sends SIGTERM and waits for a clean exit. ``args`` go to ``openmmo up``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        env: dict[str, str] | None = None,
        log_file: Path | None = None,
        zones: int = 2,
        args: list[str] | None = None,
    ):
        self.data_dir = data_dir
        self.gateway_port = free_port()
        self.zone_ports = [free_port() for _ in range(zones)]
        self.extra_args = args or []
        self.extra_env = env or {}
        self.log_file = log_file or data_dir / "openmmo.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def zone_url(self, zone_id: int) -> str:
        return f"ws://127.0.0.1:{self.zone_ports[zone_id - 1]}/ws"

    def start(self, timeout_s: float = 30.0) -> None:
        env = {
            **os.environ,
            "JWT_SECRET": TEST_JWT_SECRET,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
            "SPAWN_RADIUS": "0",  # players start side by side, as the tests expect
            **self.extra_env,
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openmmo",
                "up",
                "--port",
                str(self.gateway_port),
                "--zone-ports",
                ",".join(map(str, self.zone_ports)),
                *self.extra_args,
            ],
            cwd=self.data_dir,
            env=env,
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"openmmo up exited with {self.process.returncode}: {self.log_tail()}"
                )
            if self.ready():
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"openmmo up not ready in {timeout_s}s: {self.log_tail()}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.gateway_url}/health/ready", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit code (SIGKILL after ``timeout_s``)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.returncode = self.process.returncode
        return self.returncode

    def log_lines(self) -> list[str]:
        with contextlib.suppress(OSError):
            return self.log_file.read_text().splitlines()
        return []

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_file.read_text().splitlines()[-lines:])
        return ""

    def __enter__(self) -> LocalWorld:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
