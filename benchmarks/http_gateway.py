"""Gateway HTTP throughput: token-authenticated reads with wrk, and logins.

    .venv/bin/python benchmarks/http_gateway.py [--seconds 10] [--connections 64] [--workers N]

With one worker (the default) the gateway runs alone on core 0 (PostgreSQL and Redis on the
machine), wrk and the login client on core 1: the numbers are per gateway core. With
``--workers N`` (GATEWAY_WORKERS) nothing is pinned: N gateway processes, wrk (two threads),
PostgreSQL and Redis share the machine, as the seed's "10,000 requests/s" asks. Reads:
``GET /api/zones`` and ``GET /api/characters/{id}`` with a bearer token. Logins:
``POST /auth/login`` with argon2id at the OWASP cost, 8 at a time; then the character reads
again while 50 logins/s arrive, to show hashing does not stall them. Writes
reports/http.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from openmmo.testing.cluster import Cluster
from openmmo.testing.services import REDIS_URL, create_database, drop_database, namespace

WRK_SCRIPT = """
done = function(summary, latency, requests)
  for _, p in pairs({50, 95, 99}) do
    io.write(string.format("p%d_us %d\\n", p, latency:percentile(p)))
  end
end
"""


def wrk(
    url: str, token: str, seconds: int, connections: int, script: Path, pinned: bool
) -> dict[str, float]:
    result = subprocess.run(
        [
            *(["taskset", "-c", "1", "wrk", "-t1"] if pinned else ["wrk", "-t2"]),
            f"-c{connections}",
            f"-d{seconds}s",
            "-H",
            f"Authorization: Bearer {token}",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    total = re.search(r"(\d+) requests in", result.stdout)
    socket_errors = re.search(r"Socket errors: (.*)", result.stdout)
    failed = sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1))) if socket_errors else 0
    row = {
        "requests_per_s": rate,
        "requests": int(total.group(1)) if total else 0,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": failed,
    }
    for name, value in re.findall(r"(p\d+)_us (\d+)", result.stdout):
        row[f"{name}_ms"] = int(value) / 1000
    return row


async def login(http: httpx.AsyncClient, name: str, latencies: list[float]) -> int:
    started = time.perf_counter()
    response = await http.post("/auth/login", json={"username": name, "password": "correct horse"})
    latencies.append(time.perf_counter() - started)
    return response.status_code


def login_row(latencies: list[float], statuses: list[int], elapsed: float) -> dict[str, Any]:
    latencies = sorted(latencies)
    failed = [s for s in statuses if s != 200]
    return {
        "logins": len(latencies),
        "failures": len(failed),
        "failure_statuses": {str(s): failed.count(s) for s in sorted(set(failed))},
        "logins_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
    }


async def logins(base: str, users: list[str], rounds: int, concurrency: int) -> dict[str, Any]:
    """As fast as they go, ``concurrency`` at a time: what hashing costs."""
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def one(name: str) -> int:
            async with semaphore:
                return await login(http, name, latencies)

        started = time.perf_counter()
        statuses = await asyncio.gather(*(one(n) for _ in range(rounds) for n in users))
        elapsed = time.perf_counter() - started
    return login_row(latencies, statuses, elapsed)


async def paced_logins(base: str, users: list[str], rate: float, seconds: float) -> dict[str, Any]:
    """``rate`` logins a second for ``seconds``, each sent on time whether or not the ones
    before it have been answered (open loop, as players arrive)."""
    latencies: list[float] = []
    async with httpx.AsyncClient(
        base_url=base, timeout=60, limits=httpx.Limits(max_connections=None)
    ) as http:
        started = time.perf_counter()
        tasks = []
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(login(http, users[n % len(users)], latencies)))
        statuses = await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return login_row(latencies, statuses, elapsed)


async def measure(
    cluster: Cluster, seconds: int, connections: int, pinned: bool, login_rate: float
) -> dict[str, Any]:
    base = cluster.gateway_url
    # Enough accounts that no one logs in more often than the per-username limits allow.
    users = [f"bench_{i:03d}" for i in range(160)]
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for name in users:
            response = await http.post(
                "/auth/register", json={"username": name, "password": "correct horse"}
            )
            response.raise_for_status()
        token = response.json()["token"]
        character = (
            await http.post(
                "/api/characters",
                json={"name": "Benchy"},
                headers={"Authorization": f"Bearer {token}"},
            )
        ).json()
    script = Path(tempfile.mkdtemp()) / "percentiles.lua"
    script.write_text(WRK_SCRIPT)
    read = f"{base}/api/characters/{character['character_id']}"
    results: dict[str, Any] = {
        "zones": wrk(f"{base}/api/zones", token, seconds, connections, script, pinned),
        "character": wrk(read, token, seconds, connections, script, pinned),
        "login": await logins(base, users[:48], rounds=2, concurrency=8),
    }
    reads = asyncio.create_task(
        asyncio.to_thread(wrk, read, token, seconds, connections, script, pinned)
    )
    await asyncio.sleep(0.5)  # the reads are under way before the first login
    results["login_during_reads"] = await paced_logins(base, users, login_rate, seconds - 1)
    results["character_during_logins"] = await reads
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--workers", type=int, default=1, help="GATEWAY_WORKERS; more than 1 pins nothing"
    )
    parser.add_argument("--login-rate", type=float, default=50.0, help="logins/s during reads")
    args = parser.parse_args()
    pinned = args.workers == 1
    if shutil.which("wrk") is None:  # was a CalledProcessError (exit 127) after setting up
        sys.exit("http_gateway: wrk is missing: `make bench-tools` (or apt-get install wrk)")
    if pinned:
        os.sched_setaffinity(0, {1})  # this driver too stays off the gateway's core
    database = create_database()
    cluster = Cluster(
        Path(tempfile.mkdtemp(prefix="openmmo-http-")),
        database_url=database,
        redis_url=REDIS_URL,
        rabbitmq_url=None,
        namespace=namespace(),
        zones=[],
        cpus={"gateway": "0"} if pinned else {},
        env={
            "GATEWAY_WORKERS": str(args.workers),
            "AUTH_RATE_PER_IP": "100000",
            "AUTH_BURST_PER_IP": "100000",
            "LOG_LEVEL": "warning",
            "ARGON2_MAX_CONCURRENCY": "4",
        },
    )
    try:
        cluster.start()
        results = asyncio.run(
            measure(cluster, args.seconds, args.connections, pinned, args.login_rate)
        )
    finally:
        cluster.stop_all()
        drop_database(database)
    results["workers"] = args.workers
    print(f"gateway workers: {args.workers}" + (" (pinned to core 0)" if pinned else " (unpinned)"))
    for name, label in (
        ("zones", "GET zones"),
        ("character", "GET character"),
        ("character_during_logins", f"GET character, {args.login_rate:g} logins/s"),
    ):
        row = results[name]
        errors = row["non_2xx"] + row["socket_errors"]
        print(
            f"{label:<34} {row['requests_per_s']:>8.0f} req/s  p50 {row['p50_ms']:.1f} ms"
            f"  p95 {row['p95_ms']:.1f} ms  p99 {row['p99_ms']:.1f} ms"
            f"  errors {errors} ({errors / max(1, row['requests']):.3%})"
        )
    for name, label in (
        ("login", "POST login, 8 at a time"),
        ("login_during_reads", "POST login, paced"),
    ):
        login = results[name]
        print(
            f"{label:<34} {login['logins_per_s']:>8.1f} logins/s  p50 {login['p50_ms']} ms"
            f"  p95 {login['p95_ms']} ms  failures {login['failures']}"
            + (f" {login['failure_statuses']}" if login["failures"] else "")
        )
    Path("reports").mkdir(exist_ok=True)
    Path("reports/http.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
