"""The Colyseus peer of benchmarks/colyseus.py still runs: its pinned packages install, the
town room serves, and the @colyseus/sdk bots play and get every kind of action acknowledged
(a move through the player's `ack` field in a state patch)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from openmmo.testing.local import free_port
from openmmo.testing.services import wait_port

pytestmark = pytest.mark.e2e

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from colyseus import HERE, NODE, install  # noqa: E402


@pytest.fixture(scope="module")
def server():
    versions = install()  # npm ci of the pinned versions, when node_modules is missing
    assert versions["colyseus"] == "0.18.8" and versions["node"].startswith("v22.")
    port = free_port()
    process = subprocess.Popen(
        [str(NODE), str(HERE / "server.mjs"), "--port", str(port)],
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, 30)
    yield port
    process.terminate()
    process.wait(10)


def test_sdk_bots_play_the_town_room(server, tmp_path):
    out = tmp_path / "bots.json"
    options = ["--port", str(server), "--bots", "8", "--hold", "3", "--settle", "0.5"]
    run = subprocess.run(
        [str(NODE), str(HERE / "bots.mjs"), *options, "--chat-every", "1", "--out", str(out)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["playing"] == 8
    assert report["errors"]["count"] == 0, report["errors"]
    moves = report["actions"]["move"]
    assert moves["count"] >= 8 * 10 * 2  # 10 Hz for ~3 s, each acknowledged by a patch
    assert 0 < moves["p95_ms"] < 1000
    assert report["actions"]["chat"]["count"] >= 8
