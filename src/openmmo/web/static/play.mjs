// The browser client: log in, pick a character, play. Speaks docs/reference/protocol.md.
import { Api, GameLink, chooseRegion, whisperTarget } from "./net.mjs";

const $ = (id) => document.getElementById(id);
const api = new Api();
const MOVE_SPEED = 7.5; // units/s, under the server's 8 (protocol §10.1)
const MOVE_EVERY_MS = 100;
// Others are drawn this far in the past, between the two known positions around that time;
// an entity whose position comes less often (v2 refreshes far entities at 5 Hz, §8.4) is drawn
// further back, by its own interval plus some jitter.
const INTERP_DELAY_MS = 120;
const JITTER_MS = 30;
// A position unchanged this long means the entity stood still (v2 sends nothing for an entity
// that did not change, and no snapshot at all for up to a second when nothing did): when it
// moves again, it left its old place about one update interval before the new one came.
const QUIET_MS = 300;
const STEP_MS = 100; // that interval, before one is known (snapshots come every 50-100 ms)
const TELEPORT = 20; // a jump this long (respawn, a far place) is not slid along
const SAMPLES = 6;
const DEFAULT_COLORS = { self: "#e0b341", player: "#58a6ff", npc: "#e5534b", dead: "#6b7380" };
const ZONE_GROUND = { town: [92, 112, 82], wilds: [58, 84, 52] };

export const state = {
  link: null, welcome: null, zone: null, game: null, self: null, character: null,
  buffer: [], // [{t, byId}] of recent snapshots, oldest first: the last is the whole view now
  tracks: new Map(), // id → {samples: [{t, x, y}] when its position changed, gap: ms between}
  names: new Map(), asked: new Set(), inventory: {}, stats: {}, xp: 0,
  chat: [], target: null, local: null, lastSent: null, keys: new Set(), goal: null,
  lastInput: 0, floaters: [], cooldowns: new Map(), scale: 6, snapshots: 0,
  region: null, // {region (this gateway's), recommended, gateway_url, rtt_ms, regions}
};
window.openmmo = { state, api };

// --- login and characters ---------------------------------------------------------------
function show(section) {
  for (const id of ["login", "characters", "game"]) $(id).hidden = id !== section;
}

function deviceId() {
  let id = localStorage.getItem("openmmo.device");
  if (!id) {
    id = `web-${crypto.randomUUID()}`;
    localStorage.setItem("openmmo.device", id);
  }
  return id;
}

// --- regions: offer the nearest one (docs/howto/regions.md) ----------------------------------
async function showRegion() {
  const home = localStorage.getItem("openmmo.home"); // where this browser last logged in
  const choice = await chooseRegion(api, { home }).catch(() => null);
  state.region = choice;
  if (!choice || choice.regions.length < 2) return;
  const box = $("region");
  const pings = choice.regions.map((r) => {
    const ms = choice.rtt_ms[r.name];
    return `${r.name} ${!r.up ? "down" : ms === undefined ? "?" : `${Math.round(ms)} ms`}`;
  });
  box.replaceChildren(`Region ${choice.region} · ${pings.join(" · ")}`);
  if (choice.recommended && choice.recommended !== choice.region && choice.gateway_url) {
    const link = document.createElement("a");
    link.id = "nearer";
    link.href = `${choice.gateway_url}/play`;
    link.textContent = `Play in ${choice.recommended} (nearer) →`;
    box.append(document.createElement("br"), link);
  }
  box.hidden = false;
}
showRegion();

$("guest").onclick = async () => {
  try {
    await api.login("device", { device_id: deviceId() });
    await listCharacters();
  } catch (error) { $("login-error").textContent = error.message; }
};

$("account").onsubmit = async (event) => {
  event.preventDefault();
  const kind = event.submitter?.dataset.kind ?? "login";
  try {
    await api.login(kind, { username: $("username").value, password: $("password").value });
    await listCharacters();
  } catch (error) { $("login-error").textContent = error.message; }
};

function rememberHome() {
  if (state.region?.region) localStorage.setItem("openmmo.home", state.region.region);
}

