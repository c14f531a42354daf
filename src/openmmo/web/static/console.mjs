// The operators' console: cluster view, a live map over the spectator socket, actions.
// Speaks the admin API (docs/reference/http-api.md) and protocol.md §16.
import { encode, decode } from "./vendor/msgpack/index.mjs";
import { Api, backoffMs, decodeEntities, sleep } from "./net.mjs";

const $ = (id) => document.getElementById(id);
const api = new Api();
const REFRESH_MS = 2000;

export const state = {
  cluster: [], channel: null, frames: 0, worldAt: 0, zone: null,
  previous: new Map(), current: new Map(), frameT: [0, 0], selected: null, info: null,
  spectator: null, seq: 0,
};
window.openmmoConsole = { state, api };

$("account").onsubmit = async (event) => {
  event.preventDefault();
  try {
    await api.login("login", { username: $("username").value, password: $("password").value });
    await api.get("/admin/cluster"); // 403 not_admin for everyone else
  } catch (error) {
    $("login-error").textContent = error.message;
    return;
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("who").textContent = `as ${api.tokens.username}`;
  refreshLoop();
  requestAnimationFrame(draw);
};

// --- cluster view ---------------------------------------------------------------------------
async function refreshLoop() {
  for (;;) {
    try {
      const { servers } = await api.get("/admin/cluster");
      state.cluster = servers;
      renderCluster();
      if (!state.channel || !servers.some((s) => s.channel_id === state.channel)) {
        if (servers.length) watch(servers[0].channel_id);
      }
      renderAudit((await api.get("/admin/audit")).entries);
    } catch (error) {
      $("action-result").textContent = `cluster: ${error.message}`;
    }
    await sleep(REFRESH_MS);
  }
}

function spark(values, color) {
  const w = 90, h = 22;
  if (values.length < 2) return `<svg width="${w}" height="${h}"></svg>`;
  const max = Math.max(...values, 1e-9);
  const points = values.map((v, i) => `${(i / (values.length - 1)) * w},${h - 1 - (v / max) * (h - 2)}`).join(" ");
  return `<svg width="${w}" height="${h}"><polyline fill="none" stroke="${color}" stroke-width="1.3" points="${points}"/></svg>`;
}

const fmt = (n, digits = 0) => (n === undefined || n === null ? "–" : Number(n).toFixed(digits));
const kb = (n) => (n === undefined ? "–" : `${(n / 1024).toFixed(1)} KB`);

function renderCluster() {
  const body = $("cluster").querySelector("tbody");
  body.replaceChildren();
  const select = $("channel-select");
  const chosen = state.channel;
  select.replaceChildren();
  for (const s of state.cluster) {
    const tr = document.createElement("tr");
    tr.dataset.channel = s.channel_id;
    const st = s.stats;
    const badge = s.draining ? "draining" : s.ready ? "ready" : "not-ready";
    tr.innerHTML = `<td class="channel"></td><td>${s.zone_name} (${s.zone_id})</td>
      <td class="players">${s.players}/${s.max_players}</td>
      <td><span class="badge ${badge}">${badge}</span></td>
      <td class="tick">${fmt(st.tick_p95_ms, 1)} ms</td>
      <td class="msgs">${fmt(st.msgs_in_per_s)} · ${fmt(st.msgs_out_per_s)}</td>
      <td class="bytes">${kb(st.bytes_out_per_s)}</td>
      <td class="ack">${fmt(st.ack_p95_ms, 1)} ms</td>
      <td title="players · tick P95 · bytes out/s">${spark(s.history.map((h) => h.players), "#58a6ff")}
        ${spark(s.history.map((h) => h.tick_p95_ms), "#e0b341")} ${spark(s.history.map((h) => h.bytes_out_per_s), "#7ee787")}</td>
      <td></td>`;
    tr.querySelector(".channel").textContent = s.channel_id;
    const drain = document.createElement("button");
    drain.textContent = s.draining ? "Undrain" : "Drain";
    drain.onclick = () => act(`/admin/channels/${encodeURIComponent(s.channel_id)}/drain`, { drain: !s.draining });
    tr.lastElementChild.append(drain);
    body.append(tr);
    const o = document.createElement("option");
    o.value = s.channel_id;
    o.textContent = `${s.zone_name} · ${s.channel_id}`;
    select.append(o);
  }
  if (chosen) select.value = chosen;
}
$("channel-select").onchange = () => watch($("channel-select").value);

function renderAudit(entries) {
  const list = $("audit");
  list.replaceChildren();
  for (const e of entries.slice(0, 30)) {
    const li = document.createElement("li");
    li.textContent = `${new Date(e.at * 1000).toLocaleTimeString()} ${e.kind} ${e.detail}`;
    list.append(li);
  }
}

async function act(path, body) {
  try {
    const { result } = await api.post(path, body);
    $("action-result").textContent = result;
  } catch (error) {
    $("action-result").textContent = error.message;
  }
}

$("announce").onsubmit = (event) => {
  event.preventDefault();
  const message = $("announce-text").value.trim();
  if (message) act("/admin/announce", { message }).then(() => { $("announce-text").value = ""; });
};
$("ban").onsubmit = (event) => {
  event.preventDefault();
  act("/admin/ban", { username: $("ban-user").value, reason: $("ban-reason").value });
};
$("unban").onclick = () => act("/admin/ban", { username: $("ban-user").value, unban: true });
$("kick").onclick = () => {
  if (state.info?.name) act("/admin/kick", { character: state.info.name, reason: "kicked from the console" });
};

// --- the live map (spectator socket) --------------------------------------------------------
function watch(channelId) {
  if (state.channel === channelId && state.spectator) return;
  state.channel = channelId;
  state.previous = new Map();
  state.current = new Map();
  state.selected = null;
  $("inspect").hidden = true;
  if (state.spectator) state.spectator.close(1000);
  spectate(channelId);
}

async function spectate(channelId) {
  let attempt = 0;
  while (state.channel === channelId) {
    const server = state.cluster.find((s) => s.channel_id === channelId);
    if (!server) { await sleep(1000); continue; }
    const closed = await new Promise((resolve) => {
      const ws = new WebSocket(server.spectate_url);
      ws.binaryType = "arraybuffer";
      state.spectator = ws;
      ws.onopen = () => ws.send(encode({ type: "auth", token: api.tokens.token }));
      ws.onmessage = (event) => { attempt = 0; onSpectate(decode(new Uint8Array(event.data))); };
      ws.onclose = (event) => resolve(event);
    });
    if (state.channel !== channelId) return;
    $("spectate-status").textContent = `spectator closed (${closed.code}); reconnecting`;
    if (closed.code === 4001) await api.refresh().catch(() => {});
    await sleep(backoffMs(attempt++));
  }
}

function onSpectate(msg) {
  if (msg.type === "welcome") {
    state.zone = msg.zone;
    $("spectate-status").textContent = `watching ${msg.server_id} at ${msg.rate_hz} Hz`;
  } else if (msg.type === "world") {
    state.previous = state.current;
    state.current = new Map(decodeEntities(msg.entities).map((e) => [e.id, e]));
    state.frameT = [state.frameT[1], performance.now()];
    state.frames += 1;
    state.players = msg.players;
  } else if (msg.type === "entity") {
    state.info = msg;
    renderInspect();
  } else if (msg.type === "error") {
    $("spectate-status").textContent = `${msg.code}: ${msg.message}`;
  }
}

function renderInspect() {
  const i = state.info;
  const rows = [["name", i.name], ["kind", i.kind === 0 ? "player" : "NPC"], ["level", i.level],
    ["HP", `${i.hp} / ${i.hp_max}`], ["zone", `${i.zone} (${i.zone_id}) · ${i.channel_id}`],
    ["position", `${i.x}, ${i.y}`]];
  if (i.kind === 0) {
    rows.push(["latency", i.latency_ms === null || i.latency_ms === undefined ? "–" : `${i.latency_ms} ms`]);
    rows.push(["down", `${(i.bytes_per_s / 1024).toFixed(1)} KB/s`]);
  }
  const dl = $("inspect-fields");
  dl.replaceChildren();
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v; dd.dataset.field = k;
    dl.append(dt, dd);
  }
  $("kick").hidden = i.kind !== 0;
  $("inspect").hidden = false;
}

