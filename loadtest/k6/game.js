// The OpenMMO bot behaviour for teams that use k6 (https://k6.io): the same as
// `openmmo loadtest` — guest login, a join ticket from the gateway, the JSON protocol
// (docs/reference/protocol.md): move at 10 Hz, chat every 5 s, attack every 2 s, and
// action -> ack latency from the sequence numbers snapshots and acks return.
//
//   k6 run -e GATEWAY=http://127.0.0.1:8080 -e ZONE=1 loadtest/k6/game.js
//
// Kept in step with the protocol by tests/loadtest/test_k6_script.py (k6 itself cannot run
// on our CI machines).
import http from 'k6/http';
import ws from 'k6/ws';
import { check } from 'k6';
import { Trend, Rate } from 'k6/metrics';

const GATEWAY = __ENV.GATEWAY || 'http://127.0.0.1:8080';
const ZONE = Number(__ENV.ZONE || 1);
const PLAY_SECONDS = Number(__ENV.PLAY_SECONDS || 60);
const SUBPROTOCOL = 'openmmo.v1.json';
const SKILL_ARROW = 2; // range 24
const REACH = 20;
const GAME_REJECTIONS = ['cooldown', 'out_of_range', 'target_dead', 'invalid_target',
  'you_are_dead', 'pvp_disabled', 'transferring'];

const ackMove = new Trend('ack_move', true);
const ackAttack = new Trend('ack_attack', true);
const ackChat = new Trend('ack_chat', true);
const errors = new Rate('errors');

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

export default function () {
  const json = { headers: { 'Content-Type': 'application/json' } };
  const login = http.post(`${GATEWAY}/auth/device`,
    JSON.stringify({ device_id: `k6-${__VU}-${__ITER}-${Date.now()}` }), json);
  if (!check(login, { 'login 200': (r) => r.status === 200 })) { errors.add(1); return; }
  const auth = { headers: { 'Content-Type': 'application/json',
    Authorization: `Bearer ${login.json('token')}` } };
  const grant = http.post(`${GATEWAY}/api/zones/${ZONE}/join`, '{}', auth);
  if (!check(grant, { 'join grant 200': (r) => r.status === 200 })) { errors.add(1); return; }

  const url = `${grant.json('ws_url')}?token=${grant.json('ticket')}`;
  const response = ws.connect(url, { headers: { 'Sec-WebSocket-Protocol': SUBPROTOCOL } },
    function (socket) {
      let seq = 0;
      const moves = []; // [seq, sentAt], oldest first
      const pending = {}; // seq -> [type, sentAt]
      let me = null;
      let zone = null;
      let x = 0, y = 0, home = [0, 0], heading = Math.random() * 2 * Math.PI;
      let entities = [];

      function send(message, type, track) {
        seq += 1;
        message.seq = seq;
        socket.send(JSON.stringify(message));
        if (track) pending[seq] = [type, Date.now()];
        return seq;
      }

      socket.on('message', function (text) {
        const message = JSON.parse(text);
        if (message.type === 'welcome') {
          send({ type: 'join_game', map_id: ZONE }, 'join_game', true);
        } else if (message.type === 'joined') {
          me = message.entity_id;
          zone = message.zone;
          x = message.character.x; y = message.character.y; home = [x, y];
          socket.setInterval(move, 100);
          socket.setInterval(chat, 5000);
          socket.setInterval(attack, 2000);
          socket.setTimeout(() => socket.close(1000), PLAY_SECONDS * 1000);
        } else if (message.type === 'snapshot') {
          // entities: [id, x, y, hp, hp_max, kind, flags, level]
          entities = message.entities;
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
      });

      function move() {
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
        for (const e of entities) {
          const [id, ex, ey, , , kind, flags] = e;
          if (id === me || (flags & 1) || (!zone.pvp && kind !== 1)) continue;
          const d = Math.hypot(ex - x, ey - y);
          if (d <= bestDistance) { best = id; bestDistance = d; }
        }
        if (best !== null) {
          send({ type: 'attack', target_id: best, skill_id: SKILL_ARROW }, 'attack', true);
        }
      }

      socket.on('error', () => errors.add(1));
    });
  check(response, { 'websocket 101': (r) => r && r.status === 101 });
}
