// Unit tests of the browser client's protocol module, run by node's own test runner
// (tests/web/test_modules.py runs them as part of the suite).
import assert from "node:assert/strict";
import { test } from "node:test";

import { decode, encode } from "../../src/openmmo/web/static/vendor/msgpack/index.mjs";
import {
  DeltaView, GameLink, SUBPROTOCOLS, backoffMs, chooseRegion, decodeEntities, sleep,
  whisperTarget,
} from "../../src/openmmo/web/static/net.mjs";

// A WebSocket stand-in: remembers what the link offered and sent.
class FakeSocket {
  static OPEN = 1;
  static last = null;
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = FakeSocket.OPEN;
    this.sent = [];
    FakeSocket.last = this;
  }
  send(data) { this.sent.push(decode(data)); }
  close(code = 1000, reason = "") { this.readyState = 3; this.onclose?.({ code, reason }); }
  deliver(msg) { this.onmessage?.({ data: encode(msg).slice().buffer }); }
}
globalThis.WebSocket = FakeSocket;

function record(view, offset, { id, x, y, hp, hpMax, kind, flags, level }) {
  view.setUint32(offset, id, true);
  view.setFloat32(offset + 4, x, true);
  view.setFloat32(offset + 8, y, true);
  view.setUint16(offset + 12, hp, true);
  view.setUint16(offset + 14, hpMax, true);
  view.setUint8(offset + 16, kind);
  view.setUint8(offset + 17, flags);
  view.setUint8(offset + 18, level);
}

test("entity records decode as protocol.md §8.2 lays them out", () => {
  const buffer = new ArrayBuffer(44); // two records and a partial third, ignored
  const view = new DataView(buffer);
  record(view, 0, { id: 7, x: 512.5, y: 100.25, hp: 80, hpMax: 100, kind: 0, flags: 0, level: 3 });
  record(view, 20, { id: 2 ** 31 + 4, x: 1, y: 2, hp: 0, hpMax: 40, kind: 1, flags: 1, level: 1 });
  const [player, rat, ...rest] = decodeEntities(new Uint8Array(buffer));
  assert.deepEqual(player, { id: 7, x: 512.5, y: 100.25, hp: 80, hpMax: 100, kind: 0, dead: false, level: 3 });
  assert.equal(rat.id, 2147483652);
  assert.equal(rat.dead, true);
  assert.equal(rest.length, 0);
});

test("a record inside a larger buffer decodes from its own offset", () => {
  const buffer = new ArrayBuffer(40);
  record(new DataView(buffer), 20, { id: 9, x: 3, y: 4, hp: 1, hpMax: 2, kind: 0, flags: 0, level: 1 });
  const [entity] = decodeEntities(new Uint8Array(buffer, 20, 20));
  assert.equal(entity.id, 9);
});

test("backoff is full jitter under a doubling cap, never before Retry-After", () => {
  for (let attempt = 0; attempt < 8; attempt++) {
    const cap = Math.min(8000, 250 * 2 ** attempt);
    for (let i = 0; i < 200; i++) {
      const wait = backoffMs(attempt);
      assert.ok(wait >= 0 && wait <= cap, `${wait} outside [0, ${cap}]`);
    }
  }
  assert.ok(backoffMs(0, 3) >= 3000);
});

function link() {
  const l = new GameLink({}, 1);
  clearInterval(l.silenceTimer);
  return l;
}

test("unknown messages and events are passed on, not a crash", () => {
  const l = link();
  const messages = [], events = [];
  l.on("message", (m) => messages.push(m.type));
  l.on("event", (e) => events.push(e.type));
  l.receive({ type: "capture_the_flag_score", red: 1, blue: 0 });
  l.receive({ type: "snapshot", tick: 1, ack: 0, xp: 0, entities: new Uint8Array(0),
    events: [{ type: "flag_taken", by: 3 }, { type: "chat", message: "hi" }] });
  assert.deepEqual(messages, ["capture_the_flag_score"]);
  assert.deepEqual(events, ["flag_taken", "chat"]);
});

test("a snapshot acknowledging a move gives the action→ack latency", () => {
  const l = link();
  l.moveSent.set(3, performance.now() - 40);
  l.moveSent.set(5, performance.now());
  l.receive({ type: "snapshot", tick: 2, ack: 4, xp: 0, entities: [], events: [] });
  assert.ok(l.latencyMs >= 40 && l.latencyMs < 1000);
  assert.deepEqual([...l.moveSent.keys()], [5]); // not acknowledged yet
});

