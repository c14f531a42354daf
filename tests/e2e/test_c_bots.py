"""The C load generator and C reference server of benchmarks/reference/ stay in step with the
protocol: bots.c plays against a real `openmmo up` (and against server.c), its moves are
acknowledged by snapshots (it reads the ack at a fixed offset) and nothing errors."""

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from openmmo.testing.cluster import on_shared_services
from openmmo.testing.local import free_port
from openmmo.testing.services import wait_port

pytestmark = pytest.mark.e2e

SOURCES = Path(__file__).resolve().parents[2] / "benchmarks" / "reference"


@pytest.fixture(scope="module")
def binaries(tmp_path_factory):
    out = tmp_path_factory.mktemp("c-bin")
    for name in ("bots", "server"):
        source = str(SOURCES / f"{name}.c")
        command = ["cc", "-O2", "-Wall", "-Werror", "-o", str(out / name), source, "-lm"]
        subprocess.run(command, check=True)
    return out


def post(url, body, token=None):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def join_tickets(world, device_prefix, count):
    """Join tickets for ``count`` new guests of the town."""
    tickets = []
    for n in range(count):
        login = post(f"{world.gateway_url}/auth/device", {"device_id": f"{device_prefix}-{n}"})
        grant = post(f"{world.gateway_url}/api/zones/1/join", {}, login["token"])
        tickets.append(grant["ticket"])
    return tickets


def run_bots(binaries, tmp_path, port, bots, *extra, tickets=None):
    out = tmp_path / "report.json"
    command = [str(binaries / "bots"), "--port", str(port), "--bots", str(bots)]
    command += ["--hold", "3", "--settle", "0.5", "--out", str(out), *extra]
    if tickets is not None:
        (tmp_path / "tickets.txt").write_text("\n".join(tickets) + "\n")
        command += ["--tokens", str(tmp_path / "tickets.txt")]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(out.read_text())


def test_bots_play_a_real_zone_server_movers_and_idle(world, binaries, tmp_path):
    tickets = join_tickets(world, "c-bots-test", 6)
    port = world.zone_ports[0]
    report = run_bots(
        binaries, tmp_path, port, 6, "--movers", "3", "--idle-chat-every", "1", tickets=tickets
    )
    assert report["playing"] == 6 and report["movers"] == 3
    assert report["errors"]["count"] == 0, report["errors"]
    moves = report["actions"]["move"]
    assert moves["count"] >= 3 * 10 * 2  # 3 movers at 10 Hz for ~3 s, each acked
    assert 0 < moves["p95_ms"] < 1000
    assert report["actions"]["chat"]["count"] >= 3  # idle bots chat every second
    gap = report["idle_snapshot_gap"]
    assert gap["count"] >= 3 * 10 * 2  # idle bots still get the world at ~10 Hz
    assert 50 < gap["p50_ms"] < 250


def test_bots_refused_with_a_bad_ticket_count_errors(world, binaries, tmp_path):
    report = run_bots(
        binaries, tmp_path, world.zone_ports[0], 2, "--join-timeout", "5", tickets=["x", "y"]
    )
    assert report["playing"] == 0
    assert report["errors"]["count"] >= 2


def test_reference_server_answers_the_same_protocol(binaries, tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [str(binaries / "server"), "--port", str(port), "--snapshot-bytes", "800"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port(port, 10)
        report = run_bots(binaries, tmp_path, port, 20)
    finally:
        server.terminate()
        server.wait(10)
    assert report["playing"] == 20
    assert report["errors"]["count"] == 0, report["errors"]
    assert report["actions"]["move"]["count"] >= 20 * 10 * 2
    assert 790 <= report["snapshot_bytes_mean"] <= 820


@pytest.fixture
def two_channels(tmp_path):
    with on_shared_services(tmp_path / "cluster", [1, 1]) as cluster:
        yield cluster


def test_bots_resume_on_the_other_channel_when_theirs_is_killed(two_channels, binaries, tmp_path):
    """Issue 11: the C bots come back by themselves (same token, the next port)."""
    cluster = two_channels
    tokens = [
        post(f"{cluster.gateway_url}/auth/device", {"device_id": f"c-resume-{n}"})["token"]
        for n in range(6)
    ]  # access tokens: a resumed bot uses its token again (a join ticket is single-use)
    (tmp_path / "tokens.txt").write_text("\n".join(tokens) + "\n")
    ports = ",".join(str(cluster.processes[n].server_port) for n in ("zone1-1", "zone1-2"))
    out = tmp_path / "report.json"
    command = [str(binaries / "bots"), "--port", ports, "--bots", "6", "--tokens"]
    command += [str(tmp_path / "tokens.txt"), "--settle", "0.5", "--hold", "9", "--resume", "30"]
    bots = subprocess.Popen([*command, "--out", str(out)], stdout=subprocess.PIPE, text=True)
    for line in bots.stdout:  # wait for the measuring window, then kill a channel
        if '"window_start"' in line:
            break
    time.sleep(1.0)
    cluster.kill("zone1-1")
    bots.communicate(timeout=60)
    assert bots.returncode == 0
    report = json.loads(out.read_text())
    assert report["drops"] == 3  # bots 0, 2 and 4 played on the killed channel
    assert report["reconnects"] == 3
    assert report["back_in_play"]["count"] == 3 and report["back_in_play"]["max_ms"] < 10_000
    assert report["playing"] == 6
    assert "resume_failed" not in report["errors"]["kinds"], report["errors"]


def test_bots_on_protocol_v2_keep_their_views_from_deltas(world, binaries, tmp_path):
    tickets = join_tickets(world, "c-bots-v2", 6)
    report = run_bots(
        binaries, tmp_path, world.zone_ports[0], 6, "--movers", "3", "--protocol", "2",
        tickets=tickets,
    )  # fmt: skip
    assert report["protocol"]["welcomes_v2"] == 6, report["protocol"]
    assert report["playing"] == 6 and report["errors"]["count"] == 0, report["errors"]
    assert report["protocol"]["resyncs"] == 0
    assert report["actions"]["move"]["count"] >= 3 * 10 * 2  # moves acked from v2 snapshots
    # Each bot sees at least itself and the NPCs near the spawn: counted from its view.
    assert report["snapshot_entities_mean_scanned"] >= 1
