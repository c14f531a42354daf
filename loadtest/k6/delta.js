// Protocol v2 snapshots for loadtest/k6/game.js: a client's view kept by applying every delta
// in order (docs/reference/protocol.md §8.4), the k6 twin of openmmo.protocol.delta.DeltaView.
//
//   const view = new DeltaView();
//   view.apply(decode(frame));   // throws DeltaError when the delta does not fit: send resync
//   view.records();              // [[id, x, y, hp, hp_max, kind, flags, level], ...] as in v1
//
// Records name entities by a u16 handle; positions are integers in units of `quantum` (held
// as integers, and `move` steps added to them, so the view is exactly the server's). Fields
// are applied in the order full, leave, enter, update, place, move, whatever their order in
// the map. A delta that does not fit (a handle not held, an enter of one held, a ragged bin, a
// delta before any keyframe) throws and leaves the view empty and unsynced: nothing half
// applied is ever read, and only the keyframe a `resync` asks for (§6.13) syncs it again.

export const PROTOCOL_V2 = 2;
const FINEST_QUANTUM = 1 / 32;
const SIZES = { leave: 2, enter: 17, update: 8, place: 6, move: 4 };

export class DeltaError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DeltaError';
  }
}

function section(message, name) {
  const bin = message[name];
  if (bin === undefined) return null;
  if (!(bin instanceof Uint8Array) || bin.length % SIZES[name] !== 0) {
    throw new DeltaError(`${name} is not a whole number of ${SIZES[name]}-byte records`);
  }
  return new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
}

function count(view, name) {
  return view ? view.byteLength / SIZES[name] : 0;
}

export class DeltaView {
  constructor() {
    this.quantum = FINEST_QUANTUM;
    this.held = new Map(); // handle -> [id, qx, qy, hp, hp_max, kind, flags, level]
    this.synced = false; // a keyframe has arrived (and nothing went out of step since)
  }

  get size() {
    return this.held.size;
  }

  // Apply one decoded v2 snapshot. Throws DeltaError (and holds nothing until the next
  // keyframe) if it does not fit what is held.
  apply(message) {
    try {
      this.applyChecked(message);
    } catch (e) {
      this.held.clear();
      this.synced = false;
      throw e;
    }
  }

  applyChecked(message) {
    const full = message.full;
    if (full !== undefined && typeof full !== 'boolean') throw new DeltaError('full is not a boolean');
    const leave = section(message, 'leave'), enter = section(message, 'enter');
    const update = section(message, 'update'), place = section(message, 'place');
    const move = section(message, 'move');
    const held = this.held;
    if (full) {
      const quantum = message.quantum;
      if (typeof quantum !== 'number' || !(quantum > 0) || !isFinite(quantum)) {
        throw new DeltaError('a keyframe without a positive quantum');
      }
      held.clear();
      this.quantum = quantum;
      this.synced = true;
    } else if (!this.synced) {
      throw new DeltaError('a delta arrived before any keyframe');
    }
    const row = (h, name) => {
      const found = held.get(h);
      if (found === undefined) throw new DeltaError(`${name} of unknown handle ${h}`);
      return found;
    };
    for (let i = 0; i < count(leave, 'leave'); i++) {
      const h = leave.getUint16(i * 2, true);
      if (!held.delete(h)) throw new DeltaError(`leave of unknown handle ${h}`);
    }
    for (let i = 0; i < count(enter, 'enter'); i++) {
      const o = i * 17, h = enter.getUint16(o, true);
      if (held.has(h)) throw new DeltaError(`enter of a handle already held: ${h}`);
      held.set(h, [
        enter.getUint32(o + 2, true), enter.getUint16(o + 6, true), enter.getUint16(o + 8, true),
        enter.getUint16(o + 10, true), enter.getUint16(o + 12, true),
        enter.getUint8(o + 14), enter.getUint8(o + 15), enter.getUint8(o + 16),
      ]);
    }
    for (let i = 0; i < count(update, 'update'); i++) {
      const o = i * 8, r = row(update.getUint16(o, true), 'update');
      r[3] = update.getUint16(o + 2, true); r[4] = update.getUint16(o + 4, true);
      r[6] = update.getUint8(o + 6); r[7] = update.getUint8(o + 7);
    }
    for (let i = 0; i < count(place, 'place'); i++) {
      const o = i * 6, r = row(place.getUint16(o, true), 'place');
      r[1] = place.getUint16(o + 2, true); r[2] = place.getUint16(o + 4, true);
    }
    for (let i = 0; i < count(move, 'move'); i++) {
      const o = i * 4, h = move.getUint16(o, true), r = row(h, 'move');
      r[1] += move.getInt8(o + 2);
      r[2] += move.getInt8(o + 3);
      if (r[1] < 0 || r[1] > 0xffff || r[2] < 0 || r[2] > 0xffff) {
        throw new DeltaError(`a move of handle ${h} off the 16-bit grid`);
      }
    }
  }

  // What is held as v1 entity records: [id, x, y, hp, hp_max, kind, flags, level], positions
  // in world units.
  records() {
    const q = this.quantum, out = [];
    for (const [id, qx, qy, hp, hpMax, kind, flags, level] of this.held.values()) {
      out.push([id, qx * q, qy * q, hp, hpMax, kind, flags, level]);
    }
    return out;
  }
}

// A v1 msgpack `entities` bin (20-byte little-endian records, protocol.md §8.2) as the same
// records (what a v2 client gets from a server that answered with protocol 1).
export function v1Records(bin) {
  if (!(bin instanceof Uint8Array) || bin.length % 20 !== 0) {
    throw new DeltaError('entities is not a whole number of 20-byte records');
  }
  const v = new DataView(bin.buffer, bin.byteOffset, bin.byteLength), out = [];
  for (let o = 0; o < bin.length; o += 20) {
    out.push([v.getUint32(o, true), v.getFloat32(o + 4, true), v.getFloat32(o + 8, true),
      v.getUint16(o + 12, true), v.getUint16(o + 14, true), v.getUint8(o + 16),
      v.getUint8(o + 17), v.getUint8(o + 18)]);
  }
  return out;
}