function inspect(id) {
  const ws = state.spectator;
  if (ws?.readyState === WebSocket.OPEN) ws.send(encode({ type: "inspect", id, seq: ++state.seq }));
}
setInterval(() => { if (state.selected !== null) inspect(state.selected); }, 1000);

const canvas = $("world");
function layout() {
  const zone = state.zone;
  const w = canvas.width, h = canvas.height;
  const s = zone ? Math.min(w / zone.width, h / zone.height) : 1;
  return { s, ox: zone ? (w - zone.width * s) / 2 : 0, oy: zone ? (h - zone.height * s) / 2 : 0 };
}

function positions() {
  const [t0, t1] = state.frameT;
  const k = t1 > t0 ? Math.min(1, (performance.now() - t1) / (t1 - t0)) : 1;
  const out = [];
  for (const e of state.current.values()) {
    const p = state.previous.get(e.id);
    out.push(p ? { ...e, x: p.x + (e.x - p.x) * k, y: p.y + (e.y - p.y) * k } : e);
  }
  return out;
}

canvas.addEventListener("click", (event) => {
  const { s, ox, oy } = layout();
  const r = canvas.getBoundingClientRect();
  const x = ((event.clientX - r.left) * (canvas.width / r.width) - ox) / s;
  const y = ((event.clientY - r.top) * (canvas.height / r.height) - oy) / s;
  let best = null, bestD = 12 / s;
  for (const e of positions()) {
    const d = Math.hypot(e.x - x, e.y - y);
    if (d < bestD) { best = e.id; bestD = d; }
  }
  state.selected = best;
  if (best === null) { $("inspect").hidden = true; return; }
  inspect(best);
});

