// The k6 script's own modules (loadtest/k6/msgpack.js, loadtest/k6/delta.js) and the script
// itself, played in node against stand-ins of k6's modules: k6 cannot run on these machines.
// Run by tests/loadtest/test_k6_script.py (`node --test`).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import { test } from 'node:test';

import { decode, encode, encodeBuffer } from '../../loadtest/k6/msgpack.js';
import { DeltaError, DeltaView, v1Records } from '../../loadtest/k6/delta.js';

const hex = (text) => Uint8Array.from(text.trim().split(/\s+/), (b) => parseInt(b, 16));
const bytesOf = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, '0')).join(' ');

// --- msgpack ------------------------------------------------------------------------------

test('integers take the smallest format and come back exactly', () => {
  const cases = [
    [0, '00'], [127, '7f'], [128, 'cc 80'], [255, 'cc ff'], [256, 'cd 01 00'],
    [65535, 'cd ff ff'], [65536, 'ce 00 01 00 00'], [4294967295, 'ce ff ff ff ff'],
    [4294967296, 'cf 00 00 00 01 00 00 00 00'], [2 ** 53 - 1, 'cf 00 1f ff ff ff ff ff ff'],
    [-1, 'ff'], [-32, 'e0'], [-33, 'd0 df'], [-128, 'd0 80'], [-129, 'd1 ff 7f'],
    [-32768, 'd1 80 00'], [-32769, 'd2 ff ff 7f ff'], [-(2 ** 31), 'd2 80 00 00 00'],
    [-(2 ** 31) - 1, 'd3 ff ff ff ff 7f ff ff ff'], [-(2 ** 53) + 1, 'd3 ff e0 00 00 00 00 00 01'],
  ];
  for (const [value, bytes] of cases) {
    assert.equal(bytesOf(encode(value)), bytes, String(value));
    assert.equal(decode(hex(bytes)), value);
  }
});

test('every width the other side may choose decodes', () => {
  assert.equal(decode(hex('cc 05')), 5);
  assert.equal(decode(hex('cd 00 05')), 5);
  assert.equal(decode(hex('ce 00 00 00 05')), 5);
  assert.equal(decode(hex('cf 00 00 01 a2 18 75 61 4b')), 1795706675531);
  assert.equal(decode(hex('d0 fb')), -5);
  assert.equal(decode(hex('d1 ff fb')), -5);
  assert.equal(decode(hex('d2 ff ff ff fb')), -5);
  assert.equal(decode(hex('d3 ff ff ff ff ff ff ff fb')), -5);
  assert.equal(decode(hex('ca 3f c0 00 00')), 1.5);
  assert.equal(decode(hex('cb 3f a0 00 00 00 00 00 00')), 0.03125);
  assert.equal(decode(hex('c0')), null);
  assert.equal(decode(hex('c2')), false);
  assert.equal(decode(hex('c3')), true);
  assert.deepEqual(decode(hex('dc 00 01 01')), [1]);
  assert.deepEqual(decode(hex('dd 00 00 00 01 01')), [1]);
  assert.deepEqual(decode(hex('de 00 01 a1 61 01')), { a: 1 });
  assert.deepEqual(decode(hex('df 00 00 00 01 a1 61 01')), { a: 1 });
  assert.equal(decode(hex('d9 01 61')), 'a');
  assert.equal(decode(hex('da 00 01 61')), 'a');
  assert.equal(decode(hex('db 00 00 00 01 61')), 'a');
  assert.deepEqual(decode(hex('c5 00 01 07')), Uint8Array.of(7));
  assert.deepEqual(decode(hex('c6 00 00 00 01 07')), Uint8Array.of(7));
});