async function listCharacters() {
  rememberHome(); // logged in here: this browser's account lives in this region
  const { characters } = await api.get("/api/characters");
  show("characters");
  const list = $("character-list");
  list.replaceChildren();
  for (const c of characters) {
    const li = document.createElement("li");
    li.innerHTML = `<span><b></b> <span class="muted"></span></span>`;
    li.querySelector("b").textContent = c.name;
    li.querySelector(".muted").textContent = `level ${c.level} ${c.class} · zone ${c.zone_id}`;
    const play = document.createElement("button");
    play.textContent = "Play";
    play.dataset.character = c.character_id;
    play.onclick = () => startGame(c);
    li.append(play);
    list.append(li);
  }
}

$("create").onsubmit = async (event) => {
  event.preventDefault();
  const body = { name: $("new-name").value };
  if ($("new-class").value) body.class = $("new-class").value;
  try {
    await api.post("/api/characters", body);
    await listCharacters();
  } catch (error) { $("characters-error").textContent = error.message; }
};

// --- the game ---------------------------------------------------------------------------
function startGame(character) {
  show("game");
  state.character = character;
  const link = new GameLink(api, character.character_id);
  state.link = link;
  window.openmmo.link = link;
  link.on("status", (text, s) => { $("status").textContent = text; $("status").className = `status ${s}`; });
  link.on("welcome", (msg) => { state.welcome = msg; state.game = msg.game; });
  link.on("joined", onJoined);
  link.on("snapshot", onSnapshot);
  link.on("event", onEvent);
  link.on("message", onMessage);
  link.start(character.zone_id);
  $("map").focus();
  requestAnimationFrame(frame);
}

function onJoined(msg) {
  const changedZone = state.zone?.zone_id !== msg.zone.zone_id;
  state.zone = msg.zone;
  state.self = msg.entity_id;
  state.character = { ...state.character, ...msg.character };
  state.stats = { ...msg.character.stats };
  state.xp = msg.character.xp;
  state.inventory = msg.inventory;
  state.local = { x: msg.character.x, y: msg.character.y };
  state.lastSent = { ...state.local };
  state.goal = null;
  state.buffer = [];
  state.tracks.clear();
  state.names.set(msg.entity_id, msg.character.name);
  if (changedZone) state.target = null;
  $("zone-name").textContent = `${msg.zone.name} (${msg.zone.zone_id})`;
  $("channel").textContent = msg.channel_id;
  renderInventory();
  renderSkills();
  refreshChannels();
  system(`joined ${msg.zone.name} on ${msg.channel_id}`);
}

function onSnapshot(msg, entities) {
  const now = performance.now();
  const byId = new Map(entities.map((e) => [e.id, e]));
  state.buffer.push({ t: now, byId });
  if (state.buffer.length > 8) state.buffer.shift();
  state.snapshots += 1;
  state.xp = msg.xp;
  track(byId, now);
  reconcile();
  const unknown = entities.map((e) => e.id).filter((id) => !state.names.has(id) && !state.asked.has(id));
  if (unknown.length) {
    const ids = unknown.slice(0, state.welcome?.limits?.max_inspect_ids ?? 64);
    ids.forEach((id) => state.asked.add(id));
    state.link.send({ type: "inspect", ids });
  }
}

/** The server's position of our own character wins when it disagrees (§10.1). Run on every
 * snapshot and every frame: in v2 no snapshot may come for a second while nothing moves. */
function reconcile() {
  const me = state.buffer.at(-1)?.byId.get(state.self);
  if (!me || !state.local) return;
  const dx = me.x - state.local.x, dy = me.y - state.local.y, far = Math.hypot(dx, dy);
  const idle = performance.now() - state.lastInput > 400;
  if (far > 8 || (idle && far > 0.05) || me.dead) {
    state.local = { x: me.x, y: me.y };
    state.lastSent = { ...state.local };
    if (far > 8) state.goal = null;
  }
}

/**
 * Remember when each entity's position changed, for interpolation. A snapshot in which an
 * entity did not move (or, in v2, is not named at all) adds nothing: its last sample holds and
 * it stands still, however long no snapshot comes.
 */
