// A small, strict msgpack codec (https://github.com/msgpack/msgpack/blob/master/spec.md) for
// loadtest/k6/game.js: k6 has no msgpack module, and its JavaScript runtime has no TextEncoder
// or TextDecoder (and, in older k6, no BigInt), so this is plain ES2015 with typed arrays.
//
// It covers what the OpenMMO protocol sends (docs/reference/protocol.md §4.2): nil, bool,
// integers of every width, float32 and float64, str, bin, array and map. It is strict: any
// other type (ext, the never-used 0xc1), a truncated value, bytes after the value, invalid
// UTF-8, a map key that is not a string, a duplicate key or an integer JavaScript cannot hold
// exactly (beyond ±2^53) throws instead of guessing.
//
//   import { encode, decode } from './msgpack.js';
//   const bytes = encode({ type: 'move', x: 1.5, y: 2, seq: 3 }); // a Uint8Array
//   const message = decode(arrayBuffer);  // bin values come back as Uint8Array views of it

const MAX_DEPTH = 64;
const TWO_32 = 4294967296;

// --- encoding -----------------------------------------------------------------------------

class Writer {
  constructor() {
    this.bytes = new Uint8Array(256);
    this.view = new DataView(this.bytes.buffer);
    this.length = 0;
  }

  room(n) {
    if (this.length + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + n) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.bytes.subarray(0, this.length));
    this.bytes = bigger;
    this.view = new DataView(bigger.buffer);
  }

  u8(v) { this.room(1); this.bytes[this.length++] = v; }
  u16(v) { this.room(2); this.view.setUint16(this.length, v); this.length += 2; }
  u32(v) { this.room(4); this.view.setUint32(this.length, v); this.length += 4; }
  raw(data) { this.room(data.length); this.bytes.set(data, this.length); this.length += data.length; }
}

function utf8(text) {
  const out = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) throw new TypeError('msgpack: a lone surrogate in a string');
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

function writeInt(w, v) {
  if (v >= 0) {
    if (v < 0x80) w.u8(v);
    else if (v < 0x100) { w.u8(0xcc); w.u8(v); }
    else if (v < 0x10000) { w.u8(0xcd); w.u16(v); }
    else if (v < TWO_32) { w.u8(0xce); w.u32(v); }
    else { w.u8(0xcf); w.u32(Math.floor(v / TWO_32)); w.u32(v % TWO_32); }
  } else if (v >= -32) w.u8(v & 0xff);
  else if (v >= -0x80) { w.u8(0xd0); w.u8(v & 0xff); }
  else if (v >= -0x8000) { w.u8(0xd1); w.u16(v & 0xffff); }
  else if (v >= -0x80000000) { w.u8(0xd2); w.u32(v >>> 0); }
  else { // two's complement of a safe negative integer, in two 32-bit halves
    const high = Math.floor(v / TWO_32), low = v - high * TWO_32;
    w.u8(0xd3); w.u32(high >>> 0); w.u32(low);
  }
}

function writeLength(w, n, small, smallMax, m8, m16, m32) {
  if (small !== null && n <= smallMax) w.u8(small | n);
  else if (m8 !== null && n < 0x100) { w.u8(m8); w.u8(n); }
  else if (n < 0x10000) { w.u8(m16); w.u16(n); }
  else if (n < TWO_32) { w.u8(m32); w.u32(n); }
  else throw new RangeError('msgpack: longer than 2^32 - 1');
}

function write(w, value, depth) {
  if (depth > MAX_DEPTH) throw new RangeError('msgpack: nested too deep');
  if (value === null) w.u8(0xc0);
  else if (value === false) w.u8(0xc2);
  else if (value === true) w.u8(0xc3);
  else if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && !Object.is(value, -0)) writeInt(w, value);
    else { w.u8(0xcb); w.room(8); w.view.setFloat64(w.length, value); w.length += 8; }
  } else if (typeof value === 'string') {
    const data = utf8(value);
    writeLength(w, data.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
    w.raw(data);
  } else if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
    const data = value instanceof ArrayBuffer ? new Uint8Array(value) : value;
    writeLength(w, data.length, null, 0, 0xc4, 0xc5, 0xc6);
    w.raw(data);
  } else if (Array.isArray(value)) {
    writeLength(w, value.length, 0x90, 15, null, 0xdc, 0xdd);
    for (const item of value) write(w, item, depth + 1);
  } else if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined); // as JSON.stringify
    writeLength(w, keys.length, 0x80, 15, null, 0xde, 0xdf);
    for (const key of keys) { write(w, key, depth + 1); write(w, value[key], depth + 1); }
  } else {
    throw new TypeError(`msgpack: cannot encode ${typeof value} ${String(value)}`);
  }
}

// The msgpack encoding of `value` (null, booleans, numbers, strings, Uint8Array or
// ArrayBuffer as bin, arrays, plain objects with string keys) as a Uint8Array. Integers that
// are safe in JavaScript take the smallest int format; every other number is a float64.
export function encode(value) {
  const w = new Writer();
  write(w, value, 0);
  return w.bytes.slice(0, w.length);
}