test('values round-trip: floats, strings, bins, arrays and maps of every size', () => {
  const long = (n) => 'x'.repeat(n);
  const values = [
    1.5, -0.25, 1e300, 512.37, 'hello', 'héllo wörld ✓ 🐀', long(31), long(32), long(255),
    long(256), long(70000), new Uint8Array(0), new Uint8Array(255), new Uint8Array(256),
    new Uint8Array(70000).fill(9), [], new Array(15).fill(1), new Array(16).fill(1),
    new Array(70000).fill(0), {}, Object.fromEntries(new Array(16).fill(0).map((_, i) => [`k${i}`, i])),
    { type: 'move', x: 512.37, y: 100, seq: 3, nested: { a: [null, true, false, -7] } },
  ];
  for (const value of values) assert.deepEqual(decode(encode(value)), value);
  assert.equal(bytesOf(encode(long(31)).subarray(0, 1)), 'bf');
  assert.equal(bytesOf(encode(long(32)).subarray(0, 2)), 'd9 20');
  assert.equal(bytesOf(encode('é')), 'a2 c3 a9');
  assert.equal(bytesOf(encode('🐀')), 'a4 f0 9f 90 80');
  assert.equal(bytesOf(encode(0.5)), 'cb 3f e0 00 00 00 00 00 00');
  assert.equal(bytesOf(encode({ a: 1, b: undefined })), '81 a1 61 01'); // as JSON.stringify
});

test('the encoder gives k6 an ArrayBuffer of exactly the message', () => {
  const buffer = encodeBuffer({ type: 'join_game', seq: 1 });
  assert.ok(buffer instanceof ArrayBuffer);
  assert.deepEqual(decode(buffer), { type: 'join_game', seq: 1 });
  assert.equal(buffer.byteLength, encode({ type: 'join_game', seq: 1 }).length);
});

test('bins decode as views of the frame, not copies', () => {
  const frame = hex('81 a1 62 c4 02 0a 0b');
  const { b } = decode(frame);
  assert.deepEqual(b, Uint8Array.of(10, 11));
  assert.equal(b.buffer, frame.buffer);
});

test('anything but the protocol\'s types, or a damaged value, is refused', () => {
  const bad = {
    'never used': 'c1', 'fixext 1': 'd4 01 00', 'ext 8': 'c7 01 01 00', 'truncated uint32': 'ce 00 00',
    'truncated str': 'a3 61 62', 'truncated map': '82 a1 61 01', 'bytes after the value': '01 02',
    'nothing': '', 'uint64 beyond 2^53': 'cf 00 20 00 00 00 00 00 00',
    'int64 below -2^53': 'd3 ff df ff ff ff ff ff ff', 'a non-string key': '81 01 02',
    'a duplicate key': '82 a1 61 01 a1 61 02', 'overlong UTF-8': 'a2 c0 80',
    'a UTF-8 surrogate': 'a3 ed a0 80', 'a lone continuation byte': 'a1 80',
    'UTF-8 cut short': 'a2 e2 9c', 'beyond U+10FFFF': 'a4 f4 90 80 80',
  };
  for (const [name, bytes] of Object.entries(bad)) {
    assert.throws(() => decode(hex(bytes || '00').subarray(0, bytes ? undefined : 0)), Error, name);
  }
  assert.throws(() => decode('81'), TypeError);
  assert.throws(() => decode(hex(' 91'.repeat(70) + ' 00')), RangeError); // nested too deep
  assert.throws(() => encode(undefined), TypeError);
  assert.throws(() => encode(new Date()), TypeError);
  assert.throws(() => encode('\ud800'), TypeError);
});

// --- delta snapshots ----------------------------------------------------------------------

// The two worked examples of protocol.md §8.4, read from the document itself.
function workedExamples() {
  const text = readFileSync(new URL('../../docs/reference/protocol.md', import.meta.url), 'utf8');
  const section = text.split('**Worked example.**')[1].split('Decoding a `move` bin')[0];
  return [...section.matchAll(/```\n([\s\S]*?)```/g)].map(([, block]) => {
    const bytes = [];
    for (const line of block.split('\n')) {
      for (const token of line.trim().split(/\s+/)) {
        if (!/^[0-9a-f]{2}$/.test(token)) break;
        bytes.push(parseInt(token, 16));
      }
    }
    return Uint8Array.from(bytes);
  });
}

