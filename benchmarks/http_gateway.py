"""Gateway HTTP throughput on one core: token-authenticated reads with wrk, and logins.

    .venv/bin/python benchmarks/http_gateway.py [--seconds 10] [--connections 64]

The gateway runs alone on core 0 (PostgreSQL and Redis on the machine), wrk and the login
client on core 1. Reads: ``GET /api/zones`` and ``GET /api/characters/{id}`` with a bearer
token. Logins: ``POST /auth/login`` with argon2id at the OWASP cost, 8 at a time. Writes
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


def wrk(url: str, token: str, seconds: int, connections: int, script: Path) -> dict[str, float]:
    result = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
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
    row = {"requests_per_s": rate, "non_2xx": int(errors.group(1)) if errors else 0}
    for name, value in re.findall(r"(p\d+)_us (\d+)", result.stdout):
        row[f"{name}_ms"] = int(value) / 1000
    return row


async def logins(base: str, users: list[str], rounds: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def one(name: str) -> None:
            nonlocal failures
            async with semaphore:
                started = time.perf_counter()
                response = await http.post(
                    "/auth/login", json={"username": name, "password": "correct horse"}
                )
                latencies.append(time.perf_counter() - started)
                failures += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for _ in range(rounds) for n in users))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "logins": len(latencies),
        "failures": failures,
        "logins_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
    }


async def measure(cluster: Cluster, seconds: int, connections: int) -> dict[str, Any]:
    base = cluster.gateway_url
    users = [f"bench_{i:03d}" for i in range(48)]
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
    return {
        "zones": wrk(f"{base}/api/zones", token, seconds, connections, script),
        "character": wrk(
            f"{base}/api/characters/{character['character_id']}",
            token,
            seconds,
            connections,
            script,
        ),
        "login": await logins(base, users, rounds=2, concurrency=8),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:  # was a CalledProcessError (exit 127) after setting up
        sys.exit("http_gateway: wrk is missing: `make bench-tools` (or apt-get install wrk)")
    os.sched_setaffinity(0, {1})  # this driver too stays off the gateway's core
    database = create_database()
    cluster = Cluster(
        Path(tempfile.mkdtemp(prefix="openmmo-http-")),
        database_url=database,
        redis_url=REDIS_URL,
        rabbitmq_url=None,
        namespace=namespace(),
        zones=[],
        cpus={"gateway": "0"},
        env={
            "AUTH_RATE_PER_IP": "100000",
            "AUTH_BURST_PER_IP": "100000",
            "LOG_LEVEL": "warning",
            "ARGON2_MAX_CONCURRENCY": "4",
        },
    )
    try:
        cluster.start()
        results = asyncio.run(measure(cluster, args.seconds, args.connections))
    finally:
        cluster.stop_all()
        drop_database(database)
    for name in ("zones", "character"):
        row = results[name]
        print(
            f"GET {name:<10} {row['requests_per_s']:>9.0f} req/s  p50 {row['p50_ms']:.1f} ms"
            f"  p95 {row['p95_ms']:.1f} ms  p99 {row['p99_ms']:.1f} ms  non-2xx "
            f"{row['non_2xx']}"
        )
    login = results["login"]
    print(
        f"POST login      {login['logins_per_s']:>9.1f} logins/s  p50 {login['p50_ms']} ms"
        f"  p95 {login['p95_ms']} ms  failures {login['failures']}"
    )
    Path("reports").mkdir(exist_ok=True)
    Path("reports/http.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