// `encode(value)` as an ArrayBuffer of exactly its length (what k6's socket.sendBinary takes).
export function encodeBuffer(value) {
  return encode(value).buffer;
}

// --- decoding -----------------------------------------------------------------------------

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  need(n) {
    if (this.pos + n > this.bytes.length) throw new RangeError('msgpack: truncated');
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8() { return this.bytes[this.need(1)]; }
  u16() { return this.view.getUint16(this.need(2)); }
  u32() { return this.view.getUint32(this.need(4)); }
}

function readUtf8(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    let c, n, min;
    if (b < 0x80) { c = b; n = 0; min = 0; }
    else if (b >= 0xc2 && b < 0xe0) { c = b & 0x1f; n = 1; min = 0x80; }
    else if (b >= 0xe0 && b < 0xf0) { c = b & 0x0f; n = 2; min = 0x800; }
    else if (b >= 0xf0 && b < 0xf5) { c = b & 0x07; n = 3; min = 0x10000; }
    else throw new TypeError('msgpack: invalid UTF-8');
    if (i + n >= bytes.length) throw new TypeError('msgpack: invalid UTF-8'); // cut short
    for (let k = 1; k <= n; k++) {
      const cont = bytes[i + k];
      if ((cont & 0xc0) !== 0x80) throw new TypeError('msgpack: invalid UTF-8');
      c = (c << 6) | (cont & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
      throw new TypeError('msgpack: invalid UTF-8');
    }
    out += String.fromCodePoint(c);
    i += n + 1;
  }
  return out;
}

function int64(r, signed) {
  const high = r.u32(), low = r.u32();
  const value = signed && high >= 0x80000000
    ? (high - TWO_32) * TWO_32 + low
    : high * TWO_32 + low;
  if (!Number.isSafeInteger(value)) throw new RangeError('msgpack: an integer beyond 2^53');
  return value;
}

function str(r, n) {
  const at = r.need(n);
  return readUtf8(r.bytes.subarray(at, at + n));
}

function bin(r, n) {
  const at = r.need(n);
  return r.bytes.subarray(at, at + n);
}

function array(r, n, depth) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = read(r, depth + 1);
  return out;
}

function map(r, n, depth) {
  const out = {};
  for (let i = 0; i < n; i++) {
    const key = read(r, depth + 1);
    if (typeof key !== 'string') throw new TypeError('msgpack: a map key that is not a string');
    if (Object.prototype.hasOwnProperty.call(out, key) || key === '__proto__') {
      throw new TypeError(`msgpack: duplicate or reserved map key ${key}`);
    }
    out[key] = read(r, depth + 1);
  }
  return out;
}

function read(r, depth) {
  if (depth > MAX_DEPTH) throw new RangeError('msgpack: nested too deep');
  const t = r.u8();
  if (t < 0x80) return t;
  if (t >= 0xe0) return t - 0x100;
  if (t < 0x90) return map(r, t & 0x0f, depth);
  if (t < 0xa0) return array(r, t & 0x0f, depth);
  if (t < 0xc0) return str(r, t & 0x1f);
  switch (t) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: return bin(r, r.u8());
    case 0xc5: return bin(r, r.u16());
    case 0xc6: return bin(r, r.u32());
    case 0xca: return r.view.getFloat32(r.need(4));
    case 0xcb: return r.view.getFloat64(r.need(8));
    case 0xcc: return r.u8();
    case 0xcd: return r.u16();
    case 0xce: return r.u32();
    case 0xcf: return int64(r, false);
    case 0xd0: return r.view.getInt8(r.need(1));
    case 0xd1: return r.view.getInt16(r.need(2));
    case 0xd2: return r.view.getInt32(r.need(4));
    case 0xd3: return int64(r, true);
    case 0xd9: return str(r, r.u8());
    case 0xda: return str(r, r.u16());
    case 0xdb: return str(r, r.u32());
    case 0xdc: return array(r, r.u16(), depth);
    case 0xdd: return array(r, r.u32(), depth);
    case 0xde: return map(r, r.u16(), depth);
    case 0xdf: return map(r, r.u32(), depth);
    default: // 0xc1 (never used) and the ext types 0xc7-0xc9, 0xd4-0xd8
      throw new TypeError(`msgpack: unsupported type 0x${t.toString(16)}`);
  }
}

// The one value `data` (an ArrayBuffer or a Uint8Array) holds; throws on anything else.
export function decode(data) {
  let bytes;
  if (data instanceof Uint8Array) bytes = data;
  else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else throw new TypeError('msgpack: decode takes an ArrayBuffer or a Uint8Array');
  const r = new Reader(bytes);
  const value = read(r, 0);
  if (r.pos !== bytes.length) throw new RangeError('msgpack: bytes after the value');
  return value;
}
