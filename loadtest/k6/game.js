// The OpenMMO bot behaviour for teams that use k6 (https://k6.io): the same as
// `openmmo loadtest` — guest login, a join ticket from the gateway, the JSON protocol
// (docs/reference/protocol.md; PROTOCOL=2: msgpack and delta snapshots, below): move at
// 10 Hz (taking its position from the server's snapshots once a second), chat every 5 s,
// attack the nearest NPC within reach every 2 s, and action -> ack latency from the
// sequence numbers snapshots and acks return. A dropped connection is resumed as
// protocol.md §2.7 says (and openmmo.client.ResumingClient does): a `transfer` is followed;
// after any close but 1000/4003/4009, a new ticket for the same character (passing over the
// channel just lost), with full-jitter exponential backoff that respects Retry-After.
// Reconnects and the time back in play are k6 metrics.
//
//   k6 run -e GATEWAY=http://127.0.0.1:8080 -e ZONE=1 loadtest/k6/game.js
//   k6 run -e GATEWAY=http://127.0.0.1:8080 -e PROTOCOL=2 loadtest/k6/game.js
//
// PROTOCOL=1 (the default) speaks `openmmo.v1.json`: text frames, and every snapshot carries
// the whole list of entities in view. PROTOCOL=2 offers `openmmo.v2.msgpack,
// openmmo.v1.msgpack` (protocol.md §2.3): binary msgpack frames (./msgpack.js, since k6 has
// no msgpack module) and, when `welcome.protocol` is 2, delta snapshots applied in order to a
// view of the entities by handle (./delta.js, §8.4); the bot then reads the same records
// from its view as it reads from a v1 snapshot. A delta that does not fit the view counts in
// `errors` and `resyncs` and sends `resync` (§6.13); deltas are ignored until the keyframe
// that answers it. The check 'welcomed with PROTOCOL' fails if the server answered with
// another protocol. To compare bandwidth, run both and read k6's `data_received` (every
// byte) and `snapshot_bytes` (per snapshot; JSON counted in characters).
//
// Kept in step with the protocol by tests/loadtest/test_k6_script.py, which also plays this
// script in node against stand-ins of k6's modules (tests/loadtest/k6.test.mjs); k6 itself
// cannot run on our CI machines.
import http from 'k6/http';
import ws from 'k6/ws';
import { check, sleep } from 'k6';
import { Counter, Trend, Rate } from 'k6/metrics';
import { encodeBuffer, decode } from './msgpack.js';
import { DeltaView, DeltaError, PROTOCOL_V2, v1Records } from './delta.js';

const GATEWAY = __ENV.GATEWAY || 'http://127.0.0.1:8080';
const ZONE = Number(__ENV.ZONE || 1);
const PLAY_SECONDS = Number(__ENV.PLAY_SECONDS || 60);
const PROTOCOL = Number(__ENV.PROTOCOL || 1);
if (PROTOCOL !== 1 && PROTOCOL !== PROTOCOL_V2) throw new Error(`PROTOCOL is 1 or 2, not ${__ENV.PROTOCOL}`);
const BINARY = PROTOCOL === PROTOCOL_V2; // msgpack frames, whichever protocol welcome names
const SUBPROTOCOL = BINARY ? 'openmmo.v2.msgpack, openmmo.v1.msgpack' : 'openmmo.v1.json';
const RESYNC_AGAIN_MS = 2000; // no keyframe this long after a resync: ask again
const SKILL_ARROW = 2; // range 24
const REACH = 20;
const GAME_REJECTIONS = ['cooldown', 'out_of_range', 'target_dead', 'invalid_target',
  'you_are_dead', 'pvp_disabled', 'transferring'];

// Closes after which a client must not come back by itself: it left, it is banned, or its
// character is played elsewhere.
const FINAL_CLOSES = [1000, 4003, 4009];
const RESUME_GIVE_UP_MS = 60000;

const reconnects = new Counter('reconnects');
const backInPlay = new Trend('back_in_play', true);
const ackMove = new Trend('ack_move', true);
const ackAttack = new Trend('ack_attack', true);
const ackChat = new Trend('ack_chat', true);
const errors = new Rate('errors');
const resyncs = new Counter('resyncs');
const snapshotBytes = new Trend('snapshot_bytes');

export const options = {
  stages: [
    { duration: '2m', target: 100 },
    { duration: '5m', target: 100 },
    { duration: '2m', target: 500 },
    { duration: '5m', target: 500 },
    { duration: '2m', target: 0 },
  ],
  thresholds: {
    http_req_duration: ['p(95)<100'],
    http_req_failed: ['rate<0.001'],
    ws_connecting: ['p(95)<1000'],
    ack_move: ['p(95)<100', 'p(99)<500'],
    ack_attack: ['p(95)<100'],
    ack_chat: ['p(95)<100'],
    errors: ['rate<0.001'],
  },
};

