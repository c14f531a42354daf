"""k6 cannot run here; this keeps its script in step with the protocol module instead."""

import re
from pathlib import Path

from openmmo.loadtest.bot import ATTACK_SKILL, GAME_REJECTIONS
from openmmo.protocol.codes import ClientType, Encoding, ServerType
from openmmo.protocol.snapshot import ENTITY_FIELDS
from openmmo.testing import default_game

SKILLS = default_game().skills

SCRIPT = (Path(__file__).resolve().parents[2] / "loadtest" / "k6" / "game.js").read_text()


def test_it_speaks_the_current_protocol():
    assert f"'{Encoding.JSON.subprotocol}'" in SCRIPT
    for kind in (ClientType.JOIN_GAME, ClientType.MOVE, ClientType.CHAT, ClientType.ATTACK):
        assert f"type: '{kind.value}'" in SCRIPT
    for kind in (
        ServerType.WELCOME,
        ServerType.JOINED,
        ServerType.SNAPSHOT,
        ServerType.ACK,
        ServerType.ERROR,
    ):
        assert f"'{kind.value}'" in SCRIPT
    assert "// entities: [" + ", ".join(ENTITY_FIELDS) + "]" in SCRIPT


def test_it_uses_the_same_endpoints_skill_and_rejections_as_the_bots():
    assert "/auth/device" in SCRIPT and "/api/zones/${ZONE}/join" in SCRIPT
    assert f"SKILL_ARROW = {ATTACK_SKILL};" in SCRIPT and SKILLS[ATTACK_SKILL].range >= 20
    listed = set(re.findall(r"'(\w+)'", SCRIPT.split("GAME_REJECTIONS = [")[1].split("]")[0]))
    assert listed == set(GAME_REJECTIONS)


def test_it_declares_the_seed_thresholds():
    for threshold in (
        "http_req_duration: ['p(95)<100']",
        "ws_connecting: ['p(95)<1000']",
        "ack_move: ['p(95)<100', 'p(99)<500']",
    ):
        assert threshold in SCRIPT


def test_it_is_valid_javascript(tmp_path):
    import shutil
    import subprocess

    node = shutil.which("node")
    assert node, "Node.js is needed to check the k6 script (it is on every machine here)"
    module = tmp_path / "game.mjs"
    module.write_text(SCRIPT)
    result = subprocess.run([node, "--check", str(module)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_it_resumes_dropped_connections_as_the_protocol_says():
    """Issue 11: the k6 script reconnects by itself, as openmmo.client.ResumingClient does."""
    from openmmo.client.resume import FINAL

    listed = SCRIPT.split("const FINAL_CLOSES = [")[1].split("]")[0]
    assert {int(code) for code in listed.split(",")} == set(FINAL)
    assert "/api/characters/${grant.character_id}/join" in SCRIPT
    assert "avoid_channel: grant.channel_id" in SCRIPT
    assert "Math.min(8, 0.25 * Math.pow(2, attempt))" in SCRIPT  # the client's Backoff
    assert "again.headers['Retry-After']" in SCRIPT
    assert "message.type === 'transfer'" in SCRIPT and "outcome.code === 4007" in SCRIPT
    assert "socket.on('close', (code) =>" in SCRIPT
    for metric in ("reconnects", "back_in_play"):
        assert f"'{metric}'" in SCRIPT