function track(byId, now) {
  for (const id of state.tracks.keys()) if (!byId.has(id)) state.tracks.delete(id); // left
  for (const e of byId.values()) {
    const tr = state.tracks.get(e.id);
    const sample = { t: now, x: e.x, y: e.y };
    if (!tr) { state.tracks.set(e.id, { samples: [sample], gap: 0 }); continue; }
    const last = tr.samples.at(-1);
    if (last.x === e.x && last.y === e.y) continue;
    if (Math.hypot(e.x - last.x, e.y - last.y) > TELEPORT) { tr.samples = [sample]; continue; }
    const gap = now - last.t;
    if (gap > QUIET_MS) tr.samples.push({ t: now - (tr.gap || STEP_MS), x: last.x, y: last.y });
    else tr.gap = tr.gap ? tr.gap * 0.7 + gap * 0.3 : gap;
    tr.samples.push(sample);
    if (tr.samples.length > SAMPLES) tr.samples.splice(0, tr.samples.length - SAMPLES);
  }
}

function onMessage(msg) {
  if (msg.type === "entity_info") {
    for (const e of msg.entities) state.names.set(e.id, label(e.name));
  } else if (msg.type === "error") {
    system(`error ${msg.code}: ${msg.message}`);
  } else if (msg.type === "notice") {
    system(`${msg.code}: ${msg.message}`);
  } else if (msg.type === "inventory") {
    state.inventory = msg.items;
    renderInventory();
  }
}

function onEvent(ev) {
  switch (ev.type) {
    case "chat": {
      // from another region: name@region, as a whisper back would be addressed
      const here = state.region?.region;
      const away = ev.region && here && ev.region !== here;
      addChat(ev.channel, away ? `${ev.name}@${ev.region}` : ev.name, ev.message);
      break;
    }
    case "hit": floater(ev.target, `-${ev.damage}`, "#ff8a80"); break;
    case "death":
      if (ev.entity === state.self) system("you died; respawning in 5 s");
      if (ev.entity === state.target) state.target = null;
      break;
    case "respawn":
      if (ev.entity === state.self) { state.local = { x: ev.x, y: ev.y }; state.lastSent = { ...state.local }; }
      break;
    case "xp": system(`+${ev.amount} XP`); break;
    case "level_up": floater(ev.entity, `level ${ev.level}!`, "#ffd54f"); break;
    case "loot": state.inventory = ev.inventory; renderInventory(); system(`loot: ${itemText(ev.items)}`); break;
    case "received": state.inventory = ev.inventory; renderInventory(); system(`received ${ev.quantity} ${ev.item}`); break;
    case "announce": addChat("system", "announce", ev.message); break;
    case "stats": if (ev.entity === state.self) Object.assign(state.stats, ev.stats); break;
    case "quest": system(`quest ${ev.quest}: ${ev.progress}/${ev.goal}`); break;
    case "quest_complete": system(`quest ${ev.quest} done: you are ${ev.title}`); break;
    case "emote": floater(ev.entity, `*${ev.emote}*`, "#b0bec5"); break;
    default: break; // a game's own event this client does not know: ignored (§9)
  }
}

// --- assets: what a game module ships for clients (welcome.game.assets) -------------------
function assets() { return state.game?.assets ?? {}; }
function label(name) { return assets().labels?.[name] ?? name; }
const sprites = new Map();
function sprite(name) {
  const url = assets().sprites?.[name];
  if (!url) return null;
  if (!sprites.has(url)) { const img = new Image(); img.src = url; sprites.set(url, img); }
  const img = sprites.get(url);
  return img.complete && img.naturalWidth ? img : null;
}

// --- chat, inventory, skills, channels --------------------------------------------------
function addChat(channel, name, message) {
  state.chat.push({ channel, name, message });
  const li = document.createElement("li");
  li.className = `ch-${channel}`;
  li.textContent = channel === "system" && name === "" ? message : `[${channel}] ${name}: ${message}`;
  const log = $("chat-log");
  log.append(li);
  while (log.children.length > 200) log.firstChild.remove();
  log.scrollTop = log.scrollHeight;
}
function system(text) { addChat("system", "", text); }
function itemText(items) { return Object.entries(items).map(([k, v]) => `${v} ${k}`).join(", "); }

