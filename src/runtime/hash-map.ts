/**
 * `PercpuHashMap`: a BPF `BPF_MAP_TYPE_PERCPU_HASH` for worker threads.
 *
 * Like the kernel's preallocated per-CPU hash map, it allocates all
 * `maxEntries` per-unit values through the percpu allocator when it is created
 * (one `alloc(round_up(valueSize, 8), 8)` each, as BPF does) and frees them all
 * when it is destroyed; inserts and deletes only move elements between the
 * index and a free list. A worker's `update` writes its own unit's copy of the
 * value; a new element starts with the other units zeroed.
 *
 * Shared layout (fixed at creation, in `SharedArrayBuffer`s):
 *
 *   ctl        Int32 words: writer lock, delete sequence, element count, free
 *              list head, never-used element mark, state
 *   slotEntry  Int32 × capacity: element + 1, 0 = empty (open addressing,
 *              linear probing, capacity a power of two ≥ 2 × maxEntries, so
 *              the table is at most half full and every probe ends)
 *   slotHash   Int32 × capacity: the key's hash, compared before the key
 *   entryKey   Int32 × maxEntries × ceil(keySize / 4): keys, zero-padded
 *   entryNext  Int32 × maxEntries: free-list links
 *   entryPtr   Float64 × maxEntries: each element's percpu pointer
 *
 * Concurrency. One writer lock serialises inserts and deletes; lookups, and
 * updates of existing elements, take no lock:
 * - a value's unit copy has one writer (its owner), so updating an existing
 *   element needs only to find it;
 * - an insert fills the element (key, values) before it publishes the slot
 *   with `Atomics.store`, so a reader that sees the slot sees the element;
 * - a delete shifts later elements of the probe run back (no tombstones: probe
 *   runs stay short however many deletes happen) inside a sequence lock: the
 *   sequence word is odd during the shift, and a reader retries when the word
 *   was odd or changed across its probe. A deleted element is reused only by a
 *   later insert, after the sequence moved, so a reader never matches a key
 *   half rewritten.
 * Per-bucket locks would let inserts of different keys proceed in parallel,
 * but with open addressing a probe run crosses buckets, and deletes that
 * shift elements would need every bucket of the run; one writer lock keeps the
 * delete simple and correct, and the frequent operation (a worker updating
 * its value of an existing key) never takes it.
 *
 * As with BPF's preallocated maps, a pointer from `lookup` stays valid memory
 * until the map is destroyed, but the element may be deleted and reused for
 * another key meanwhile: writes through it then land in the new element.
 */
import { NULL_PTR } from '../engine/pointer.js';
import { MIN_UNIT_SIZE } from '../engine/constants.js';
import { AllocationFailedError } from '../errors.js';
import { FutexLock, canBlock } from './futex.js';
import type { SharedPercpu } from './shared-percpu.js';
import { DestroyedError, MapFullError, NoUnitError, RuntimeArgumentError } from './errors.js';

/** Update flags, as BPF's. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

/** A key: `keySize` bytes, or for 4- and 8-byte keys an integer (little-endian, two's complement), or a bigint for 8-byte keys. */
export type PercpuKey = Uint8Array | number | bigint;

export interface PercpuHashMapOptions {
  keySize: number;
  /** Bytes of each unit's value; each unit's copy is rounded up to 8 bytes, as in BPF. */
  valueSize: number;
  maxEntries: number;
}

/** Structured-clonable: post it to another thread and `PercpuHashMap.attach` it there. */
export interface PercpuHashMapHandle {
  keySize: number;
  valueSize: number;
  maxEntries: number;
  capacity: number;
  ctl: SharedArrayBuffer;
  table: SharedArrayBuffer;
}

const enum Hm {
  Lock = 0,
  /** Odd while a delete moves slots; bumped by 2 per delete. */
  Seq = 1,
  Count = 2,
  /** Free list head: element + 1, 0 = empty. */
  FreeHead = 3,
  /** Elements [Bump, maxEntries) were never used: their values are still zero. */
  Bump = 4,
  /** 0 = live, 1 = destroyed. */
  State = 5,
  Words = 8,
}

const MAX_KEY_SIZE = 512;
const MAX_ENTRIES = 1 << 26;

