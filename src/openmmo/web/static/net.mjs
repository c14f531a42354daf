// The protocol in the browser: the gateway's HTTP API and a zone connection that resumes by
// itself. Written from docs/reference/protocol.md (msgpack encoding, §2.7 resuming, §8.4 delta
// snapshots of protocol v2).
import { encode, decode } from "./vendor/msgpack/index.mjs";

// Offered in this order (§2.3): v2 (delta snapshots) where the server has it, else v1. Which
// one we got is `welcome.protocol`.
export const SUBPROTOCOLS = ["openmmo.v2.msgpack", "openmmo.v1.msgpack"];
// Closes after which coming back would be wrong (§2.7): left, banned / hopeless ticket,
// played elsewhere.
const FINAL_CLOSES = new Set([1000, 4003, 4009]);
// While playing, v1 snapshots come ≥ 10/s and v2 sends one at least every second even when
// nothing changes (§8.4, a keepalive): 3 s of nothing is a dead link either way.
const SILENCE_MS = 3000;
const RESYNC_RETRY_MS = 2000; // ask again if no keyframe answered a resync by then
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 8000;

export class ApiError extends Error {
  constructor(status, code, message, retryAfterS) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
}

/** The gateway's HTTP API (same origin as the page). */
export class Api {
  constructor(base = "") {
    this.base = base;
    this.tokens = null; // {token, refresh_token, account_id, username}
  }

