"""Chaos scenarios named as in `openmmo chaos` (issue 11's pass criteria): each runs the
scenario against its own local world and asserts its checks; the figures are printed
(`pytest -s`) and written to reports/chaos-<scenario>.{json,html}."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from openmmo.chaos import run, write_report
from openmmo.storage.sql import create_engine
from tests.chaos.conftest import LONG

pytestmark = pytest.mark.e2e

REPORTS = Path(__file__).resolve().parents[2] / "reports"


async def _scenario(name, options, tmp_path):
    """Run scenario ``name``, write its report, print its figures; the test asserts."""
    result = await run(name, options, tmp_path)
    write_report(result, REPORTS)
    shown = {k: v for k, v in result.figures.items() if k not in ("timeline", "audit")}
    print(f"\n[chaos] {name}: {shown}")
    return result


async def test_kill_zone(options, tmp_path):
    """kill -9 of a zone server under play: 95 % back within 3 s, all within 10 s, at most
    1 s of movement lost, items unchanged, no grant to it once known dead."""
    result = await _scenario("kill-zone", options, tmp_path)
    assert result.passed, result.failed()
    assert result.figures["victims"] > 0
    assert result.figures["back_p95_s"] <= 3.0
    assert result.figures["grants_to_dead_after_known_dead"] == 0


async def test_rolling_restart(options, tmp_path):
    """Every zone server drained and replaced in turn: players moved by transfer, not
    dropped; error rate < 0.1 %; nobody loses progress."""
    result = await _scenario("rolling-restart", options, tmp_path)
    assert result.passed, result.failed()
    assert result.figures["moved_by_transfer"] >= options.players
    assert result.figures["told_to_reconnect"] == 0


# make chaos only, 30 s each: the three outages are also cut in make test, in
# tests/integration/test_outages.py, and the dependency-fault scenario itself runs there as
# the postgres partition below (one short scenario of this kind was half a minute of make test).
@pytest.mark.skipif(
    not LONG, reason="make chaos only; the outages: tests/integration/test_outages.py"
)
@pytest.mark.parametrize("dependency", ["redis", "postgres", "rabbitmq"])
async def test_dependency_down(dependency, options, tmp_path):
    """A dependency down under play: tick P95 unchanged, liveness never fails, nobody
    logged out, nothing confirmed lost, recovery without restarts."""
    result = await _scenario(f"{dependency}-down", options, tmp_path)
    assert result.passed, result.failed()
    assert result.figures["logged_out"] == 0 and result.figures["players_dropped"] == 0
    assert result.figures["recovered_after_s"] is not None


# Short: a partition; make chaos: every dependency with every fault.
LINK_FAULTS = (
    ["postgres-partition", "redis-partition", "postgres-latency", "redis-latency"]
    if LONG
    else ["postgres-partition"]
)


@pytest.mark.parametrize("scenario", LINK_FAULTS)
async def test_dependency_link_faults(scenario, options, tmp_path):
    """The link to a dependency cut (a partition: nothing refused, everything waits) or slow
    (+200 ms each way, 5 % of packets held a retransmission), behind a fault-injecting
    proxy: the same checks as a dependency down."""
    result = await _scenario(scenario, options, tmp_path)
    assert result.passed, result.failed()
    assert result.figures["liveness_failures"] == {}


async def test_zone_partition(options, tmp_path):
    """The players cut off from a live zone server (no FIN, no RST): they notice the silence,
    resume on the other channel, and the live owner hands their characters over."""
    result = await _scenario("zone-partition", options, tmp_path)
    assert result.passed, result.failed()
    assert result.figures["silences"] == result.figures["victims"] > 0


@pytest.mark.skipif(
    not LONG,
    reason="make chaos only (about a minute: the keep-alive close takes 40 s); the "
    "slow-consumer rule itself is tested in tests/zone/test_play.py",
)
async def test_slow_client(options, tmp_path):
    """Clients that join and stop reading are closed (4030 or the keep-alive's 1001, within
    40 s), and nobody else notices: tick P95 unchanged, nobody dropped."""
    result = await _scenario("slow-client", options, tmp_path)
    assert result.passed, result.failed()
    assert set(result.figures["close_codes"]) <= {4030, 1001}
    assert result.figures["players_dropped"] == 0


async def test_reconnect_storm(options, tmp_path):
    """Every player logs in again and drops at once: all back within 30 s, login errors
    < 0.1 %."""
    result = await _scenario("reconnect-storm", options, tmp_path)
    assert result.passed, result.failed()
    assert result.figures["everyone_back_after_s"] <= 30
    assert result.figures["login_error_rate"] < 0.001


async def test_load_test_bots_resume_after_a_kill_with_their_own_accounts(cluster, tmp_path):
    """Regression (issue 11): `openmmo loadtest` replaced each dropped bot with a new
    account (101 characters abandoned in one run)."""
    bots = 20
    run = await asyncio.create_subprocess_exec(
        *[
            sys.executable,
            "-m",
            "openmmo",
            "loadtest",
            "--gateway",
            cluster.gateway_url,
            "--stages",
            "2s:20,10s:20,1s:0",
            "--processes",
            "1",
            "--report-dir",
            str(tmp_path),
        ],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    await asyncio.sleep(6.0)  # 1.5 s start, 2 s ramp, then play
    cluster.kill("zone1-1")
    out = (await asyncio.wait_for(run.communicate(), 120))[0].decode()
    result = json.loads((tmp_path / "loadtest.json").read_text())
    engine = create_engine(cluster.base_env["DATABASE_URL"])
    async with engine.connect() as connection:
        accounts = (await connection.execute(text("SELECT count(*) FROM accounts"))).scalar()
    await engine.dispose()
    back = result["totals"]["back_in_play"]
    print(
        "\n[chaos] load test bots, zone server killed:",
        {
            "dropped": sum(result["drops"].values()),
            "resumed": result["reconnects"],
            "back_p95_ms": back["p95"],
            "back_max_ms": back["max"],
            "accounts": accounts,
            "errors": result["errors"]["by_kind"],
        },
    )
    assert result["drops"].get("None", 0) >= 3, out  # the killed channel's bots, 1006
    assert result["reconnects"] == sum(result["drops"].values()), out
    assert "resume_failed" not in result["errors"]["by_kind"], out
    assert accounts == bots  # the same accounts came back; none was created to replace one
    assert back["max"] <= 10_000