$("chat-channel").onchange = () => { $("chat-to").hidden = $("chat-channel").value !== "whisper"; };
$("chat").onsubmit = (event) => { event.preventDefault(); sendChat(); };
// Enter sends: a form with two text inputs (message, whisper target) has no implicit submit.
$("chat-text").addEventListener("keydown", (event) => {
  if (event.key === "Enter") { event.preventDefault(); sendChat(); }
  else if (event.key === "Escape") $("map").focus();
});
async function sendChat() {
  const message = $("chat-text").value.trim();
  if (!message || !state.link) return;
  const channel = $("chat-channel").value;
  const msg = { type: "chat", channel, message };
  if (channel === "whisper") Object.assign(msg, whisperTarget($("chat-to").value.trim()));
  $("chat-text").value = "";
  $("map").focus();
  const reply = await state.link.request(msg).catch(() => null);
  if (reply?.type === "ack" && reply.result?.reply) system(reply.result.reply);
  if (reply?.type === "ack" && channel === "whisper") {
    addChat("whisper", `to ${$("chat-to").value.trim()}`, message);
  }
}

function renderInventory() {
  const list = $("inventory");
  list.replaceChildren();
  for (const [item, quantity] of Object.entries(state.inventory)) {
    const li = document.createElement("li");
    li.innerHTML = "<span></span><span class=row></span>";
    li.firstChild.textContent = `${quantity} × ${label(item)}`;
    const use = document.createElement("button");
    use.textContent = "use";
    use.onclick = () => state.link.request({ type: "use_item", item }).then((r) => {
      if (r.type === "ack") system(`used ${item}${r.result ? ` ${JSON.stringify(r.result)}` : ""}`);
    });
    const give = document.createElement("button");
    give.textContent = "give 1";
    give.title = "to your target (a player within 5 units)";
    give.onclick = () => {
      if (!state.target) { system("pick a player to give to (click them)"); return; }
      state.link.request({ type: "give", target_id: state.target, item, quantity: 1 }).then((r) => {
        if (r.type === "ack") { state.inventory = r.result.inventory; renderInventory(); }
      });
    };
    li.lastChild.append(use, give);
    list.append(li);
  }
  if (!list.children.length) list.innerHTML = "<li class=muted>empty</li>";
}

function mySkills() {
  const game = state.game;
  if (!game) return [];
  const cls = game.classes[state.character?.class] ?? Object.values(game.classes)[0];
  return (cls?.skills ?? []).map((id) => ({ id, ...game.skills[String(id)] }));
}

function renderSkills() {
  const box = $("skills");
  box.replaceChildren();
  mySkills().forEach((skill, i) => {
    const b = document.createElement("button");
    b.textContent = `${i + 1} ${skill.name}`;
    b.title = `range ${skill.range}, cooldown ${skill.cooldown_s} s`;
    b.onclick = () => useSkill(i);
    box.append(b);
  });
}

function nearestEnemy(range) {
  const snap = state.buffer.at(-1);
  if (!snap || !state.local) return null;
  let best = null, bestD = Infinity;
  for (const e of snap.byId.values()) {
    if (e.id === state.self || e.dead || e.kind !== 1) continue;
    const d = Math.hypot(e.x - state.local.x, e.y - state.local.y);
    if (d < bestD && d <= range + 1) { best = e.id; bestD = d; }
  }
  return best;
}

async function useSkill(index) {
  const skill = mySkills()[index];
  if (!skill || !state.link) return;
  let target = skill.target === "self" ? state.self : state.target ?? nearestEnemy(skill.range);
  if (skill.target === "ally" && !state.target) target = state.self;
  if (target === null) { system(`no target in range for ${skill.name}`); return; }
  if (skill.target !== "self" && skill.target !== "ally") state.target = target;
  const reply = await state.link.request({ type: "attack", target_id: target, skill_id: skill.id }).catch(() => null);
  if (reply?.type === "ack") state.cooldowns.set(skill.id, performance.now() + skill.cooldown_s * 1000);
}

async function refreshChannels() {
  try {
    const { zones } = await api.get("/api/zones");
    const zone = zones.find((z) => z.zone_id === state.zone?.zone_id);
    const select = $("channels");
    select.replaceChildren();
    for (const c of zone?.channels ?? []) {
      const o = document.createElement("option");
      o.value = c.channel_id;
      o.textContent = `${c.channel_id} (${c.players}/${c.max_players})`;
      o.disabled = c.channel_id === state.link?.joined?.channel_id;
      select.append(o);
    }
    $("switch").disabled = ![...select.options].some((o) => !o.disabled);
  } catch { /* the list is a convenience */ }
}
$("switch").onclick = async () => {
  const channel_id = $("channels").value;
  const reply = await state.link?.request({ type: "switch_channel", channel_id }).catch(() => null);
  if (reply?.type === "error") system(`cannot switch: ${reply.message}`);
};

