// The protocol in the browser: the gateway's HTTP API and a zone connection that resumes by
// itself. Written from docs/reference/protocol.md (msgpack encoding, §2.7 resuming).
import { encode, decode } from "./vendor/msgpack/index.mjs";

export const SUBPROTOCOL = "openmmo.v1.msgpack";
// Closes after which coming back would be wrong (§2.7): left, banned / hopeless ticket,
// played elsewhere.
const FINAL_CLOSES = new Set([1000, 4003, 4009]);
const SILENCE_MS = 3000; // snapshots come ≥ 10/s while playing: 3 s of nothing is a dead link
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

/**
 * One player's link to the world: joins through the gateway, follows transfers, and comes
 * back by itself (new ticket, jittered backoff) whenever the connection is lost for a reason
 * that invites it. Emits events through `on(name, fn)`:
 *   status(text, state)   state: connecting | playing | reconnecting | closed
 *   welcome(msg), joined(msg), snapshot(msg, entities), event(ev), message(msg), closed(code)
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
      let played = false;
      let ws;
      try {
        ws = new WebSocket(grant.ws_url, [SUBPROTOCOL]);
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
        this.emit("welcome", msg);
        this.send({ type: "join_game" });
        return;
      case "joined":
        this.joined = msg;
        this.lostChannel = null;
        this.setState("playing", `playing on ${msg.channel_id}`);
        this.emit("joined", msg);
        return;
      case "snapshot": {
        const now = performance.now();
        for (const [seq, sent] of this.moveSent) {
          if (seq > msg.ack) break;
          this.sample(now - sent);
          this.moveSent.delete(seq);
        }
        const entities = msg.entities instanceof Uint8Array ? decodeEntities(msg.entities)
          : (msg.entities ?? []).map(([id, x, y, hp, hpMax, kind, flags, level]) =>
            ({ id, x, y, hp, hpMax, kind, dead: (flags & 1) !== 0, level }));
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