test("a reply resolves the request with its seq; a transfer is remembered", async () => {
  const l = link();
  const sent = [];
  l.ws = { readyState: 1, send: (data) => sent.push(data) };
  globalThis.WebSocket ??= { OPEN: 1 };
  const reply = l.request({ type: "inventory" });
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0], encode({ type: "inventory", seq: 1 }));
  l.receive({ type: "inventory", seq: 1, items: { gold: 3 } });
  assert.deepEqual((await reply).items, { gold: 3 });
  l.receive({ type: "transfer", zone_id: 2, channel_id: "wilds-1", ws_url: "ws://x/ws", ticket: "t" });
  assert.equal(l.transfer.channel_id, "wilds-1");
});

// --- protocol v2 (§8.4) ---------------------------------------------------------------------

function hex(text) {
  return new Uint8Array(text.trim().split(/\s+/).map((b) => parseInt(b, 16)));
}

// The worked example of protocol.md §8.4, byte for byte: a keyframe at tick 1200 ...
const KEYFRAME = hex(`
  89
  a4 74 79 70 65
  a8 73 6e 61 70 73 68 6f 74
  a4 74 69 63 6b
  ce 00 00 04 b0
  a7 74 69 6d 65 5f 6d 73
  cf 00 00 01 a2 18 75 61 4b
  a3 61 63 6b
  ce 00 00 00 07
  a2 78 70
  ce 00 00 00 00
  a4 66 75 6c 6c
  c3
  a7 71 75 61 6e 74 75 6d
  cb 3f a0 00 00 00 00 00 00
  a5 65 6e 74 65 72
  c4 33
     03 00  01 00 00 00  80 0c  80 0c  64 00  64 00  00  00  01
     07 00  00 00 00 80  10 0f  00 0c  28 00  28 00  01  00  02
     09 00  05 00 00 00  e4 0c  1c 0c  5a 00  64 00  00  00  01
  a6 65 76 65 6e 74 73
  90`);
// ... and the delta two ticks later.
const DELTA = hex(`
  8a
  a4 74 79 70 65 a8 73 6e 61 70 73 68 6f 74
  a4 74 69 63 6b ce 00 00 04 b2
  a7 74 69 6d 65 5f 6d 73 cf 00 00 01 a2 18 75 61 af
  a3 61 63 6b ce 00 00 00 08
  a2 78 70 ce 00 00 00 00
  a5 6c 65 61 76 65 c4 02
     09 00
  a5 65 6e 74 65 72 c4 11
     04 00  2a 00 00 00  40 10  48 0b  50 00  64 00  00  00  03
  a6 75 70 64 61 74 65 c4 08
     07 00  19 00  28 00  00  02
  a4 6d 6f 76 65 c4 04
     03 00  20  00
  a6 65 76 65 6e 74 73 90`);

function byId(entities) { return Object.fromEntries(entities.map((e) => [e.id, e])); }

/** A link on a fake v2 connection, past welcome; `snapshots` collects what it emits. */
function v2link() {
  const l = link();
  l.play({ ws_url: "ws://x/ws", ticket: "t", channel_id: "town-1" });
  const ws = FakeSocket.last;
  ws.onopen();
  ws.deliver({ type: "welcome", protocol: 2, seq: 1 });
  l.snapshots = [];
  l.on("snapshot", (msg, entities) => l.snapshots.push({ msg, entities }));
  return { l, ws, resyncs: () => ws.sent.filter((m) => m.type === "resync") };
}

/** A v2 snapshot with the given record bins (each a list of byte lists). */
function delta(fields, extra = {}) {
  const msg = { type: "snapshot", tick: 1, time_ms: 0, ack: 0, xp: 0, ...extra };
  for (const [name, rows] of Object.entries(fields)) msg[name] = new Uint8Array(rows.flat());
  msg.events = [];
  return msg;
}
const u16 = (n) => [n & 0xff, n >> 8];

