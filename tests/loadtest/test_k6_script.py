"""k6 cannot run here; this keeps its script in step with the protocol module instead, and
plays it in node against stand-ins of k6's modules (k6.test.mjs)."""

import json
import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import msgpack
import numpy as np

from openmmo.loadtest.bot import ATTACK_SKILL, GAME_REJECTIONS
from openmmo.protocol.codes import PROTOCOL_DELTA, ClientType, Encoding, ServerType, Wire
from openmmo.protocol.delta import STATE_DTYPE, DeltaView, diff, keyframe, snapshot_v2, state_key
from openmmo.protocol.snapshot import ENTITY_FIELDS, TickPrefix
from openmmo.testing import default_game

SKILLS = default_game().skills

K6 = Path(__file__).resolve().parents[2] / "loadtest" / "k6"
SCRIPT = (K6 / "game.js").read_text()


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


def test_protocol_2_offers_v2_then_v1_over_msgpack():
    offered = ", ".join(
        Wire(Encoding.MSGPACK, version).subprotocol for version in (PROTOCOL_DELTA, 1)
    )
    assert f"'{offered}'" in SCRIPT
    assert "const PROTOCOL = Number(__ENV.PROTOCOL || 1);" in SCRIPT  # v1 stays the default
    assert f"type: '{ClientType.RESYNC.value}'" in SCRIPT
    assert "from './msgpack.js'" in SCRIPT and "from './delta.js'" in SCRIPT
    assert "socket.sendBinary(" in SCRIPT and "socket.on('binaryMessage'," in SCRIPT


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


def node() -> str:
    found = shutil.which("node")
    assert found, "Node.js is needed to check the k6 script (it is on every machine here)"
    return found


def test_it_is_valid_javascript(tmp_path):
    for name in ("game.js", "msgpack.js", "delta.js"):
        module = tmp_path / name.replace(".js", ".mjs")
        module.write_text((K6 / name).read_text())
        result = subprocess.run([node(), "--check", str(module)], capture_output=True, text=True)
        assert result.returncode == 0, name + ": " + result.stderr


def test_the_script_and_its_modules_pass_their_node_tests():
    """msgpack.js and delta.js, the §8.4 worked example from the document, and game.js itself
    played in v1 and v2 against stand-ins of k6's modules."""
    done = subprocess.run(
        [node(), "--test", str(Path(__file__).with_name("k6.test.mjs"))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "# pass 13" in done.stdout


def random_chains(rng: random.Random, chains: int) -> list[bytes]:
    """v2 snapshots as the server makes them: per chain a keyframe, then deltas of random
    changes (steps small and large, hit points, entities leaving and entering)."""

    def state_of(rows: dict[int, tuple[int, ...]]) -> np.ndarray:
        out = np.zeros(len(rows), dtype=STATE_DTYPE)
        for i, (handle, row) in enumerate(rows.items()):
            out[i] = (0, handle, *row)
        out["key"] = state_key(out["id"], out["handle"])
        return np.sort(out, order="key")

    def entity() -> tuple[int, ...]:
        return (
            rng.randrange(1, 2**32), rng.randrange(65536), rng.randrange(65536),
            rng.randrange(65536), rng.randrange(65536), rng.randrange(2), rng.randrange(256),
            rng.randrange(256),
        )  # fmt: skip

    frames = []
    for chain in range(chains):
        rows = {rng.randrange(65536): entity() for _ in range(rng.randint(0, 60))}
        old = state_of(rows)
        prefix = TickPrefix.build(chain, 1_795_706_675_531)
        quantum = rng.choice([1 / 32, 1 / 16, 2.0])
        frames.append(snapshot_v2(prefix, chain, 3, keyframe(old, quantum), []))
        for step in range(rng.randint(1, 6)):
            rows = dict(rows)
            for handle in list(rows):
                id_, qx, qy, hp, hp_max, kind, flags, level = rows[handle]
                if rng.random() < 0.1:
                    del rows[handle]
                    continue
                if rng.random() < 0.6:
                    d = rng.choice([2, 127, 400])
                    qx = min(max(qx + rng.randint(-d, d), 0), 0xFFFF)
                    qy = min(max(qy + rng.randint(-d, d), 0), 0xFFFF)
                if rng.random() < 0.2:
                    hp, flags = rng.randrange(65536), rng.randrange(256)
                rows[handle] = (id_, qx, qy, hp, hp_max, kind, flags, level)
            for _ in range(rng.randint(0, 4)):
                rows[rng.randrange(65536)] = entity()
            new = state_of(rows)
            frames.append(snapshot_v2(prefix, step, 3, diff(old, new), []))
            old = new
    return frames


def test_the_k6_view_holds_what_the_servers_deltas_say(tmp_path):
    """delta.js (with msgpack.js) against the server's own codec: the same views as
    openmmo.protocol.delta.DeltaView after every snapshot; and what msgpack.js encodes,
    Python's msgpack decodes to the same values."""
    frames = random_chains(random.Random(8), 60)
    (tmp_path / "frames.bin").write_bytes(b"".join(struct.pack("<I", len(f)) + f for f in frames))
    program = f"""
    import {{ readFileSync }} from 'node:fs';
    import {{ decode, encode }} from '{(K6 / "msgpack.js").as_uri()}';
    import {{ DeltaView }} from '{(K6 / "delta.js").as_uri()}';
    const data = readFileSync('{tmp_path / "frames.bin"}');
    const view = new DeltaView(), views = [];
    for (let o = 0; o < data.length;) {{
      const n = data.readUInt32LE(o);
      view.apply(decode(new Uint8Array(data.buffer, data.byteOffset + o + 4, n)));
      views.push([view.quantum, [...view.held].map(([h, row]) => [h, [...row]])]); // copies
      o += 4 + n;
    }}
    const sent = [{{ type: 'move', x: 512.37, y: 100, seq: 70000 }},
      {{ type: 'chat', channel: 'say', message: 'héllo 🐀', seq: 2 ** 40 }},
      {{ type: 'attack', target_id: 2147483648, skill_id: 2, seq: -5 }}];
    const encoded = sent.map((m) => Buffer.from(encode(m)).toString('hex'));
    console.log(JSON.stringify({{ views, encoded }}));
    """
    done = subprocess.run(
        [node(), "--input-type=module", "-e", program], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    expected = DeltaView()
    assert len(result["views"]) == len(frames)
    for frame, (quantum, held) in zip(frames, result["views"], strict=True):
        expected.apply(msgpack.unpackb(frame, raw=False))
        assert quantum == expected.quantum
        assert dict(held) == expected.entities
    decoded = [msgpack.unpackb(bytes.fromhex(h), raw=False) for h in result["encoded"]]
    assert decoded == [
        {"type": "move", "x": 512.37, "y": 100, "seq": 70000},
        {"type": "chat", "channel": "say", "message": "héllo 🐀", "seq": 2**40},
        {"type": "attack", "target_id": 2147483648, "skill_id": 2, "seq": -5},
    ]


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