// --- input ------------------------------------------------------------------------------
const KEYS = { w: [0, -1], arrowup: [0, -1], s: [0, 1], arrowdown: [0, 1],
  a: [-1, 0], arrowleft: [-1, 0], d: [1, 0], arrowright: [1, 0] };
const canvas = $("map");
canvas.addEventListener("keydown", (event) => {
  const key = event.key.toLowerCase();
  if (KEYS[key]) { state.keys.add(key); event.preventDefault(); }
  else if (/^[1-9]$/.test(key)) useSkill(Number(key) - 1);
  else if (key === "enter") { $("chat-text").focus(); event.preventDefault(); }
  else if (key === "escape") state.target = null;
});
canvas.addEventListener("keyup", (event) => state.keys.delete(event.key.toLowerCase()));
canvas.addEventListener("blur", () => state.keys.clear());
canvas.addEventListener("wheel", (event) => {
  state.scale = Math.min(14, Math.max(2, state.scale * (event.deltaY < 0 ? 1.1 : 0.9)));
  event.preventDefault();
}, { passive: false });
canvas.addEventListener("mousedown", (event) => {
  canvas.focus();
  const world = toWorld(event.offsetX, event.offsetY);
  const hit = entityAt(world.x, world.y);
  if (hit !== null && hit !== state.self) { state.target = hit; return; }
  state.goal = world;
  state.lastInput = performance.now();
});

function toWorld(px, py) {
  const { width, height } = canvas;
  return { x: state.local.x + (px * devicePixelRatio - width / 2) / (state.scale * devicePixelRatio),
    y: state.local.y + (py * devicePixelRatio - height / 2) / (state.scale * devicePixelRatio) };
}

function entityAt(x, y) {
  let best = null, bestD = 2.5;
  for (const e of interpolated()) {
    const d = Math.hypot(e.x - x, e.y - y);
    if (d < bestD) { best = e.id; bestD = d; }
  }
  return best;
}

function steer(dt) {
  if (!state.local || !state.zone) return;
  let dx = 0, dy = 0;
  for (const key of state.keys) { dx += KEYS[key][0]; dy += KEYS[key][1]; }
  if (dx || dy) state.goal = null;
  else if (state.goal) {
    dx = state.goal.x - state.local.x; dy = state.goal.y - state.local.y;
    if (Math.hypot(dx, dy) < 0.2) state.goal = null;
  }
  const length = Math.hypot(dx, dy);
  const me = state.buffer.at(-1)?.byId.get(state.self);
  if (!length || me?.dead) return;
  const step = Math.min(MOVE_SPEED * dt, state.goal ? Math.hypot(dx, dy) : Infinity);
  state.local.x = Math.min(Math.max(state.local.x + (dx / length) * step, 0), state.zone.width);
  state.local.y = Math.min(Math.max(state.local.y + (dy / length) * step, 0), state.zone.height);
  state.lastInput = performance.now();
}

let lastMoveSent = 0;
function sendMove(now) {
  const link = state.link;
  if (!link || link.state !== "playing" || !state.local || now - lastMoveSent < MOVE_EVERY_MS) return;
  const { x, y } = state.local;
  if (state.lastSent && Math.hypot(x - state.lastSent.x, y - state.lastSent.y) < 0.01) return;
  link.send({ type: "move", x: Math.round(x * 100) / 100, y: Math.round(y * 100) / 100 });
  state.lastSent = { x, y };
  lastMoveSent = now;
}

// --- drawing ----------------------------------------------------------------------------
/** Where a tracked entity is drawn: between its two known positions around (now − delay). */
function position(tr, now) {
  const samples = tr.samples;
  const at = now - Math.max(INTERP_DELAY_MS, tr.gap + JITTER_MS);
  let i = samples.length - 1;
  while (i > 0 && samples[i - 1].t > at) i--;
  const b = samples[i], a = samples[i - 1];
  if (!a || at >= b.t) return b; // not moving (or not yet): where it stands
  const k = Math.max(0, (at - a.t) / (b.t - a.t));
  return { x: a.x + (b.x - a.x) * k, y: a.y + (b.y - a.y) * k };
}