test("the link offers v2 then v1, and a v2 welcome starts a fresh view", () => {
  assert.deepEqual(SUBPROTOCOLS, ["openmmo.v2.msgpack", "openmmo.v1.msgpack"]);
  const { l, ws } = v2link();
  assert.deepEqual(ws.protocols, SUBPROTOCOLS);
  assert.deepEqual(ws.sent.map((m) => m.type), ["auth", "join_game"]);
  assert.equal(l.protocol, 2);
  assert.ok(l.view instanceof DeltaView && !l.view.synced);
  ws.deliver(decode(KEYFRAME));
  assert.equal(l.view.held.size, 3);
  ws.close(4000, "silent"); // resume: the next connection must not keep this view
  l.play({ ws_url: "ws://y/ws", ticket: "t2", channel_id: "town-2" });
  assert.equal(l.view, null);
  FakeSocket.last.onopen();
  FakeSocket.last.deliver({ type: "welcome", protocol: 2, seq: 1 });
  assert.equal(l.view.held.size, 0);
  assert.equal(l.view.synced, false);
});

test("the worked example of §8.4 decodes to the view its prose describes", () => {
  assert.equal(KEYFRAME.byteLength, 149);
  assert.equal(DELTA.byteLength, 130);
  const { l, ws, resyncs } = v2link();
  ws.deliver(decode(KEYFRAME));
  const view = l.view;
  assert.equal(view.quantum, 1 / 32);
  assert.deepEqual(Object.fromEntries(view.held), {
    3: { id: 1, qx: 3200, qy: 3200, hp: 100, hp_max: 100, kind: 0, flags: 0, level: 1 },
    9: { id: 5, qx: 3300, qy: 3100, hp: 90, hp_max: 100, kind: 0, flags: 0, level: 1 },
    7: { id: 2147483648, qx: 3856, qy: 3072, hp: 40, hp_max: 40, kind: 1, flags: 0, level: 2 },
  });
  let seen = byId(l.snapshots.at(-1).entities);
  assert.deepEqual(Object.keys(seen).map(Number).sort((a, b) => a - b), [1, 5, 2147483648]);
  assert.deepEqual(seen[1], { id: 1, x: 100, y: 100, hp: 100, hpMax: 100, kind: 0, dead: false, level: 1 });
  assert.deepEqual([seen[5].x, seen[5].y, seen[5].hp], [103.125, 96.875, 90]);
  assert.deepEqual(seen[2147483648], { id: 2147483648, x: 120.5, y: 96, hp: 40, hpMax: 40, kind: 1, dead: false, level: 2 });
  assert.equal(l.snapshots.at(-1).msg.tick, 1200);

  ws.deliver(decode(DELTA));
  // player 1 moved 1 unit right, the NPC was hit to 25 HP, player 5 left, player 42 came
  seen = byId(l.snapshots.at(-1).entities);
  assert.deepEqual(Object.keys(seen).map(Number).sort((a, b) => a - b), [1, 42, 2147483648]);
  assert.deepEqual([seen[1].x, seen[1].y], [101, 100]);
  assert.deepEqual(seen[2147483648], { id: 2147483648, x: 120.5, y: 96, hp: 25, hpMax: 40, kind: 1, dead: false, level: 2 });
  assert.deepEqual(seen[42], { id: 42, x: 130, y: 90.25, hp: 80, hpMax: 100, kind: 0, dead: false, level: 3 });
  assert.deepEqual(view.held.get(4), { id: 42, qx: 4160, qy: 2888, hp: 80, hp_max: 100, kind: 0, flags: 0, level: 3 });
  assert.equal(view.held.has(9), false);
  assert.equal(l.snapshots.at(-1).msg.ack, 8);
  assert.deepEqual(resyncs(), []);
});

test("an empty v2 snapshot (a keepalive) changes nothing and keeps the entities", () => {
  const { l, ws } = v2link();
  ws.deliver(decode(KEYFRAME));
  const before = l.snapshots.at(-1).entities;
  ws.deliver(delta({}, { tick: 1220 }));
  assert.equal(l.snapshots.length, 2);
  assert.deepEqual(l.snapshots.at(-1).entities, before);
  assert.equal(l.view.held.size, 3);
});

