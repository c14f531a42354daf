"""Real backing services for tests: the machine's shared PostgreSQL, Redis and RabbitMQ (used
through throwaway databases and namespaces), and throwaway server processes on free ports for
tests that kill a dependency. The shared services are never stopped.
"""

from __future__ import annotations

import abc
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from openmmo.testing.local import free_port

PG_ADMIN_URL = os.environ.get("OPENMMO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("OPENMMO_TEST_REDIS", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("OPENMMO_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")


def wait_port(port: int, timeout_s: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s")


def namespace() -> str:
    """A unique prefix for keys, exchanges and databases of one test run."""
    return f"t{secrets.token_hex(4)}"


def _psql(url: str, sql: str) -> None:
    subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True,
        capture_output=True,
        timeout=30,
    )


def create_database(admin_url: str = PG_ADMIN_URL) -> str:
    """A new empty database on the shared server; returns its SQLAlchemy URL."""
    name = f"openmmo_{namespace()}"
    _psql(admin_url, f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


def drop_database(url: str, admin_url: str = PG_ADMIN_URL) -> None:
    name = url.rsplit("/", 1)[1]
    _psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Throwaway(abc.ABC):
    """A server process of our own on a free port; :meth:`kill` stops it hard, :meth:`start`
    brings it back on the same port (and, where the server keeps data, the same data)."""

    name = "server"
    host = "127.0.0.1"  # where it listens (and is waited for)

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"openmmo-{self.name}-"))
        self.process: subprocess.Popen[bytes] | None = None

    @abc.abstractmethod
    def command(self) -> list[str]:
        """The server's command line, listening on ``self.port``."""

    def start(self, timeout_s: float = 30.0) -> None:
        log = (self.dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=log, start_new_session=True, env=self.env()
        )
        log.close()
        wait_port(self.port, timeout_s, self.host)

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Throwaway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ThrowawayRedis(Throwaway):
    """``persistent``: an append-only file synced on every write, as a production Redis
    that must keep refresh tokens across a restart is configured."""

    name = "redis"

    def __init__(self, persistent: bool = False) -> None:
        super().__init__()
        self.persistent = persistent

    def command(self) -> list[str]:
        durability = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        return [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            *durability,
            "--dir",
            str(self.dir),
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _unprivileged(path: Path, user: str) -> list[str]:
    """Run as ``user`` when we are root (PostgreSQL and RabbitMQ refuse to run as root)."""
    if os.geteuid() != 0:
        return []
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for child in path.rglob("*"):
        os.chown(child, entry.pw_uid, entry.pw_gid)
    return ["runuser", "-u", user, "--"]


def _pg_bin(tool: str) -> str:
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), reverse=True):
        return str(candidate)
    found = shutil.which(tool)
    if found is None:
        raise FileNotFoundError(f"{tool} not found: install PostgreSQL (make services)")
    return found


class ThrowawayPostgres(Throwaway):
    name = "postgres"

    def __init__(self) -> None:
        super().__init__()
        self.data = self.dir / "data"
        self.data.mkdir()
        prefix = _unprivileged(self.dir, "postgres")
        subprocess.run(
            [
                *prefix,
                _pg_bin("initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def command(self) -> list[str]:
        prefix = _unprivileged(self.dir, "postgres")
        return [
            *prefix,
            _pg_bin("postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ]

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


class ThrowawayRabbitMQ(Throwaway):
    name = "rabbitmq"

    def __init__(
        self,
        plugins: tuple[str, ...] = (),
        *,
        host: str = "127.0.0.1",
        netns: str | None = None,
        config: str = "",
    ) -> None:
        """``netns``: run in that network namespace (``ip netns exec``), listening on
        ``host`` there; ``config``: the lines of its ``rabbitmq.conf``."""
        super().__init__()
        self.host = host
        self.prefix = ["ip", "netns", "exec", netns] if netns else []
        self.dist_port = free_port()
        self.node = f"openmmo{self.port}@localhost"
        (self.dir / "enabled_plugins").write_text(f"[{','.join(plugins)}].\n")
        if config:
            (self.dir / "rabbitmq.conf").write_text(config)

    def start(self, timeout_s: float = 30.0) -> None:
        super().start(timeout_s)
        self.ctl("await_startup", timeout_s=timeout_s)  # the port opens before the app runs

    def ctl(self, *args: str, input_text: str | None = None, timeout_s: float = 30.0) -> str:
        """``rabbitmqctl`` on this node (``input_text`` on its stdin); its output (raises
        with stderr when it fails)."""
        done = subprocess.run(
            [*self.prefix, "rabbitmqctl", "-n", self.node, *args],
            env=self.env(),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()[-500:]}")
        return done.stdout

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq"),
        }

    def command(self) -> list[str]:
        _unprivileged(self.dir, "rabbitmq")  # the Debian wrapper switches to that user
        return [*self.prefix, "rabbitmq-server"]

    def kill(self) -> None:
        pid_file = self.dir / "pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        super().kill()
        with contextlib.suppress(OSError):
            pid_file.unlink()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}/"