test('the worked example of §8.4 decodes to the view its prose describes', () => {
  const [keyframe, delta] = workedExamples();
  assert.equal(keyframe.length, 149);
  assert.equal(delta.length, 130);
  const first = decode(keyframe);
  assert.equal(first.type, 'snapshot');
  assert.equal(first.tick, 1200);
  assert.equal(first.time_ms, 1795706675531);
  assert.equal(first.ack, 7);
  assert.equal(first.full, true);
  const view = new DeltaView();
  view.apply(first);
  assert.equal(view.quantum, 1 / 32);
  assert.deepEqual(Object.fromEntries(view.held), {
    3: [1, 3200, 3200, 100, 100, 0, 0, 1],
    9: [5, 3300, 3100, 90, 100, 0, 0, 1],
    7: [2147483648, 3856, 3072, 40, 40, 1, 0, 2],
  });
  const second = decode(delta);
  assert.equal(second.tick, 1202);
  assert.equal(second.ack, 8);
  view.apply(second);
  assert.deepEqual(Object.fromEntries(view.held), {
    3: [1, 3232, 3200, 100, 100, 0, 0, 1], // moved 1 unit right
    7: [2147483648, 3856, 3072, 25, 40, 1, 0, 2], // hit to 25 HP
    4: [42, 4160, 2888, 80, 100, 0, 0, 3], // came into view; 9 left
  });
  const byId = Object.fromEntries(view.records().map((r) => [r[0], r]));
  assert.deepEqual(byId[1], [1, 101, 100, 100, 100, 0, 0, 1]);
  assert.deepEqual(byId[2147483648], [2147483648, 120.5, 96, 25, 40, 1, 0, 2]);
  assert.deepEqual(byId[42], [42, 130, 90.25, 80, 100, 0, 0, 3]);
  // the ack sits at the same byte offset as in v1 (a uint32 after its 0xce marker at 46)
  for (const frame of [keyframe, delta]) assert.equal(frame[46], 0xce);
  assert.equal(new DataView(delta.buffer).getUint32(47), 8);
});

function rec(size, fields) { // little-endian records: [[bytes, value], ...] per record
  const out = new Uint8Array(size * fields.length), v = new DataView(out.buffer);
  fields.forEach((record, i) => {
    let o = i * size;
    for (const [width, value] of record) {
      if (width === 1) v.setUint8(o, value & 0xff);
      else if (width === 2) v.setUint16(o, value, true);
      else v.setUint32(o, value, true);
      o += width;
    }
  });
  return out;
}
const enter = (...rows) => rec(17, rows.map(([h, id, qx, qy]) =>
  [[2, h], [4, id], [2, qx], [2, qy], [2, 10], [2, 10], [1, 1], [1, 0], [1, 1]]));
const keyframeOf = (...rows) => ({ type: 'snapshot', full: true, quantum: 0.5, enter: enter(...rows) });