/** The map's key hash over `n` 32-bit key words (zero-padded key bytes, little-endian); its low bits pick the home slot. */
export function hashWords(w: Int32Array, n: number): number {
  let h = 0x2545f491 ^ n;
  for (let k = 0; k < n; k++) {
    h = Math.imul(h ^ w[k]!, 0x9e3779b1);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function tableLayout(capacity: number, maxEntries: number, keyWords: number) {
  const slotEntry = 0;
  const slotHash = slotEntry + 4 * capacity;
  const entryKey = slotHash + 4 * capacity;
  const entryNext = entryKey + 4 * maxEntries * keyWords;
  const entryPtr = (entryNext + 4 * maxEntries + 7) & ~7;
  return { slotEntry, slotHash, entryKey, entryNext, entryPtr, bytes: entryPtr + 8 * maxEntries };
}

export class PercpuHashMap {
  readonly keySize: number;
  readonly valueSize: number;
  /** Bytes per unit copy of a value: `valueSize` rounded up to 8. */
  readonly valueStride: number;
  readonly maxEntries: number;
  readonly capacity: number;
  private readonly percpu: SharedPercpu;
  private readonly h: PercpuHashMapHandle;
  private readonly lock: FutexLock;
  private readonly ctl: Int32Array;
  private readonly slotEntry: Int32Array;
  private readonly slotHash: Int32Array;
  private readonly entryKey: Int32Array;
  private readonly entryNext: Int32Array;
  private readonly entryPtr: Float64Array;
  private readonly mask: number;
  private readonly keyWords: number;
  /** This thread's key scratch: the key being looked up, as zero-padded words. */
  private readonly scratch: Int32Array;
  private readonly scratchBytes: Uint8Array;
  /** Out-parameter of `probe`: the element in the slot it found. */
  private probed = -1;

  /**
   * Create a map and preallocate its `maxEntries` values (zeroed) in every
   * unit. Throws `AllocationFailedError`, with everything given back, when the
   * allocator runs out of memory slots.
   */
  static create(percpu: SharedPercpu, options: PercpuHashMapOptions): PercpuHashMap {
    const { keySize, valueSize, maxEntries } = options;
    if (!Number.isInteger(keySize) || keySize < 1 || keySize > MAX_KEY_SIZE) throw new RuntimeArgumentError('EINVAL_SIZE', `keySize must be an integer in 1..${MAX_KEY_SIZE}, got ${keySize}`);
    if (!Number.isInteger(valueSize) || valueSize < 1 || valueSize > MIN_UNIT_SIZE) throw new RuntimeArgumentError('EINVAL_SIZE', `valueSize must be an integer in 1..${MIN_UNIT_SIZE}, got ${valueSize}`);
    if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > MAX_ENTRIES) throw new RuntimeArgumentError('EINVAL_SIZE', `maxEntries must be an integer in 1..${MAX_ENTRIES}, got ${maxEntries}`);
    const keyWords = Math.ceil(keySize / 4);
    let capacity = 8;
    while (capacity < 2 * maxEntries) capacity *= 2;
    const layout = tableLayout(capacity, maxEntries, keyWords);
    const handle: PercpuHashMapHandle = {
      keySize,
      valueSize,
      maxEntries,
      capacity,
      ctl: new SharedArrayBuffer(4 * Hm.Words),
      table: new SharedArrayBuffer(layout.bytes),
    };
    const ptrs = new Float64Array(handle.table, layout.entryPtr, maxEntries);
    const stride = (valueSize + 7) & ~7;
    const done = percpu.allocMany(stride, 8, maxEntries, ptrs);
    if (done < maxEntries) {
      percpu.freeManyValidated(ptrs, 0, done);
      throw new AllocationFailedError(stride, 8, `percpu hash map: only ${done} of ${maxEntries} values fit`);
    }
    return new PercpuHashMap(percpu, handle);
  }

  /** The same map in another thread. */
  static attach(percpu: SharedPercpu, handle: PercpuHashMapHandle): PercpuHashMap {
    return new PercpuHashMap(percpu, handle);
  }

  private constructor(percpu: SharedPercpu, h: PercpuHashMapHandle) {
    this.percpu = percpu;
    this.h = h;
    this.keySize = h.keySize;
    this.valueSize = h.valueSize;
    this.valueStride = (h.valueSize + 7) & ~7;
    this.maxEntries = h.maxEntries;
    this.capacity = h.capacity;
    this.mask = h.capacity - 1;
    this.keyWords = Math.ceil(h.keySize / 4);
    const layout = tableLayout(h.capacity, h.maxEntries, this.keyWords);
    this.ctl = new Int32Array(h.ctl);
    this.lock = new FutexLock(this.ctl, Hm.Lock);
    this.slotEntry = new Int32Array(h.table, layout.slotEntry, h.capacity);
    this.slotHash = new Int32Array(h.table, layout.slotHash, h.capacity);
    this.entryKey = new Int32Array(h.table, layout.entryKey, h.maxEntries * this.keyWords);
    this.entryNext = new Int32Array(h.table, layout.entryNext, h.maxEntries);
    this.entryPtr = new Float64Array(h.table, layout.entryPtr, h.maxEntries);
    // Two words at least, so that an 8-byte key can be written as one bigint.
    this.scratch = new Int32Array(Math.max(2, this.keyWords));
    this.scratchBytes = new Uint8Array(this.scratch.buffer, 0, h.keySize);
  }

  handle(): PercpuHashMapHandle {
    return this.h;
  }

  /** Elements in the map now. */
  get size(): number {
    return Atomics.load(this.ctl, Hm.Count);
  }

  get destroyed(): boolean {
    return Atomics.load(this.ctl, Hm.State) !== 0;
  }

  // -------------------------------------------------------------------------
  // Keys and probing

  /** Copy `key` into the scratch words and return its hash. Validates before anything else happens. */
  private hashKey(key: PercpuKey): number {
    const w = this.scratch;
    if (typeof key === 'number') {
      if (this.keySize === 4 && Number.isInteger(key) && key >= -0x8000_0000 && key < 0x1_0000_0000) {
        w[0] = key | 0;
      } else if (this.keySize === 8 && Number.isSafeInteger(key)) {
        w[0] = key | 0;
        w[1] = Math.floor(key / 0x1_0000_0000) | 0;
      } else {
        throw new RuntimeArgumentError('EINVAL_SIZE', `a number key needs a 4-byte (32-bit integer) or 8-byte (safe integer) key size; keySize ${this.keySize}, key ${key}`);
      }
    } else if (typeof key === 'bigint') {
      if (this.keySize !== 8) throw new RuntimeArgumentError('EINVAL_SIZE', `a bigint key needs keySize 8, not ${this.keySize}`);
      new BigInt64Array(w.buffer, 0, 1)[0] = BigInt.asIntN(64, key);
    } else {
      if (!(key instanceof Uint8Array) || key.length !== this.keySize) {
        throw new RuntimeArgumentError('EINVAL_SIZE', `key must be a Uint8Array of ${this.keySize} bytes`);
      }
      this.scratchBytes.set(key);
    }
    return hashWords(w, this.keyWords);
  }

  private keyEquals(e: number): boolean {
    const n = this.keyWords;
    const keys = this.entryKey;
    const w = this.scratch;
    for (let k = 0, at = e * n; k < n; k++, at++) if (keys[at] !== w[k]) return false;
    return true;
  }

  /**
   * Slot holding the scratch key (hash `h`), or -1; the element it names is
   * left in `probed`. Exact under the writer lock; racy without.
   */
  private probe(h: number): number {
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e1 = Atomics.load(this.slotEntry, i);
      if (e1 === 0) return -1;
      if (this.slotHash[i] === h && this.keyEquals(e1 - 1)) {
        this.probed = e1 - 1;
        return i;
      }
    }
  }

  /**
   * Element holding the scratch key, or -1, without the lock: a probe
   * validated by the delete sequence. A destroyed map leaves the sequence odd
   * for good, so the check for it costs nothing on the way in.
   */
  private find(h: number): number {
    const ctl = this.ctl;
    for (let tries = 0; ; tries++) {
      const s1 = Atomics.load(ctl, Hm.Seq);
      if ((s1 & 1) === 0) {
        const e = this.probe(h) < 0 ? -1 : this.probed;
        if (Atomics.load(ctl, Hm.Seq) === s1) return e;
      } else {
        this.checkLive();
      }
      // A delete is moving slots: it lasts a few hundred ns, unless its thread was descheduled.
      if (tries > 64 && canBlock()) Atomics.wait(ctl, Hm.Seq, s1, 0.05);
    }
  }

  private checkLive(): void {
    if (Atomics.load(this.ctl, Hm.State) !== 0) throw new DestroyedError('percpu hash map');
  }

  private myUnit(what: string): number {
    const u = this.percpu.unit;
    if (u < 0) throw new NoUnitError(what);
    return u;
  }

  private valueBytes(value: Uint8Array | ArrayBufferView, length: number): Uint8Array {
    const v = value instanceof Uint8Array ? value : ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : undefined;
    if (v === undefined || v.length !== length) throw new RuntimeArgumentError('EINVAL_SIZE', `value must be ${length} bytes`);
    return v;
  }

  // -------------------------------------------------------------------------
  // Writer side (under the lock)

  /** Take an element for a new key: a never-used one first (still zero), else a freed one, zeroed. Throws `MapFullError`. */
  private takeElement(): number {
    const c = this.ctl;
    const bump = c[Hm.Bump]!;
    if (bump < this.maxEntries) {
      c[Hm.Bump] = bump + 1;
      return bump;
    }
    const head = c[Hm.FreeHead]!;
    if (head === 0) throw new MapFullError(this.maxEntries);
    const e = head - 1;
    c[Hm.FreeHead] = this.entryNext[e]!;
    const m = this.percpu.memory;
    const ptr = this.entryPtr[e]!;
    for (let u = 0; u < this.percpu.nrUnits; u++) {
      const at = m.address(ptr, u, 0, 8);
      m.u8.fill(0, at, at + this.valueStride);
    }
    return e;
  }

  /** Write the scratch key into element `e` and publish it in the first empty slot of its probe run. */
  private publish(e: number, h: number): void {
    const n = this.keyWords;
    this.entryKey.set(this.scratch.subarray(0, n), e * n);
    const mask = this.mask;
    let i = h & mask;
    while (this.slotEntry[i] !== 0) i = (i + 1) & mask;
    this.slotHash[i] = h;
    Atomics.store(this.slotEntry, i, e + 1);
    this.ctl[Hm.Count] = this.ctl[Hm.Count]! + 1;
  }

  /** Remove the element at `slot`: shift the rest of its probe run back, inside the sequence lock. */
  private removeSlot(slot: number): number {
    const c = this.ctl;
    const mask = this.mask;
    const se = this.slotEntry;
    const sh = this.slotHash;
    const e = se[slot]! - 1;
    const seq = c[Hm.Seq]!;
    Atomics.store(c, Hm.Seq, seq + 1);
    let hole = slot;
    for (let j = (slot + 1) & mask; ; j = (j + 1) & mask) {
      const ej = se[j]!;
      if (ej === 0) break;
      const home = sh[j]! & mask;
      // The element at j may move into the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      sh[hole] = sh[j]!;
      Atomics.store(se, hole, ej);
      hole = j;
    }
    Atomics.store(se, hole, 0);
    Atomics.store(c, Hm.Seq, seq + 2);
    this.entryNext[e] = c[Hm.FreeHead]!;
    c[Hm.FreeHead] = e + 1;
    c[Hm.Count] = c[Hm.Count]! - 1;
    return e;
  }

  // -------------------------------------------------------------------------
  // Public operations

  /**
   * `bpf_map_lookup_elem` from a program: the percpu pointer of the key's
   * value, or `NULL_PTR`. Read or write this thread's copy with
   * `percpu.thisCpu`, another unit's with `percpu.perCpu(k)`.
   */
  lookup(key: PercpuKey): number {
    const h = this.hashKey(key);
    const e = this.find(h);
    return e < 0 ? NULL_PTR : this.entryPtr[e]!;
  }

  /**
   * `bpf_map_update_elem` from a program: set this thread's unit copy of the
   * value. A new element starts with every other unit zeroed. Flags: `BPF_ANY`,
   * `BPF_NOEXIST` (only a new key), `BPF_EXIST` (only an existing key). Returns
   * false when the flag's condition fails; throws `MapFullError` when a new key
   * finds no free element.
   */
  update(key: PercpuKey, value: Uint8Array | ArrayBufferView, flags = BPF_ANY): boolean {
    const h = this.hashKey(key);
    const bytes = this.valueBytes(value, this.valueSize);
    checkFlags(flags);
    const unit = this.myUnit('PercpuHashMap.update');
    if (flags !== BPF_NOEXIST) {
      const e = this.find(h);
      if (e >= 0) {
        this.writeUnit(e, unit, bytes);
        return true;
      }
      if (flags === BPF_EXIST) return false;
    }
    this.lock.lock();
    try {
      this.checkLive();
      const slot = this.probe(h);
      if (slot >= 0) {
        if (flags === BPF_NOEXIST) return false;
        this.writeUnit(this.slotEntry[slot]! - 1, unit, bytes);
        return true;
      }
      if (flags === BPF_EXIST) return false;
      const e = this.takeElement();
      this.writeUnit(e, unit, bytes);
      this.publish(e, h);
      return true;
    } finally {
      this.lock.unlock();
    }
  }

  /**
   * `bpf_map_update_elem` from user space: every unit's copy at once, from
   * `values` laid out as BPF's — `nrUnits` copies of `valueStride` bytes.
   */
  updateAll(key: PercpuKey, values: Uint8Array | ArrayBufferView, flags = BPF_ANY): boolean {
    const h = this.hashKey(key);
    const bytes = this.valueBytes(values, this.percpu.nrUnits * this.valueStride);
    checkFlags(flags);
    this.lock.lock();
    try {
      this.checkLive();
      const slot = this.probe(h);
      if (slot >= 0 ? flags === BPF_NOEXIST : flags === BPF_EXIST) return false;
      const e = slot >= 0 ? this.slotEntry[slot]! - 1 : this.takeElement();
      for (let u = 0; u < this.percpu.nrUnits; u++) this.writeUnit(e, u, bytes.subarray(u * this.valueStride, (u + 1) * this.valueStride));
      if (slot < 0) this.publish(e, h);
      return true;
    } finally {
      this.lock.unlock();
    }
  }

  /**
   * The key's percpu pointer, inserting it with every unit zeroed if absent
   * (the lookup-then-insert pattern of BPF programs, race-free). Throws
   * `MapFullError` when it must insert into a full map.
   */
  lookupOrInit(key: PercpuKey): number {
    const h = this.hashKey(key);
    const e = this.find(h);
    if (e >= 0) return this.entryPtr[e]!;
    this.lock.lock();
    try {
      this.checkLive();
      const slot = this.probe(h);
      if (slot >= 0) return this.entryPtr[this.slotEntry[slot]! - 1]!;
      const fresh = this.takeElement();
      this.publish(fresh, h);
      return this.entryPtr[fresh]!;
    } finally {
      this.lock.unlock();
    }
  }

  /** `bpf_map_delete_elem`: true if the key was there. */
  delete(key: PercpuKey): boolean {
    const h = this.hashKey(key);
    this.lock.lock();
    try {
      this.checkLive();
      const slot = this.probe(h);
      if (slot < 0) return false;
      this.removeSlot(slot);
      return true;
    } finally {
      this.lock.unlock();
    }
  }

  /**
   * Values are resolved by their first 8 bytes only: a value lies inside its
   * allocation, and views always cover whole memory slots, so a view that
   * covers the first bytes covers the value.
   */
  private writeUnit(e: number, unit: number, bytes: Uint8Array): void {
    const m = this.percpu.memory;
    // Resolve first: it may re-make the views.
    const at = m.address(this.entryPtr[e]!, unit, 0, 8);
    m.u8.set(bytes, at);
  }

  /** A copy of one unit's value (default: this thread's), or undefined if the key is absent. */
  lookupElem(key: PercpuKey, unit?: number): Uint8Array | undefined {
    const h = this.hashKey(key);
    const u = unit ?? this.myUnit('PercpuHashMap.lookupElem without a unit');
    this.percpu.perCpu(u);
    const e = this.find(h);
    if (e < 0) return undefined;
    return this.copyUnits(this.entryPtr[e]!, u, 1, this.valueSize);
  }

  /**
   * `bpf_map_lookup_elem` from user space: every unit's copy, laid out as BPF's
   * (`nrUnits` × `valueStride` bytes), read in 32-bit atomic words.
   */
  lookupAll(key: PercpuKey): Uint8Array | undefined {
    const h = this.hashKey(key);
    const e = this.find(h);
    if (e < 0) return undefined;
    return this.copyUnits(this.entryPtr[e]!, 0, this.percpu.nrUnits, this.valueStride);
  }

  private copyUnits(ptr: number, firstUnit: number, nrUnits: number, bytes: number): Uint8Array {
    const words = this.valueStride >>> 2;
    const out = new Int32Array(nrUnits * words);
    const m = this.percpu.memory;
    for (let u = 0; u < nrUnits; u++) {
      const at = m.address(ptr, firstUnit + u, 0, 8) >>> 2;
      for (let k = 0; k < words; k++) out[u * words + k] = Atomics.load(m.i32, at + k);
    }
    return new Uint8Array(out.buffer, 0, nrUnits === 1 ? bytes : out.byteLength);
  }

  /** Sum over all units of the Int32 at byte `off` of the key's value; undefined if absent. */
  sumInt32(key: PercpuKey, off = 0): number | undefined {
    const ptr = this.lookup(key);
    if (ptr === NULL_PTR) return undefined;
    let s = 0;
    for (let u = 0; u < this.percpu.nrUnits; u++) s += this.percpu.perCpu(u).getInt32(ptr, off);
    return s;
  }

  /** Sum over all units of the Float64 at byte `off` (tear-free reads); undefined if absent. */
  sumFloat64(key: PercpuKey, off = 0): number | undefined {
    const ptr = this.lookup(key);
    if (ptr === NULL_PTR) return undefined;
    let s = 0;
    for (let u = 0; u < this.percpu.nrUnits; u++) s += this.percpu.perCpu(u).getFloat64(ptr, off);
    return s;
  }

  /** Sum over all units of the BigInt64 at byte `off`; undefined if absent. */
  sumBigInt64(key: PercpuKey, off = 0): bigint | undefined {
    const ptr = this.lookup(key);
    if (ptr === NULL_PTR) return undefined;
    let s = 0n;
    for (let u = 0; u < this.percpu.nrUnits; u++) s += this.percpu.perCpu(u).getBigInt64(ptr, off);
    return s;
  }

  /** A snapshot of the elements, taken under the writer lock: key bytes and percpu pointer, in slot order. */
  entries(): [Uint8Array, number][] {
    const out: [Uint8Array, number][] = [];
    this.lock.lock();
    try {
      this.checkLive();
      const keyBytes = new Uint8Array(this.entryKey.buffer, this.entryKey.byteOffset, this.entryKey.byteLength);
      const stride = this.keyWords * 4;
      for (let i = 0; i < this.capacity; i++) {
        const e1 = this.slotEntry[i]!;
        if (e1 === 0) continue;
        const at = (e1 - 1) * stride;
        out.push([keyBytes.slice(at, at + this.keySize), this.entryPtr[e1 - 1]!]);
      }
    } finally {
      this.lock.unlock();
    }
    return out;
  }

  keys(): Uint8Array[] {
    return this.entries().map(([k]) => k);
  }

  /**
   * Free every preallocated value and retire the map in every thread. Other
   * threads must stop using pointers from it (their map calls then throw
   * `DestroyedError`).
   */
  destroy(): void {
    this.lock.lock();
    try {
      this.checkLive();
      Atomics.store(this.ctl, Hm.State, 1);
      // Odd for good: lock-free readers find out at their next probe.
      Atomics.store(this.ctl, Hm.Seq, this.ctl[Hm.Seq]! | 1);
      this.percpu.freeManyValidated(this.entryPtr, 0, this.maxEntries);
    } finally {
      this.lock.unlock();
    }
  }
}

function checkFlags(flags: number): void {
  if (flags !== BPF_ANY && flags !== BPF_NOEXIST && flags !== BPF_EXIST) throw new RuntimeArgumentError('EINVAL_SIZE', `update flags must be BPF_ANY, BPF_NOEXIST or BPF_EXIST, got ${flags}`);
}
