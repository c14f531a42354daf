"""The openmmo command and the standalone roles, as an operator runs them."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from openmmo.storage.migrate import head_revision
from openmmo.testing import free_port
from openmmo.testing.local import TEST_JWT_SECRET

pytestmark = pytest.mark.e2e


def openmmo(*args, env=None, cwd=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "openmmo", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


def test_version_prints_build_information():
    result = openmmo("version")
    assert result.returncode == 0
    info = json.loads(result.stdout)
    assert info["version"] and info["git_commit"]


def test_invalid_configuration_fails_at_start_naming_the_setting(tmp_path):
    result = openmmo("zone", env={"SERVER_PORT": "http"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "SERVER_PORT" in result.stderr
    unknown_zone = openmmo("zone", "--zone", "42", cwd=tmp_path)
    assert unknown_zone.returncode == 2
    assert "WORLD_ZONE_ID" in unknown_zone.stderr


def test_a_game_that_cannot_be_loaded_stops_every_role_at_start(tmp_path):
    (tmp_path / "brokengame.py").write_text("from openmmo.game import Game\ngame = Game(\n")
    env = {"PYTHONPATH": str(tmp_path), "JWT_SECRET": TEST_JWT_SECRET}
    roles = ("zone", "gateway", "up")
    with ThreadPoolExecutor() as pool:  # six processes that each take seconds to give up
        runs = {
            (role, game): pool.submit(
                openmmo, role, env={**env, "OPENMMO_GAME": game}, cwd=tmp_path
            )
            for role in roles
            for game in ("no_such_game", "brokengame")
        }
    for role in roles:
        missing = runs[role, "no_such_game"].result()
        said = " ".join(missing.stderr.split())  # the console wraps long lines
        assert missing.returncode == 2, (role, said)
        assert "OPENMMO_GAME='no_such_game': no module named 'no_such_game'" in said
        broken = runs[role, "brokengame"].result()
        said = " ".join(broken.stderr.split())
        assert broken.returncode == 2, (role, said)
        assert "importing brokengame failed: SyntaxError" in said
        assert "Traceback" not in said


def test_migrate_takes_the_postgresql_url_people_write(tmp_path):
    """Regression: postgresql://... failed with ModuleNotFoundError: No module named 'psycopg'."""
    from openmmo.testing.services import create_database, drop_database

    database = create_database()
    try:
        plain = database.replace("postgresql+asyncpg://", "postgresql://")
        result = openmmo("migrate", env={"DATABASE_URL": plain}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["after"] == head_revision()
    finally:
        drop_database(database)


def test_migrate_is_idempotent(tmp_path):
    first = openmmo("migrate", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"before": None, "after": head_revision(), "changed": True}
    second = openmmo("migrate", cwd=tmp_path)
    assert json.loads(second.stdout)["changed"] is False
    unreachable = openmmo(
        "migrate",
        env={"DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"},
        cwd=tmp_path,
    )
    assert unreachable.returncode == 1
    assert "migration failed" in unreachable.stderr


def wait_http(url, timeout_s=20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return response.status, response.read().decode()
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


@pytest.mark.parametrize("role", ["zone", "gateway"])
def test_each_role_serves_health_metrics_and_stops_on_sigterm(tmp_path, role):
    server, health, metrics = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "SERVER_PORT": str(server),
        "HEALTH_PORT": str(health),
        "METRICS_PORT": str(metrics),
        "JWT_SECRET": TEST_JWT_SECRET,
        "BIND_HOST": "127.0.0.1",
        "WORLD_ZONE_ID": "2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "openmmo", role],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        status, body = wait_http(f"http://127.0.0.1:{health}/health/ready")
        assert status == 200 and json.loads(body)["status"] == "ready"
        assert wait_http(f"http://127.0.0.1:{health}/health/live")[0] == 200
        _, exposition = wait_http(f"http://127.0.0.1:{metrics}/metrics")
        expected = (
            "openmmo_tick_duration_seconds_bucket"
            if role == "zone"
            else "openmmo_http_request_duration_seconds"
        )
        assert expected in exposition
        check = openmmo("healthcheck", env={"HEALTH_PORT": str(health)})
        assert check.returncode == 0, check.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    assert any(line["event"] == "stopping" for line in lines)
    down = openmmo("healthcheck", env={"HEALTH_PORT": str(health)})
    assert down.returncode == 1


def stderr_of_up(cwd, env=None, args=()):
    """The stderr lines of `openmmo up` on free ports, started, ready, then sent SIGTERM."""
    cwd.mkdir()
    gateway, zones = free_port(), f"{free_port()},{free_port()}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openmmo",
            "up",
            "--port",
            str(gateway),
            "--zone-ports",
            zones,
            *args,
        ],
        env={
            **{k: v for k, v in os.environ.items() if k.upper() != "LOG_FORMAT"},
            "JWT_SECRET": TEST_JWT_SECRET,
            **(env or {}),
        },
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_http(f"http://127.0.0.1:{gateway}/health/ready")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    return stderr.decode().splitlines()


def test_up_logs_console_lines_unless_json_is_asked_for(tmp_path):
    """`openmmo up` is run by a person: readable lines; the server roles default to JSON (the
    test above). LOG_FORMAT, or the config file's log_format, win over up's default."""
    console = stderr_of_up(tmp_path / "default")
    started = [line for line in console if " zone_started " in line]
    assert len(started) == 2, console
    for line in started:
        assert re.match(
            r"\d{4}-\d\d-\d\dT[\d:.]+Z \[info\s*\] zone_started\s+\[openmmo\.zone\]", line
        )
    assert not [line for line in console if line.startswith("{")], console
    config = tmp_path / "server.yaml"
    config.write_text("log_format: json\n")
    for name, env, args in (
        ("env", {"LOG_FORMAT": "json"}, ()),
        ("config", None, ("--config", str(config))),
    ):
        records = [json.loads(line) for line in stderr_of_up(tmp_path / name, env, args)]
        zones = sorted(r["zone"] for r in records if r["event"] == "zone_started")
        assert zones == ["town", "wilds"], name
        assert {r["logger"] for r in records} >= {"openmmo.zone", "uvicorn.error"}, name
