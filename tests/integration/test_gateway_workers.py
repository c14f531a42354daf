"""GATEWAY_WORKERS: gateway processes sharing one port, their metrics added up, a dead one
replaced, all of them stopped with the supervisor."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from openmmo.testing.cluster import TEST_JWT_SECRET, on_shared_services
from openmmo.testing.local import eventually


def workers_of(supervisor: int) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    try:
        children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    except FileNotFoundError:
        return []
    found = []
    for child in children:
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
        except FileNotFoundError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


WORKERS = {"GATEWAY_WORKERS": "2"}


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("metrics")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, metrics_dir):
    env = {**WORKERS, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with on_shared_services(tmp_path_factory.mktemp("workers"), [], env=env) as world:
        supervisor = world.processes["gateway"].process.pid
        assert eventually(lambda: len(workers_of(supervisor)) == 2)
        yield world
        workers = workers_of(supervisor)
        code = world.stop("gateway")
        # SIGTERM drained every worker, and the supervisor exited cleanly.
        assert code == 0, world.log_tail("gateway")
        assert not any(alive(pid) for pid in workers)


def get(url: str, path: str) -> httpx.Response:
    """A request on a new connection: the kernel picks a worker per connection."""
    with httpx.Client(base_url=url, timeout=10) as http:
        return http.get(path)


def count(metrics: str, route: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("openmmo_http_request_duration_seconds_count")
        and f'route="{route}"' in line
    )


def test_workers_share_the_port_and_a_scrape_adds_up_all_of_them(cluster, metrics_dir):
    supervisor = cluster.processes["gateway"].process.pid
    workers = workers_of(supervisor)
    assert len(workers) == 2
    for _ in range(40):
        assert get(cluster.gateway_url, "/openapi.json").status_code == 200
    # Each worker that answered wrote its own metric file; with 40 connections both did.
    writers = {int(f.stem.rsplit("_", 1)[1]) for f in metrics_dir.glob("histogram_*.db")}
    assert set(workers) <= writers
    # Whichever worker answers the scrape reports all 40.
    for _ in range(3):
        assert count(get(cluster.gateway_url, "/metrics").text, "/openapi.json") == 40
    dependency = [
        line
        for line in get(cluster.gateway_url, "/metrics").text.splitlines()
        if line.startswith("openmmo_dependency_up{")
    ]
    assert dependency and all(line.endswith(" 1.0") and "pid=" not in line for line in dependency)


def test_a_worker_that_dies_is_replaced_while_the_other_serves(cluster):
    supervisor = cluster.processes["gateway"].process.pid
    victim, survivor = workers_of(supervisor)
    os.kill(victim, signal.SIGKILL)
    assert eventually(lambda: victim not in workers_of(supervisor), 5)
    for _ in range(20):  # the dead worker's socket left the port's group with it
        assert get(cluster.gateway_url, "/health/live").status_code == 200
    assert eventually(lambda: len(workers_of(supervisor)) == 2)
    assert survivor in workers_of(supervisor)
    assert "gateway_worker_exited" in cluster.log_tail("gateway")
    # logged after the new worker started: it may be seen before its line is written
    assert eventually(lambda: "gateway_worker_restarted" in cluster.log_tail("gateway"), 5)


def test_workers_stop_when_the_supervisor_is_killed(tmp_path):
    # The kernel's SIGTERM makes each worker drain, which may take up to DRAIN_TIMEOUT_S (20 s
    # by default: longer than the wait below, and it did once in a full run).
    with on_shared_services(tmp_path, [], env={**WORKERS, "DRAIN_TIMEOUT_S": "3"}) as world:
        supervisor = world.processes["gateway"].process.pid
        assert eventually(lambda: len(workers_of(supervisor)) == 2)
        workers = workers_of(supervisor)
        world.kill("gateway")  # SIGKILL: nothing passes the signal on
        assert eventually(lambda: not any(alive(pid) for pid in workers))


def test_more_than_one_worker_without_redis_is_refused_naming_the_setting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "openmmo", "gateway"],
        env={**env, "GATEWAY_WORKERS": "2", "JWT_SECRET": TEST_JWT_SECRET, "SERVER_PORT": "0"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "GATEWAY_WORKERS" in result.stderr and "REDIS_URL" in result.stderr