/** Every entity of the view now; others interpolated, ourselves where we predict we are. */
function interpolated() {
  const latest = state.buffer.at(-1);
  if (!latest) return [];
  const now = performance.now();
  const out = [];
  for (const e of latest.byId.values()) {
    let { x, y } = e;
    const tr = state.tracks.get(e.id);
    if (e.id === state.self && state.local) ({ x, y } = state.local);
    else if (tr) ({ x, y } = position(tr, now));
    out.push({ ...e, x, y });
  }
  return out;
}

function floater(id, text, color) { state.floaters.push({ id, text, color, t: performance.now() }); }

function hash(x, y) { let h = (x * 374761393 + y * 668265263) | 0; h = (h ^ (h >>> 13)) * 1274126177; return ((h ^ (h >>> 16)) >>> 0) / 4294967296; }

function drawGround(ctx, view) {
  const zone = state.zone;
  const base = assets().ground?.[zone.name] ?? ZONE_GROUND[zone.name] ?? [70, 90, 70];
  const tile = 4;
  const x0 = Math.max(0, Math.floor(view.x0 / tile)), x1 = Math.min(Math.ceil(zone.width / tile), Math.ceil(view.x1 / tile));
  const y0 = Math.max(0, Math.floor(view.y0 / tile)), y1 = Math.min(Math.ceil(zone.height / tile), Math.ceil(view.y1 / tile));
  for (let tx = x0; tx < x1; tx++) {
    for (let ty = y0; ty < y1; ty++) {
      const n = hash(tx, ty) * 0.25 + hash(tx >> 2, ty >> 2) * 0.35 + hash(tx >> 4, ty >> 4) * 0.4;
      const [r, g, b] = base.map((c) => Math.round(c * (0.86 + n * 0.24)));
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(tx * tile, ty * tile, tile + 0.05, tile + 0.05);
    }
  }
  ctx.strokeStyle = "rgba(0,0,0,.18)";
  ctx.lineWidth = 1 / state.scale;
  const cell = zone.cell_size;
  for (let x = Math.ceil(view.x0 / cell) * cell; x < view.x1; x += cell) { ctx.beginPath(); ctx.moveTo(x, view.y0); ctx.lineTo(x, view.y1); ctx.stroke(); }
  for (let y = Math.ceil(view.y0 / cell) * cell; y < view.y1; y += cell) { ctx.beginPath(); ctx.moveTo(view.x0, y); ctx.lineTo(view.x1, y); ctx.stroke(); }
  ctx.strokeStyle = "#000"; ctx.lineWidth = 3 / state.scale;
  ctx.strokeRect(0, 0, zone.width, zone.height);
  if (zone.spawn_radius > 0) {
    ctx.strokeStyle = "rgba(255,255,255,.15)"; ctx.setLineDash([2, 2]);
    ctx.beginPath(); ctx.arc(zone.spawn_x, zone.spawn_y, zone.spawn_radius, 0, Math.PI * 2); ctx.stroke();
    ctx.setLineDash([]);
  }
  for (const p of zone.portals ?? []) {
    ctx.fillStyle = "rgba(167,112,255,.45)"; ctx.strokeStyle = "#b388ff"; ctx.lineWidth = 2 / state.scale;
    ctx.fillRect(p.x0, p.y0, p.x1 - p.x0, p.y1 - p.y0); ctx.strokeRect(p.x0, p.y0, p.x1 - p.x0, p.y1 - p.y0);
    text(ctx, `portal → zone ${p.zone_id}`, (p.x0 + p.x1) / 2, p.y0 - 1.5, "#e1d0ff");
  }
}

function text(ctx, s, x, y, color) {
  ctx.save();
  ctx.translate(x, y); ctx.scale(1 / state.scale, 1 / state.scale);
  ctx.font = "12px system-ui"; ctx.textAlign = "center";
  ctx.fillStyle = "rgba(0,0,0,.6)"; ctx.fillText(s, 1, 1);
  ctx.fillStyle = color; ctx.fillText(s, 0, 0);
  ctx.restore();
}