function draw() {
  const size = Math.round(canvas.clientWidth * devicePixelRatio);
  if (canvas.width !== size) { canvas.width = size; canvas.height = size; }
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#0e1114"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  const zone = state.zone;
  if (zone) {
    const { s, ox, oy } = layout();
    ctx.fillStyle = "#1b2a1b"; ctx.fillRect(ox, oy, zone.width * s, zone.height * s);
    ctx.strokeStyle = "rgba(255,255,255,.05)";
    for (let x = 0; x <= zone.width; x += zone.cell_size) { ctx.beginPath(); ctx.moveTo(ox + x * s, oy); ctx.lineTo(ox + x * s, oy + zone.height * s); ctx.stroke(); }
    for (let y = 0; y <= zone.height; y += zone.cell_size) { ctx.beginPath(); ctx.moveTo(ox, oy + y * s); ctx.lineTo(ox + zone.width * s, oy + y * s); ctx.stroke(); }
    for (const p of zone.portals ?? []) {
      ctx.fillStyle = "rgba(167,112,255,.6)";
      ctx.fillRect(ox + p.x0 * s, oy + p.y0 * s, Math.max(3, (p.x1 - p.x0) * s), Math.max(3, (p.y1 - p.y0) * s));
    }
    const dot = Math.max(2, 3 * devicePixelRatio);
    for (const e of positions()) {
      ctx.fillStyle = e.dead ? "#6b7380" : e.kind === 0 ? "#58a6ff" : "#e5534b";
      ctx.beginPath(); ctx.arc(ox + e.x * s, oy + e.y * s, e.id === state.selected ? dot * 2 : dot, 0, Math.PI * 2); ctx.fill();
    }
    ctx.fillStyle = "#8b95a1"; ctx.font = `${12 * devicePixelRatio}px system-ui`;
    ctx.fillText(`${zone.name} · ${state.players ?? 0} players · ${state.current.size} entities`, 8, 16 * devicePixelRatio);
  }
  requestAnimationFrame(draw);
}