test("an inconsistent delta asks for one resync and is ignored until a keyframe", () => {
  const { l, ws, resyncs } = v2link();
  ws.deliver(decode(KEYFRAME));
  const good = structuredClone(Object.fromEntries(l.view.held));
  const events = [];
  l.on("event", (e) => events.push(e.type));
  // moves handle 3, and updates handle 8, which it does not hold: nothing of it applies
  ws.deliver(delta({ move: [[...u16(3), 32, 0]], update: [[...u16(8), 1, 0, 1, 0, 0, 1]] }));
  assert.equal(resyncs().length, 1);
  assert.ok(resyncs()[0].seq > 0);
  assert.deepEqual(Object.fromEntries(l.view.held), good);
  // the deltas that follow are ignored (no second resync), their events still delivered
  ws.deliver(delta({ move: [[...u16(3), 32, 0]] }, { events: [{ type: "chat", message: "hi" }] }));
  ws.deliver(delta({ leave: [u16(9)] }));
  assert.equal(resyncs().length, 1);
  assert.deepEqual(Object.fromEntries(l.view.held), good);
  assert.equal(l.snapshots.length, 4);
  assert.deepEqual(byId(l.snapshots.at(-1).entities)[1].x, 100); // the last good view
  // the keyframe answering it: back in step, deltas apply again
  ws.deliver(delta({ enter: [[...u16(2), 1, 0, 0, 0, ...u16(320), ...u16(640), 50, 0, 100, 0, 0, 0, 1]] },
    { full: true, quantum: 0.5 }));
  ws.deliver(delta({ move: [[...u16(2), -2, 1]] }));
  assert.deepEqual(Object.fromEntries(l.view.held), {
    2: { id: 1, qx: 318, qy: 641, hp: 50, hp_max: 100, kind: 0, flags: 0, level: 1 },
  });
  assert.deepEqual([l.snapshots.at(-1).entities[0].x, l.snapshots.at(-1).entities[0].y], [159, 320.5]);
  assert.equal(resyncs().length, 1);
});

test("a delta before any keyframe, or an enter of a held handle, is out of step", () => {
  const first = v2link();
  first.ws.deliver(delta({ move: [[...u16(3), 1, 1]] }));
  assert.equal(first.resyncs().length, 1);
  assert.equal(first.l.view.held.size, 0);
  assert.deepEqual(first.l.snapshots.at(-1).entities, []);

  const again = v2link();
  again.ws.deliver(decode(KEYFRAME));
  again.ws.deliver(delta({ enter: [[...u16(7), 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1]] }));
  assert.equal(again.resyncs().length, 1);
  assert.equal(again.l.view.held.get(7).id, 2147483648);
  // a handle that leaves may come back naming another entity, in the same snapshot
  const view = new DeltaView();
  view.apply(decode(KEYFRAME));
  view.apply(delta({ leave: [u16(7)], enter: [[...u16(7), 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1]] }));
  assert.equal(view.held.get(7).id, 9);
});

test("protocol v1 still decodes its full entity lists", () => {
  const l = link();
  l.play({ ws_url: "ws://x/ws", ticket: "t", channel_id: "town-1" });
  const ws = FakeSocket.last;
  ws.onopen();
  ws.deliver({ type: "welcome", protocol: 1, seq: 1 });
  assert.equal(l.protocol, 1);
  assert.equal(l.view, null);
  const seen = [];
  l.on("snapshot", (msg, entities) => seen.push(entities));
  const bin = new Uint8Array(20);
  record(new DataView(bin.buffer), 0, { id: 7, x: 512.5, y: 100.25, hp: 80, hpMax: 100, kind: 0, flags: 1, level: 3 });
  ws.deliver({ type: "snapshot", tick: 3, time_ms: 0, ack: 0, xp: 0, entities: bin, events: [] });
  assert.deepEqual(seen[0], [{ id: 7, x: 512.5, y: 100.25, hp: 80, hpMax: 100, kind: 0, dead: true, level: 3 }]);
  assert.deepEqual(ws.sent.filter((m) => m.type === "resync"), []);
});

test("v2 keepalives (one a second) keep the link; 3 s of silence cuts it", () => {
  const { l, ws } = v2link();
  ws.deliver({ type: "joined", seq: 2, channel_id: "town-1" });
  assert.equal(l.state, "playing");
  l.lastHeard = performance.now() - 1100; // a keepalive is due any moment: not dead
  l.checkSilence();
  assert.equal(ws.readyState, FakeSocket.OPEN);
  ws.deliver(delta({}));
  l.checkSilence();
  assert.equal(ws.readyState, FakeSocket.OPEN);
  l.lastHeard = performance.now() - 3100;
  l.checkSilence();
  assert.notEqual(ws.readyState, FakeSocket.OPEN);
});