// Attempt n waits uniformly in [0, min(8 s, 0.25 s x 2^n)], at least Retry-After.
function backoffSeconds(attempt, retryAfter) {
  const ceiling = Math.min(8, 0.25 * Math.pow(2, attempt));
  return Math.max(Math.random() * ceiling, retryAfter || 0);
}

export default function () {
  const json = { headers: { 'Content-Type': 'application/json' } };
  const device = `k6-${__VU}-${__ITER}-${Date.now()}`;
  let login = http.post(`${GATEWAY}/auth/device`, JSON.stringify({ device_id: device }), json);
  if (!check(login, { 'login 200': (r) => r.status === 200 })) { errors.add(1); return; }
  let auth = { headers: { 'Content-Type': 'application/json',
    Authorization: `Bearer ${login.json('token')}` } };
  let grant = http.post(`${GATEWAY}/api/zones/${ZONE}/join`, '{}', auth);
  if (!check(grant, { 'join grant 200': (r) => r.status === 200 })) { errors.add(1); return; }
  grant = grant.json();

  const endAt = Date.now() + PLAY_SECONDS * 1000;
  let droppedAt = null;
  let attempt = 0;
  while (Date.now() < endAt) {
    const outcome = play(grant, endAt);
    if (outcome.joined && droppedAt !== null) {
      reconnects.add(1);
      backInPlay.add(outcome.joinedAt - droppedAt);
      droppedAt = null;
    }
    if (outcome.joined) attempt = 0;
    if (Date.now() >= endAt) break; // our own close at the end of the play time
    if (FINAL_CLOSES.includes(outcome.code)) { errors.add(1); break; }
    if (droppedAt === null) droppedAt = Date.now();
    if (Date.now() - droppedAt > RESUME_GIVE_UP_MS) { errors.add(1); break; }
    if (outcome.code === 4007 && outcome.transfer) { grant = outcome.transfer; continue; }
    // A new ticket for the character's zone, passing over the channel just lost.
    let retryAfter = 0;
    for (;;) {
      sleep(backoffSeconds(attempt++, retryAfter));
      const again = http.post(`${GATEWAY}/api/characters/${grant.character_id}/join`,
        JSON.stringify({ avoid_channel: grant.channel_id }), auth);
      if (again.status === 200) { grant = Object.assign({ character_id: grant.character_id }, again.json()); break; }
      if (again.status === 401) { // the access token expired: log in again (same device)
        login = http.post(`${GATEWAY}/auth/device`, JSON.stringify({ device_id: device }), json);
        if (login.status === 200) {
          auth = { headers: { 'Content-Type': 'application/json',
            Authorization: `Bearer ${login.json('token')}` } };
        }
      }
      retryAfter = Number(again.headers['Retry-After'] || 0);
      if (Date.now() - droppedAt > RESUME_GIVE_UP_MS || Date.now() >= endAt) break;
    }
  }
}