function drawEntity(ctx, e) {
  const colors = { ...DEFAULT_COLORS, ...(assets().colors ?? {}) };
  const name = state.names.get(e.id);
  const color = e.dead ? colors.dead : e.id === state.self ? colors.self
    : e.kind === 0 ? colors.player : colors[name] ?? colors.npc;
  const img = name ? sprite(name) : null;
  const r = e.kind === 0 ? 1.1 : 0.9;
  if (img) ctx.drawImage(img, e.x - r * 1.5, e.y - r * 1.5, r * 3, r * 3);
  else { ctx.fillStyle = color; ctx.beginPath(); ctx.arc(e.x, e.y, r, 0, Math.PI * 2); ctx.fill(); }
  if (e.id === state.target) {
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 2 / state.scale;
    ctx.beginPath(); ctx.arc(e.x, e.y, r + 0.6, 0, Math.PI * 2); ctx.stroke();
  }
  const w = 3, frac = e.hpMax ? e.hp / e.hpMax : 0;
  ctx.fillStyle = "#300"; ctx.fillRect(e.x - w / 2, e.y - r - 1.0, w, 0.35);
  ctx.fillStyle = frac > 0.5 ? "#5c5" : frac > 0.25 ? "#dc4" : "#e44";
  ctx.fillRect(e.x - w / 2, e.y - r - 1.0, w * frac, 0.35);
  text(ctx, `${name ?? "…"}${e.kind === 1 ? ` ${e.level}` : ""}`, e.x, e.y - r - 1.4, e.dead ? "#999" : "#fff");
}

let lastFrame = performance.now();
function frame(now) {
  const dt = Math.min(0.1, (now - lastFrame) / 1000);
  lastFrame = now;
  steer(dt);
  reconcile();
  sendMove(now);
  const ctx = canvas.getContext("2d");
  const w = canvas.clientWidth * devicePixelRatio, h = canvas.clientHeight * devicePixelRatio;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#0b0d10"; ctx.fillRect(0, 0, w, h);
  if (state.zone && state.local) {
    const s = state.scale * devicePixelRatio;
    ctx.setTransform(s, 0, 0, s, w / 2 - state.local.x * s, h / 2 - state.local.y * s);
    const view = { x0: state.local.x - w / 2 / s, x1: state.local.x + w / 2 / s, y0: state.local.y - h / 2 / s, y1: state.local.y + h / 2 / s };
    drawGround(ctx, view);
    const entities = interpolated();
    const byId = new Map(entities.map((e) => [e.id, e]));
    for (const e of entities) if (e.id !== state.self) drawEntity(ctx, e);
    if (byId.has(state.self)) drawEntity(ctx, byId.get(state.self));
    if (state.goal) { ctx.strokeStyle = "#e0b341"; ctx.lineWidth = 1.5 / state.scale; ctx.beginPath(); ctx.arc(state.goal.x, state.goal.y, 0.6, 0, Math.PI * 2); ctx.stroke(); }
    state.floaters = state.floaters.filter((f) => now - f.t < 1200);
    for (const f of state.floaters) {
      const e = byId.get(f.id);
      if (e) text(ctx, f.text, e.x, e.y - 3 - (now - f.t) / 400, f.color);
    }
    hud(byId.get(state.self), now);
  }
  requestAnimationFrame(frame);
}

let lastHud = 0;
function hud(me, now) {
  if (now - lastHud < 200) return;
  lastHud = now;
  const link = state.link;
  $("position").textContent = `${state.local.x.toFixed(1)}, ${state.local.y.toFixed(1)}`;
  if (me) $("hp").textContent = `${me.hp} / ${me.hpMax}${me.dead ? " (dead)" : ""}`;
  const mana = state.stats.mana !== undefined ? ` · mana ${state.stats.mana}` : "";
  $("level").textContent = `${me?.level ?? state.character.level} / ${state.xp}${mana}`;
  $("latency").textContent = link.latencyMs === null ? "–" : `${link.latencyMs.toFixed(0)} ms`;
  $("bandwidth").textContent = `${(link.bytesPerSecond() / 1024).toFixed(1)} KB/s`;
  const target = state.target;
  $("target").textContent = target === null ? "no target" : `target: ${state.names.get(target) ?? target}`;
  [...$("skills").children].forEach((b, i) => {
    const skill = mySkills()[i];
    b.classList.toggle("cooling", (state.cooldowns.get(skill?.id) ?? 0) > now);
  });
}