test('a delta that does not fit throws and leaves the view empty until a keyframe', () => {
  const cases = {
    'before any keyframe': [{ type: 'snapshot', move: rec(4, [[[2, 1], [1, 1], [1, 1]]]) }],
    'leave of an unknown handle': [keyframeOf([1, 100, 0, 0]), { leave: rec(2, [[[2, 2]]]) }],
    'enter of a handle held': [keyframeOf([1, 100, 0, 0]), { enter: enter([1, 101, 0, 0]) }],
    'update of an unknown handle': [keyframeOf([1, 100, 0, 0]), { update: rec(8, [[[2, 5], [2, 1], [2, 1], [1, 0], [1, 1]]]) }],
    'place of an unknown handle': [keyframeOf([1, 100, 0, 0]), { place: rec(6, [[[2, 5], [2, 1], [2, 1]]]) }],
    'a ragged bin': [keyframeOf([1, 100, 0, 0]), { move: new Uint8Array(5) }],
    'a move off the grid': [keyframeOf([1, 100, 0, 0]), { move: rec(4, [[[2, 1], [1, -1], [1, 0]]]) }],
    'a keyframe without quantum': [{ full: true, enter: enter([1, 100, 0, 0]) }],
  };
  for (const [name, messages] of Object.entries(cases)) {
    const view = new DeltaView();
    const last = messages.pop();
    for (const m of messages) view.apply(m);
    assert.throws(() => view.apply(last), DeltaError, name);
    assert.equal(view.synced, false, name);
    assert.equal(view.size, 0, name);
    assert.throws(() => view.apply({ type: 'snapshot' }), DeltaError); // still out of step
    view.apply(keyframeOf([3, 7, 2, 4]));
    assert.deepEqual(view.records(), [[7, 1, 2, 10, 10, 1, 0, 1]], name);
  }
});

test('fields apply in the documented order whatever their order in the map', () => {
  const view = new DeltaView();
  view.apply(keyframeOf([1, 100, 10, 10]));
  // a handle leaves and comes back as another entity, which then moves, in one delta
  view.apply({ move: rec(4, [[[2, 1], [1, 3], [1, -2]]]), enter: enter([1, 200, 50, 50]),
    leave: rec(2, [[[2, 1]]]) });
  assert.deepEqual(Object.fromEntries(view.held), { 1: [200, 53, 48, 10, 10, 1, 0, 1] });
});

test('a v1 entities bin reads as the same records', () => {
  const bin = new Uint8Array(40), v = new DataView(bin.buffer);
  v.setUint32(0, 7, true); v.setFloat32(4, 512.5, true); v.setFloat32(8, 100.25, true);
  v.setUint16(12, 80, true); v.setUint16(14, 100, true); v.setUint8(18, 3);
  v.setUint32(20, 2 ** 31 + 4, true); v.setUint8(36, 1); v.setUint8(37, 1);
  assert.deepEqual(v1Records(bin), [[7, 512.5, 100.25, 80, 100, 0, 0, 3], [2 ** 31 + 4, 0, 0, 0, 0, 1, 1, 0]]);
  assert.throws(() => v1Records(new Uint8Array(21)), DeltaError);
});

// --- the script, played against stand-ins of k6's modules ----------------------------------

const FAKES = {
  k6: 'export const check = (v, c) => globalThis.K6.check(v, c); export const sleep = (s) => globalThis.K6.sleep(s);',
  'k6/http': 'export default { post: (...a) => globalThis.K6.post(...a) };',
  'k6/ws': 'export default { connect: (...a) => globalThis.K6.connect(...a) };',
  'k6/metrics': 'class M { constructor(n) { this.name = n; } add(v) { globalThis.K6.metric(this.name, v); } }'
    + ' export { M as Counter, M as Trend, M as Rate };',
};
const HOOKS = `const FAKES = ${JSON.stringify(FAKES)};
export async function resolve(specifier, context, next) {
  if (specifier in FAKES) {
    return { url: 'data:text/javascript,' + encodeURIComponent(FAKES[specifier]), shortCircuit: true };
  }
  return next(specifier, context);
}`;
register('data:text/javascript,' + encodeURIComponent(HOOKS));

class FakeSocket {
  constructor(params, binary) {
    this.params = params;
    this.binary = binary;
    this.handlers = {};
    this.intervals = {};
    this.sent = [];
  }
  on(event, fn) { this.handlers[event] = fn; }
  send(text) { assert.ok(!this.binary, 'a text frame on msgpack'); this.sent.push(JSON.parse(text)); }
  sendBinary(buffer) {
    assert.ok(this.binary && buffer instanceof ArrayBuffer, 'sendBinary takes an ArrayBuffer');
    this.sent.push(decode(buffer));
  }
  setInterval(fn, ms) { this.intervals[ms] = fn; }
  setTimeout() {}
  close(code) { this.handlers.close?.(code); }
  deliver(message) { // a server frame: JSON text, or msgpack (a Uint8Array is sent as is)
    if (!this.binary) return this.handlers.message(JSON.stringify(message));
    const bytes = message instanceof Uint8Array ? message : encode(message);
    this.handlers.binaryMessage(bytes.slice().buffer);
  }
  last(type) { return this.sent.filter((m) => m.type === type).at(-1); }
}

