// Unit tests of the browser client's protocol module, run by node's own test runner
// (tests/web/test_modules.py runs them as part of the suite).
import assert from "node:assert/strict";
import { test } from "node:test";

import { encode } from "../../src/openmmo/web/static/vendor/msgpack/index.mjs";
import { GameLink, backoffMs, decodeEntities } from "../../src/openmmo/web/static/net.mjs";

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
