"""The load-test harness itself, in a short run against a real `openmmo up`."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def loadtest(world, report_dir, *extra):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "openmmo",
            "loadtest",
            "--gateway",
            world.gateway_url,
            "--stages",
            "2s:20,4s:20,1s:0",
            "--processes",
            "2",
            "--report-dir",
            str(report_dir),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bots_connect_play_and_are_measured(world, tmp_path):
    run = loadtest(
        world, tmp_path, "--threshold", "ack_move:p(95)<1000", "--threshold", "errors:rate<0.01"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((tmp_path / "loadtest.json").read_text())
    assert report["passed"] and report["complete"]
    assert max(point["bots"] for point in report["timeline"]) == 20
    assert report["totals"]["ack_move"]["count"] > 500  # 20 bots x 10 moves/s x ~5 s
    assert report["totals"]["ack_chat"]["count"] >= 20
    assert report["totals"]["ws_connecting"]["count"] == 20
    assert 0 < report["totals"]["ack_move"]["p95"] < 1000
    assert report["errors"]["count"] == 0
    # every bot gets ≥ 10 snapshots a second of ~a hundred bytes or more: bytes are counted
    assert report["bytes_received"] > 20 * 5 * 10 * 100
    assert 1000 < report["bytes_per_player_s"] < 100_000
    assert sum(p["bytes_in"] for p in report["timeline"]) <= report["bytes_received"]
    assert "KB per player-second" in run.stdout
    assert "PASSED" in (tmp_path / "loadtest.html").read_text()
    assert "PASS ack_move p(95)<1000" in run.stdout


def test_a_breached_threshold_fails_the_run(world, tmp_path):
    run = loadtest(world, tmp_path, "--threshold", "ack_move:p(95)<0.001")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL ack_move p(95)<0.001" in run.stdout
    assert json.loads((tmp_path / "loadtest.json").read_text())["passed"] is False


def test_no_server_means_failure_not_success(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "openmmo",
            "loadtest",
            "--gateway",
            "http://127.0.0.1:9",
            "--stages",
            "1s:3,1s:0",
            "--threshold",
            "ack_move:p(95)<100",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert json.loads((tmp_path / "loadtest.json").read_text())["errors"]["count"] > 0


def test_invalid_scenarios_are_refused_clearly(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "openmmo", "loadtest", "--threshold", "ack_move:p95<100"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "invalid threshold" in run.stderr