let imports = 0;
// Run the script's default function once with `env`; `scenario(socket, k6)` plays the server.
async function play(env, scenario) {
  const k6 = { metrics: {}, checks: {}, clock: 1_000_000 };
  const realNow = Date.now, realRandom = Math.random;
  Date.now = () => k6.clock;
  Math.random = () => 0; // heading 0, then -0.4 rad a step: each move goes (+0.55, -0.23)
  globalThis.__ENV = { PLAY_SECONDS: '30', ...env };
  globalThis.__VU = 1;
  globalThis.__ITER = 0;
  const respond = (body) => ({ status: 200, headers: {}, json: (key) => (key ? body[key] : body) });
  globalThis.K6 = {
    check(value, checks) {
      let ok = true;
      for (const [name, fn] of Object.entries(checks)) {
        const passed = Boolean(fn(value));
        (k6.checks[name] ||= []).push(passed);
        ok &&= passed;
      }
      return ok;
    },
    sleep(seconds) { k6.clock += seconds * 1000; },
    post(url) {
      if (url.endsWith('/auth/device')) return respond({ token: 'access' });
      return respond({ ws_url: 'ws://127.0.0.1:7001/ws', ticket: 'ticket', channel_id: 'town-1' });
    },
    connect(url, params, callback) {
      const socket = new FakeSocket(params, env.PROTOCOL === '2');
      k6.socket = socket;
      callback(socket);
      scenario(socket, k6);
      k6.clock += 60_000; // past the play time: the script's own close ends it
      socket.close(1000);
      return { status: 101 };
    },
    metric(name, value) { (k6.metrics[name] ||= []).push(value); },
  };
  try {
    const game = await import(`../../loadtest/k6/game.js?run=${imports++}`);
    game.default();
  } finally {
    Date.now = realNow;
    Math.random = realRandom;
  }
  return k6;
}

const ZONE = { zone_id: 1, width: 1024, height: 1024, pvp: false };
const JOINED = { type: 'joined', seq: 1, entity_id: 1, character: { x: 100, y: 100 }, zone: ZONE };
const sum = (values) => (values || []).reduce((a, b) => a + b, 0);

test('v1 (the default): JSON, entities from each snapshot', async () => {
  const k6 = await play({}, (ws, k6) => {
    assert.equal(ws.params.headers['Sec-WebSocket-Protocol'], 'openmmo.v1.json');
    ws.deliver({ type: 'welcome', protocol: 1 });
    assert.deepEqual(ws.sent[0], { type: 'join_game', seq: 1 });
    ws.deliver(JOINED);
    ws.deliver({ type: 'snapshot', ack: 1, entities: [
      [1, 101, 100, 100, 100, 0, 0, 1], [2147483648, 120.5, 96, 25, 40, 1, 0, 2]] });
    k6.clock += 1000;
    ws.intervals[100](); // the move takes the server's position first
    const move = ws.last('move');
    assert.ok(Math.hypot(move.x - 101, move.y - 100) < 0.61, JSON.stringify(move));
    ws.intervals[2000]();
    assert.deepEqual(ws.last('attack'), { type: 'attack', target_id: 2147483648, skill_id: 2, seq: 3 });
    ws.deliver({ type: 'snapshot', ack: 3, entities: [] });
    ws.deliver({ type: 'ack', seq: 3 });
  });
  assert.deepEqual(k6.checks['welcomed with PROTOCOL'], [true]);
  assert.equal(k6.metrics.ack_move.length, 1);
  assert.equal(k6.metrics.ack_attack.length, 1);
  assert.equal(sum(k6.metrics.errors), 0);
  assert.equal(k6.metrics.resyncs, undefined);
});