  async request(method, path, body, { auth = true, retried = false } = {}) {
    const headers = { "Content-Type": "application/json" };
    if (auth && this.tokens) headers.Authorization = `Bearer ${this.tokens.token}`;
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && auth && this.tokens && !retried) {
      await this.refresh();
      return this.request(method, path, body, { auth, retried: true });
    }
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const retry = Number(response.headers.get("Retry-After") || 0);
      throw new ApiError(
        response.status, data?.code ?? "http_error", data?.message ?? text, retry,
      );
    }
    return data;
  }

  async login(kind, body) {
    this.tokens = await this.request("POST", `/auth/${kind}`, body, { auth: false });
    return this.tokens;
  }

  async refresh() {
    const refresh_token = this.tokens?.refresh_token;
    this.tokens = null;
    if (!refresh_token) throw new ApiError(401, "unauthorized", "logged out", 0);
    this.tokens = await this.request("POST", "/auth/refresh", { refresh_token }, { auth: false });
  }

  get(path) { return this.request("GET", path); }
  post(path, body = {}) { return this.request("POST", path, body); }
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error("timeout")), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The region to play in, chosen as the Python client does (docs/howto/regions.md): this
 * gateway's list (`GET /api/regions`), each region that is up timed by its `ping_url` (the
 * median of `pings`; another region's ping is cross-origin, so it is fetched `no-cors`: the
 * answer is opaque, but when it arrives is the round trip), then the gateway's advice for the
 * nearest (`?region=`), or for `home` (the region the player's account lives in) when it is
 * listed. `{region (this gateway's), recommended, reason, gateway_url (of the
 * recommended one), rtt_ms, regions}`; `recommended` null when no region is up.
 */
export async function chooseRegion(api, {
  pings = 3, timeoutMs = 2000, fetchImpl = (...a) => globalThis.fetch(...a),
  now = () => performance.now(), home = null,
} = {}) {
  const get = (query) => api.request("GET", `/api/regions${query}`, undefined, { auth: false });
  let advice = await get("");
  const rtt_ms = {};
  if (advice.regions.length > 1) {
    await Promise.all(advice.regions.filter((r) => r.up).map(async (r) => {
      const times = [];
      for (let i = 0; i < pings; i += 1) {
        const started = now();
        try {
          await withTimeout(fetchImpl(r.ping_url, { mode: "no-cors", cache: "no-store" }), timeoutMs);
          times.push(now() - started);
        } catch { /* not answering: not timed */ }
      }
      times.sort((a, b) => a - b);
      if (times.length) rtt_ms[r.name] = times[Math.floor(times.length / 2)];
    }));
    const nearest = Object.keys(rtt_ms).sort((a, b) => rtt_ms[a] - rtt_ms[b])[0];
    // the player's home region first (its account lives there), when it is listed
    const hint = home && advice.regions.some((r) => r.name === home) ? home : nearest;
    if (hint) advice = await get(`?region=${encodeURIComponent(hint)}`);
  }
  const chosen = advice.regions.find((r) => r.name === advice.recommended);
  return {
    region: advice.region, recommended: advice.recommended, reason: advice.reason,
    gateway_url: chosen?.gateway_url ?? null, rtt_ms, regions: advice.regions,
  };
}

/** "Name@region" → {to, region}; a plain name → {to}. */
export function whisperTarget(text) {
  const at = text.lastIndexOf("@");
  if (at <= 0) return { to: text };
  return { to: text.slice(0, at), region: text.slice(at + 1) };
}

export function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

/** Full-jitter exponential backoff (§2.7): attempt n waits U[0, min(8 s, 0.25 s × 2^n)]. */
export function backoffMs(attempt, retryAfterS = 0) {
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.max(Math.random() * cap, retryAfterS * 1000);
}

/** Unpack a snapshot's entity records (§8.2): 20 bytes each, little-endian. */
export function decodeEntities(bin) {
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const out = [];
  for (let o = 0; o + 20 <= bin.byteLength; o += 20) {
    out.push({
      id: view.getUint32(o, true),
      x: view.getFloat32(o + 4, true),
      y: view.getFloat32(o + 8, true),
      hp: view.getUint16(o + 12, true),
      hpMax: view.getUint16(o + 14, true),
      kind: view.getUint8(o + 16),
      dead: (view.getUint8(o + 17) & 1) !== 0,
      level: view.getUint8(o + 18),
    });
  }
  return out;
}

// Protocol v2 record sizes (§8.4), little-endian, packed back to back.
const LEAVE_BYTES = 2, ENTER_BYTES = 17, UPDATE_BYTES = 8, PLACE_BYTES = 6, MOVE_BYTES = 4;
const FINEST_QUANTUM = 1 / 32;

/** A v2 snapshot that does not fit the view held (§8.4): the client must `resync`. */
export class DeltaError extends Error {}

function records(msg, name, size) {
  const bin = msg[name];
  if (bin === undefined || bin === null) return null;
  if (!(bin instanceof Uint8Array) || bin.byteLength % size !== 0) {
    throw new DeltaError(`${name} is not a whole number of ${size}-byte records`);
  }
  return new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
}

/**
 * The client's copy of its view in protocol v2 (§8.4), kept by applying every snapshot in
 * order: handle → {id, qx, qy, hp, hp_max, kind, flags, level}, positions as integers in
 * units of `quantum` (so it holds exactly the server's numbers). `apply` checks a snapshot
 * against the view first and changes nothing if it does not fit (it throws DeltaError).
 * It applies snapshots as openmmo.protocol.delta.DeltaView does (the Python reference).
 */
export class DeltaView {
  constructor() {
    this.quantum = FINEST_QUANTUM;
    this.held = new Map();
    this.synced = false; // a keyframe has arrived
    this.shown = new WeakMap(); // record → its entity in entities(), until the record changes
    this.list = [];
  }

  apply(msg) {
    const full = msg.full === true;
    if (!full && !this.synced) throw new DeltaError("a delta arrived before any keyframe");
    const leave = records(msg, "leave", LEAVE_BYTES), enter = records(msg, "enter", ENTER_BYTES);
    const update = records(msg, "update", UPDATE_BYTES), place = records(msg, "place", PLACE_BYTES);
    const move = records(msg, "move", MOVE_BYTES);
    // Check first, in the order of application: full, leave, enter, then the rest.
    const held = full ? new Map() : this.held;
    const gone = new Set(), came = new Set();
    for (let o = 0; leave && o < leave.byteLength; o += LEAVE_BYTES) {
      const h = leave.getUint16(o, true);
      if (!held.has(h) || gone.has(h)) throw new DeltaError(`leave of unknown handle ${h}`);
      gone.add(h);
    }
    for (let o = 0; enter && o < enter.byteLength; o += ENTER_BYTES) {
      const h = enter.getUint16(o, true);
      if ((held.has(h) && !gone.has(h)) || came.has(h)) {
        throw new DeltaError(`enter of a handle already held: ${h}`);
      }
      came.add(h);
    }
    const holds = (h) => came.has(h) || (held.has(h) && !gone.has(h));
    for (const [view, size] of [[update, UPDATE_BYTES], [place, PLACE_BYTES], [move, MOVE_BYTES]]) {
      for (let o = 0; view && o < view.byteLength; o += size) {
        const h = view.getUint16(o, true);
        if (!holds(h)) throw new DeltaError(`change to unknown handle ${h}`);
      }
    }
    // It fits: apply.
    if (full) {
      this.held = held;
      this.quantum = Number(msg.quantum ?? this.quantum);
      this.synced = true;
    }
    for (const h of gone) this.held.delete(h);
    for (let o = 0; enter && o < enter.byteLength; o += ENTER_BYTES) {
      this.held.set(enter.getUint16(o, true), {
        id: enter.getUint32(o + 2, true),
        qx: enter.getUint16(o + 6, true),
        qy: enter.getUint16(o + 8, true),
        hp: enter.getUint16(o + 10, true),
        hp_max: enter.getUint16(o + 12, true),
        kind: enter.getUint8(o + 14),
        flags: enter.getUint8(o + 15),
        level: enter.getUint8(o + 16),
      });
    }
    for (let o = 0; update && o < update.byteLength; o += UPDATE_BYTES) {
      const e = this.held.get(update.getUint16(o, true));
      e.hp = update.getUint16(o + 2, true);
      e.hp_max = update.getUint16(o + 4, true);
      e.flags = update.getUint8(o + 6);
      e.level = update.getUint8(o + 7);
      this.shown.delete(e);
    }
    for (let o = 0; place && o < place.byteLength; o += PLACE_BYTES) {
      const e = this.held.get(place.getUint16(o, true));
      e.qx = place.getUint16(o + 2, true);
      e.qy = place.getUint16(o + 4, true);
      this.shown.delete(e);
    }
    for (let o = 0; move && o < move.byteLength; o += MOVE_BYTES) {
      const e = this.held.get(move.getUint16(o, true));
      e.qx += move.getInt8(o + 2);
      e.qy += move.getInt8(o + 3);
      this.shown.delete(e);
    }
    if (full || gone.size || came.size || update || place || move) this.list = null;
  }

  /**
   * What is held, in the shape of v1's decodeEntities (x, y in world units). An entity that
   * did not change keeps its object from one snapshot to the next (treat them as read-only).
   */
  entities() {
    if (this.list === null) {
      const q = this.quantum;
      this.list = [];
      for (const e of this.held.values()) {
        let out = this.shown.get(e);
        if (!out) {
          out = { id: e.id, x: e.qx * q, y: e.qy * q, hp: e.hp, hpMax: e.hp_max, kind: e.kind,
            dead: (e.flags & 1) !== 0, level: e.level };
          this.shown.set(e, out);
        }
        this.list.push(out);
      }
    }
    return this.list;
  }
}

/**
 * One player's link to the world: joins through the gateway, follows transfers, and comes
 * back by itself (new ticket, jittered backoff) whenever the connection is lost for a reason
 * that invites it. Emits events through `on(name, fn)`:
 *   status(text, state)   state: connecting | playing | reconnecting | closed
 *   welcome(msg), joined(msg), snapshot(msg, entities), event(ev), message(msg), closed(code)
 * `entities` is the whole view in both protocols (v1: the snapshot's list; v2: the view kept
 * by applying the deltas), as {id, x, y, hp, hpMax, kind, dead, level}.
 */
export class GameLink {
  constructor(api, characterId) {
    this.api = api;
    this.characterId = characterId;
    this.handlers = {};
    this.ws = null;
    this.seq = 0;
    this.pending = new Map(); // seq → {resolve, reject, sent}
    this.moveSent = new Map(); // seq of a move → performance.now() when sent
    this.state = "connecting";
    this.stopped = false;
    this.transfer = null;
    this.lostChannel = null;
    this.welcome = null;
    this.joined = null;
    this.protocol = null; // 1 or 2, from welcome (§2.3)
    this.view = null; // protocol v2: the DeltaView of this connection
    this.resyncSentAt = null; // performance.now() of the resync awaiting its keyframe
    this.lastHeard = 0;
    this.latencyMs = null; // action→ack, smoothed
    this.bytes = []; // [time, bytes] of the last seconds, for bytes/s
    this.reconnects = 0;
    this.silenceTimer = setInterval(() => this.checkSilence(), 500);
  }

  on(name, fn) { (this.handlers[name] ??= []).push(fn); return this; }
  emit(name, ...args) { for (const fn of this.handlers[name] ?? []) fn(...args); }

  setState(state, text) { this.state = state; this.emit("status", text ?? state, state); }

  async start(zoneId = null) {
    let attempt = 0;
    let first = true;
    while (!this.stopped) {
      let grant;
      if (this.transfer) {
        grant = this.transfer;
        this.transfer = null;
      } else {
        try {
          const avoid = this.lostChannel ? { avoid_channel: this.lostChannel } : {};
          grant = first && zoneId !== null
            ? await this.api.post(`/api/zones/${zoneId}/join`, { character_id: this.characterId, ...avoid })
            : await this.api.post(`/api/characters/${this.characterId}/join`, avoid);
        } catch (error) {
          if (error.status === 401 || error.status === 403 || error.status === 404) {
            this.setState("closed", `cannot join: ${error.message}`);
            return;
          }
          const wait = backoffMs(attempt++, error.retryAfterS || 0);
          this.setState("reconnecting", `reconnecting in ${(wait / 1000).toFixed(1)} s (${error.code})`);
          await sleep(wait);
          continue;
        }
      }
      first = false;
      const outcome = await this.play(grant);
      if (outcome.final || this.stopped) {
        this.setState("closed", outcome.reason);
        this.emit("closed", outcome.code);
        return;
      }
      if (outcome.transfer) { attempt = 0; continue; }
      if (outcome.played) attempt = 0;
      this.lostChannel = grant.channel_id;
      this.reconnects += 1;
      const wait = backoffMs(attempt++);
      this.setState("reconnecting", `connection lost (${outcome.code}); reconnecting in ${(wait / 1000).toFixed(1)} s`);
      await sleep(wait);
    }
  }

  /** One connection, until it closes. Resolves {final, transfer, played, code, reason}. */
  play(grant) {
    return new Promise((resolve) => {
      this.setState("connecting", `connecting to ${grant.channel_id}`);
      this.seq = 0;
      this.pending.clear();
      this.moveSent.clear();
      this.protocol = null;
      this.view = null; // a new connection starts a fresh view (its first snapshot is a keyframe)
      this.resyncSentAt = null;
      let played = false;
      let ws;
      try {
        ws = new WebSocket(grant.ws_url, SUBPROTOCOLS);
      } catch (error) {
        resolve({ code: 0, reason: String(error), played });
        return;
      }
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      ws.onopen = () => { this.lastHeard = performance.now(); this.send({ type: "auth", token: grant.ticket }); };
      ws.onmessage = (event) => {
        this.lastHeard = performance.now();
        this.bytes.push([this.lastHeard, event.data.byteLength ?? event.data.length]);
        let msg;
        try {
          msg = typeof event.data === "string" ? JSON.parse(event.data) : decode(new Uint8Array(event.data));
        } catch (error) {
          console.warn("undecodable message", error);
          return;
        }
        if (msg.type === "joined") played = true;
        this.receive(msg);
      };
      ws.onclose = (event) => {
        this.ws = null;
        for (const { reject } of this.pending.values()) reject(new Error("connection closed"));
        this.pending.clear();
        const code = event.code;
        if (code === 4007 && this.transfer) {
          resolve({ transfer: true, code, played });
        } else if (FINAL_CLOSES.has(code)) {
          resolve({ final: true, code, reason: `closed ${code} ${event.reason}`, played });
        } else {
          resolve({ code, reason: event.reason, played });
        }
      };
    });
  }

  receive(msg) {
    switch (msg.type) {
      case "welcome":
        this.welcome = msg;
        this.protocol = msg.protocol === 2 ? 2 : 1;
        this.view = this.protocol === 2 ? new DeltaView() : null;
        this.resyncSentAt = null;
        this.emit("welcome", msg);
        this.send({ type: "join_game" });
        return;
      case "joined":
        this.joined = msg;
        this.lostChannel = null;
        this.setState("playing", `playing on ${msg.channel_id} (protocol v${this.protocol ?? 1})`);
        this.emit("joined", msg);
        return;
      case "snapshot": {
        const now = performance.now();
        for (const [seq, sent] of this.moveSent) {
          if (seq > msg.ack) break;
          this.sample(now - sent);
          this.moveSent.delete(seq);
        }
        let entities;
        if (this.view) entities = this.applyDelta(msg, now);
        else if (msg.entities instanceof Uint8Array) entities = decodeEntities(msg.entities);
        else {
          entities = (msg.entities ?? []).map(([id, x, y, hp, hpMax, kind, flags, level]) =>
            ({ id, x, y, hp, hpMax, kind, dead: (flags & 1) !== 0, level }));
        }
        this.emit("snapshot", msg, entities);
        for (const ev of msg.events ?? []) this.emit("event", ev);
        return;
      }
      case "transfer":
        this.transfer = msg;
        this.setState("connecting", `moving to ${msg.channel_id}`);
        return;
      case "error":
        if (this.state !== "playing" && (msg.code === "character_busy" || msg.code === "unavailable")) {
          setTimeout(() => this.send({ type: "join_game" }), 1500); // still in LOBBY (§2.7 step 3)
        }
        break;
      default:
        break;
    }
    if (msg.seq !== undefined && this.pending.has(msg.seq)) {
      const { resolve, sent } = this.pending.get(msg.seq);
      this.pending.delete(msg.seq);
      if (msg.type === "ack") this.sample(performance.now() - sent);
      resolve(msg);
    }
    this.emit("message", msg); // unknown types included: a game's own messages are not an error
  }

  /**
   * Protocol v2: apply one snapshot to the view (§8.4) and return the whole view. A snapshot
   * that does not fit is not applied: ask for a keyframe (`resync`, §6.13) once, and ignore the
   * deltas until a `full` one comes (the page keeps the last good view meanwhile; acks and
   * events are still delivered).
   */
  applyDelta(msg, now) {
    const view = this.view;
    if (this.resyncSentAt !== null && msg.full !== true) {
      if (now - this.resyncSentAt > RESYNC_RETRY_MS) this.resync(now, "no keyframe came");
      return view.entities();
    }
    try {
      view.apply(msg);
      this.resyncSentAt = null;
    } catch (error) {
      if (!(error instanceof DeltaError)) throw error;
      view.synced = false;
      this.resync(now, error.message);
    }
    return view.entities();
  }

  resync(now, why) {
    console.warn(`view out of step (${why}): resync`);
    this.resyncSentAt = now;
    this.send({ type: "resync" });
  }

  sample(ms) { this.latencyMs = this.latencyMs === null ? ms : this.latencyMs * 0.8 + ms * 0.2; }

  bytesPerSecond() {
    const now = performance.now();
    while (this.bytes.length && this.bytes[0][0] < now - 2000) this.bytes.shift();
    return this.bytes.reduce((sum, [, n]) => sum + n, 0) / 2;
  }

  checkSilence() {
    if (this.state === "playing" && this.ws && performance.now() - this.lastHeard > SILENCE_MS) {
      this.ws.close(4000, "silent"); // a dead link: cut it and resume (§2.7)
    }
  }

  /** Send a message; returns its seq. */
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return 0;
    msg.seq = ++this.seq;
    if (msg.type === "move") this.moveSent.set(msg.seq, performance.now());
    this.ws.send(encode(msg));
    return msg.seq;
  }

  /** Send and wait for the reply carrying the same seq (ack, error, or a typed answer). */
  request(msg) {
    return new Promise((resolve, reject) => {
      const seq = this.send(msg);
      if (!seq) { reject(new Error("not connected")); return; }
      this.pending.set(seq, { resolve, reject, sent: performance.now() });
    });
  }

  stop() {
    this.stopped = true;
    clearInterval(this.silenceTimer);
    if (this.ws) { this.send({ type: "leave" }); }
  }
}