// One connection: play until it closes or `endAt`; returns how it ended.
function play(grant, endAt) {
  const outcome = { code: 1006, joined: false, joinedAt: 0, transfer: null };
  const url = `${grant.ws_url}?token=${grant.ticket}`;
  const response = ws.connect(url, { headers: { 'Sec-WebSocket-Protocol': SUBPROTOCOL } },
    function (socket) {
      let seq = 0;
      const moves = []; // [seq, sentAt], oldest first
      const pending = {}; // seq -> [type, sentAt]
      let me = null;
      let zone = null;
      let x = 0, y = 0, home = [0, 0], heading = Math.random() * 2 * Math.PI;
      let snapshot = null; // v1: the latest snapshot's entities (JSON arrays or a msgpack bin)
      let protocol = 1; // as welcome says
      let view = null; // v2: what we hold, from the deltas applied so far
      let resyncAt = 0; // when we sent a resync that no keyframe has answered yet
      let nextSync = 0;

      function send(message, type, track) {
        seq += 1;
        message.seq = seq;
        if (BINARY) socket.sendBinary(encodeBuffer(message));
        else socket.send(JSON.stringify(message));
        if (track) pending[seq] = [type, Date.now()];
        return seq;
      }

      // The entities in view: [id, x, y, hp, hp_max, kind, flags, level] (protocol.md §8.2).
      function entities() {
        if (view) return view.records();
        if (snapshot === null) return [];
        return snapshot instanceof Uint8Array ? v1Records(snapshot) : snapshot;
      }

      function applyDelta(message) {
        if (!view.synced && !message.full && resyncAt && Date.now() - resyncAt < RESYNC_AGAIN_MS) {
          return; // sent before the server saw our resync: wait for its keyframe
        }
        try {
          view.apply(message);
          if (message.full) resyncAt = 0;
        } catch (e) {
          if (!(e instanceof DeltaError)) throw e;
          errors.add(1); // out of step with the server: ask for a keyframe (§6.13)
          resyncs.add(1);
          resyncAt = Date.now();
          send({ type: 'resync' }, 'resync', false);
        }
      }

      function onMessage(message, bytes) {
        if (message.type === 'welcome') {
          protocol = message.protocol || 1;
          check(message, { 'welcomed with PROTOCOL': () => protocol === PROTOCOL });
          view = protocol === PROTOCOL_V2 ? new DeltaView() : null; // a fresh view per connection
          send({ type: 'join_game' }, 'join_game', true);
        } else if (message.type === 'transfer') {
          outcome.transfer = { character_id: grant.character_id, channel_id: message.channel_id,
            ws_url: message.ws_url, ticket: message.ticket };
        } else if (message.type === 'joined') {
          outcome.joined = true;
          outcome.joinedAt = Date.now();
          me = message.entity_id;
          zone = message.zone;
          x = message.character.x; y = message.character.y; home = [x, y];
          nextSync = Date.now() + 1000;
          socket.setInterval(move, 100);
          socket.setInterval(chat, 5000);
          socket.setInterval(attack, 2000);
          socket.setTimeout(() => socket.close(1000), Math.max(0, endAt - Date.now()));
        } else if (message.type === 'snapshot') {
          snapshotBytes.add(bytes);
          // entities: [id, x, y, hp, hp_max, kind, flags, level] (v1); v2: deltas to the view
          if (view) applyDelta(message);
          else snapshot = message.entities;
          while (moves.length && moves[0][0] <= message.ack) {
            ackMove.add(Date.now() - moves.shift()[1]);
          }
        } else if (message.type === 'ack' || message.type === 'error') {
          const sent = pending[message.seq];
          delete pending[message.seq];
          if (sent && sent[0] === 'attack') ackAttack.add(Date.now() - sent[1]);
          if (sent && sent[0] === 'chat') ackChat.add(Date.now() - sent[1]);
          const failed = message.type === 'error' && !GAME_REJECTIONS.includes(message.code);
          errors.add(failed ? 1 : 0);
        }
      }

      socket.on('message', function (text) { onMessage(JSON.parse(text), text.length); });
      socket.on('binaryMessage', function (data) {
        let message;
        try {
          message = decode(data);
        } catch (e) {
          errors.add(1); // not msgpack as protocol.md §4.2 says
          return;
        }
        onMessage(message, data.byteLength);
      });

      function move() {
        if (Date.now() >= nextSync) { // where the server has us, once a second (like the bots)
          nextSync += 1000;
          const mine = entities().find((e) => e[0] === me);
          if (mine) { x = mine[1]; y = mine[2]; }
        }
        if (Math.hypot(x - home[0], y - home[1]) > 150) {
          heading = Math.atan2(home[1] - y, home[0] - x);
        } else {
          heading += (Math.random() - 0.5) * 0.8;
        }
        x = Math.min(Math.max(x + Math.cos(heading) * 0.6, 1), zone.width - 1);
        y = Math.min(Math.max(y + Math.sin(heading) * 0.6, 1), zone.height - 1);
        const s = send({ type: 'move', x: x, y: y }, 'move', false);
        moves.push([s, Date.now()]);
      }

      function chat() {
        send({ type: 'chat', channel: 'say', message: `hello from VU ${__VU}` }, 'chat', true);
      }

      function attack() {
        let best = null, bestDistance = REACH;
        for (const e of entities()) {
          const [id, ex, ey, , , kind, flags] = e;
          if (id === me || (flags & 1) || (!zone.pvp && kind !== 1)) continue;
          const d = Math.hypot(ex - x, ey - y);
          if (d <= bestDistance) { best = id; bestDistance = d; }
        }
        if (best !== null) {
          send({ type: 'attack', target_id: best, skill_id: SKILL_ARROW }, 'attack', true);
        }
      }

      socket.on('close', (code) => { outcome.code = code; });
      socket.on('error', () => errors.add(1));
    });
  check(response, { 'websocket 101': (r) => r && r.status === 101 });
  return outcome;
}