test('PROTOCOL=2: msgpack, deltas applied to a view, resync when out of step', async () => {
  const [keyframe, delta] = workedExamples();
  const k6 = await play({ PROTOCOL: '2' }, (ws, k6) => {
    assert.equal(ws.params.headers['Sec-WebSocket-Protocol'], 'openmmo.v2.msgpack, openmmo.v1.msgpack');
    ws.deliver({ type: 'welcome', protocol: 2, encoding: 'msgpack' });
    assert.deepEqual(ws.sent[0], { type: 'join_game', seq: 1 });
    ws.deliver(JOINED);
    ws.deliver(keyframe); // player 1 at (100, 100); the NPC at 20.9 units: out of reach
    ws.intervals[2000]();
    assert.equal(ws.last('attack'), undefined);
    ws.deliver(delta); // player 1 moves 1 unit right: the NPC (now 25 HP) is 19.9 units away
    k6.clock += 1000;
    ws.intervals[100]();
    const move = ws.last('move');
    assert.ok(Math.hypot(move.x - 101, move.y - 100) < 0.61, JSON.stringify(move));
    ws.intervals[2000]();
    assert.equal(ws.last('attack').target_id, 2147483648);
    ws.deliver({ type: 'snapshot', tick: 1203, ack: 3, xp: 0, events: [] }); // a keepalive
    ws.deliver({ type: 'ack', seq: 3 });
    // out of step: a leave of a handle not held
    ws.deliver({ type: 'snapshot', tick: 1204, ack: 3, xp: 0, leave: Uint8Array.of(99, 0), events: [] });
    assert.deepEqual(ws.last('resync'), { type: 'resync', seq: 4 });
    ws.deliver({ type: 'snapshot', tick: 1205, ack: 3, xp: 0, move: Uint8Array.of(3, 0, 1, 0), events: [] });
    assert.equal(ws.sent.filter((m) => m.type === 'resync').length, 1); // waits for the keyframe
    ws.deliver(keyframe);
    k6.clock += 1000;
    ws.intervals[100](); // back at (100, 100), from the keyframe
    assert.ok(Math.hypot(ws.last('move').x - 100, ws.last('move').y - 100) < 0.61);
  });
  assert.deepEqual(k6.checks['welcomed with PROTOCOL'], [true]);
  assert.deepEqual(k6.metrics.resyncs, [1]);
  assert.equal(sum(k6.metrics.errors), 1); // the resync
  assert.equal(k6.metrics.ack_attack.length, 1);
  assert.ok(k6.metrics.ack_move.length >= 1);
  assert.deepEqual(k6.metrics.snapshot_bytes.slice(0, 2), [149, 130]);
});

test('PROTOCOL=2 against a v1-only server: msgpack v1 snapshots, and the check says so', async () => {
  const bin = new Uint8Array(20), v = new DataView(bin.buffer);
  v.setUint32(0, 1, true); v.setFloat32(4, 300.5, true); v.setFloat32(8, 200, true);
  const k6 = await play({ PROTOCOL: '2' }, (ws, k6) => {
    ws.deliver({ type: 'welcome', protocol: 1, encoding: 'msgpack' });
    ws.deliver(JOINED);
    ws.deliver({ type: 'snapshot', tick: 1, ack: 1, xp: 0, entities: bin, events: [] });
    k6.clock += 1000;
    ws.intervals[100]();
    assert.ok(Math.hypot(ws.last('move').x - 300.5, ws.last('move').y - 200) < 0.61);
  });
  assert.deepEqual(k6.checks['welcomed with PROTOCOL'], [false]);
  assert.equal(sum(k6.metrics.errors), 0);
});