test("chooseRegion times every region that is up and takes the gateway's advice for the nearest", async () => {
  const regions = [
    { name: "a", up: true, this: true, gateway_url: "http://a", ping_url: "http://a/api/ping" },
    { name: "b", up: true, this: false, gateway_url: "http://b", ping_url: "http://b/api/ping" },
    { name: "c", up: false, this: false, gateway_url: "http://c", ping_url: "http://c/api/ping" },
  ];
  const asked = [];
  const api = {
    async request(method, path) {
      asked.push(path);
      const hint = new URL(path, "http://x").searchParams.get("region");
      return { region: "a", recommended: hint ?? "a", reason: hint ? "hint" : "own", regions };
    },
  };
  const pinged = [];
  const fetchImpl = async (url, options) => {
    pinged.push([url, options.mode]);
    await sleep(url.startsWith("http://b") ? 2 : 60); // b is nearer than this gateway's own
    return {};
  };
  const choice = await chooseRegion(api, { fetchImpl, pings: 3 });
  assert.deepEqual(asked, ["/api/regions", "/api/regions?region=b"]);
  assert.equal(choice.recommended, "b");
  assert.equal(choice.gateway_url, "http://b");
  assert.equal(choice.region, "a");
  assert.ok(!pinged.some(([url]) => url.startsWith("http://c")), "a region that is down is not pinged");
  assert.ok(pinged.every(([, mode]) => mode === "no-cors"));
  assert.deepEqual(Object.keys(choice.rtt_ms).sort(), ["a", "b"]);
});

test("chooseRegion with one region asks nothing more and pings nothing", async () => {
  const regions = [{ name: "local", up: true, this: true, gateway_url: "", ping_url: "/api/ping" }];
  const api = { request: async () => ({ region: "local", recommended: "local", reason: "own", regions }) };
  const choice = await chooseRegion(api, { fetchImpl: () => assert.fail("pinged") });
  assert.equal(choice.recommended, "local");
  assert.deepEqual(choice.rtt_ms, {});
});

test("a region that does not answer its ping is not timed and not chosen", async () => {
  const regions = [
    { name: "a", up: true, ping_url: "http://a/api/ping", gateway_url: "http://a" },
    { name: "b", up: true, ping_url: "http://b/api/ping", gateway_url: "http://b" },
  ];
  const api = {
    async request(method, path) {
      const hint = new URL(path, "http://x").searchParams.get("region");
      return { region: "a", recommended: hint ?? "a", reason: "hint", regions };
    },
  };
  const fetchImpl = (url) => (url.startsWith("http://b") ? Promise.reject(new TypeError("refused")) : Promise.resolve({}));
  const choice = await chooseRegion(api, { fetchImpl });
  assert.deepEqual(Object.keys(choice.rtt_ms), ["a"]);
  assert.equal(choice.recommended, "a");
});

test("a whisper target may name the region after an @", () => {
  assert.deepEqual(whisperTarget("Aria"), { to: "Aria" });
  assert.deepEqual(whisperTarget("Aria@eu-west"), { to: "Aria", region: "eu-west" });
  assert.deepEqual(whisperTarget("@odd"), { to: "@odd" });
});

test("chooseRegion asks for the player's home region rather than the nearest", async () => {
  const regions = [
    { name: "a", up: true, ping_url: "http://a/api/ping", gateway_url: "http://a" },
    { name: "b", up: true, ping_url: "http://b/api/ping", gateway_url: "http://b" },
  ];
  const asked = [];
  const api = {
    async request(method, path) {
      asked.push(path);
      const hint = new URL(path, "http://x").searchParams.get("region");
      return { region: "a", recommended: hint ?? "a", reason: "hint", regions };
    },
  };
  const fetchImpl = async (url) => { await sleep(url.startsWith("http://a") ? 1 : 40); return {}; };
  assert.equal((await chooseRegion(api, { fetchImpl, home: "b" })).recommended, "b");
  assert.equal((await chooseRegion(api, { fetchImpl, home: "gone" })).recommended, "a");
  assert.deepEqual(asked.filter((p) => p.includes("?")), ["/api/regions?region=b", "/api/regions?region=a"]);
});
