// SPDX-License-Identifier: GPL-2.0-only
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
 *   slots      Int32 × 2 × capacity: per slot its element + 1 (0 = empty)
 *              and the key's hash, side by side so that a probe step reads
 *              one cache line (open addressing, linear probing, capacity a
 *              power of two ≥ 2 × maxEntries, so the table is at most half
 *              full and every probe ends)
 *   entryRec   Int32 × maxEntries × (key words + 1): each element's key,
 *              zero-padded, then the Int32 index of its unit-0 value in the
 *              unit memory (fixed at creation: the values are preallocated),
 *              so that a lookup finds key and value in one record
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
 *
 * Keys: `keyType` 'bytes' (exactly `keySize` bytes; 4- and 8-byte keys also
 * take numbers and bigints) or 'string' (UTF-8 up to `keySize` bytes, stored
 * with its length, so keys compare in full: "ab" and "ab\0" differ, and a
 * too-long string is an error, never a truncation).
 *
 * Robustness. The writer lock is a robust `FutexLock`: before an insert or a
 * delete mutates anything it writes an intent record (ctl words `Intent`…);
 * a thread that takes the lock over from a dead holder rolls an interrupted
 * insert back (unless it was already published, then forward) and finishes an
 * interrupted delete (the backward shift resumes from the recorded hole: each
 * step is idempotent). Readers that find the delete sequence stuck odd ask
 * whether the holder died and, if so, take the lock to trigger that repair.
 * `destroy()` is the exception: a thread killed inside it may leak the values.
 *
 * LRU mode (`lru: true`, BPF's LRU_PERCPU_HASH): an insert into a full map
 * evicts an old element instead of failing. Every lookup and update stamps the
 * element with a coarse clock; eviction takes the oldest of a sample of
 * elements (as the kernel's LRU lists, an approximation of least recent use).
 */
import { NULL_PTR } from '../engine/pointer.js';
import { MIN_UNIT_SIZE } from '../engine/constants.js';
import { AllocationFailedError } from '../errors.js';
import { FutexLock, canBlock } from './futex.js';
import type { SharedPercpu } from './shared-percpu.js';
import { DestroyedError, MapFullError, NoUnitError, RuntimeArgumentError } from './errors.js';
import type { PercpuMemory } from './memory.js';

/** Update flags, as BPF's. */
export const BPF_ANY = 0;
/** Update flag: only insert (fail with `exists` if the key is there). */
export const BPF_NOEXIST = 1;
/** Update flag: only replace (fail with `missing` if the key is not there). */
export const BPF_EXIST = 2;

/** A key: `keySize` bytes, or for 4- and 8-byte keys an integer (little-endian, two's complement), or a bigint for 8-byte keys. */
export type PercpuKey = Uint8Array | number | bigint;

/** Outcome of `tryUpdate` (BPF's 0, -EEXIST, -ENOENT, -E2BIG). */
export type UpdateStatus = 'ok' | 'exists' | 'missing' | 'full';

/** How keys are given: raw bytes (`Uint8Array`) or strings (UTF-8). */
export type PercpuKeyType = 'bytes' | 'string';

/** How `items()` reads each unit's value. */
export type ValueKind = 'int32' | 'uint32' | 'float64' | 'bigint64';

/** One element as `items()` yields it. */
export interface PercpuMapItem<V extends number | bigint = number> {
  key: Uint8Array | string;
  ptr: number;
  /** Each unit's value, unit order. */
  values: V[];
  sum: V;
}

/** Options of `PercpuHashMap.create`. */
export interface PercpuHashMapOptions {
  /** Bytes of a key; for string keys the most UTF-8 bytes a key may have. */
  keySize: number;
  /** 'bytes' (default) or 'string'. */
  keyType?: PercpuKeyType;
  /** Evict old elements instead of failing when full (LRU_PERCPU_HASH). */
  lru?: boolean;
  /** Bytes of each unit's value; each unit's copy is rounded up to 8 bytes, as in BPF. */
  valueSize: number;
  maxEntries: number;
}

/** Structured-clonable: post it to another thread and `PercpuHashMap.attach` it there. */
export interface PercpuHashMapHandle {
  keySize: number;
  keyType?: PercpuKeyType;
  lru?: boolean;
  valueSize: number;
  maxEntries: number;
  capacity: number;
  /** Bytes of unit memory the values reach (a thread's views must cover them before its lock-free paths run). */
  valueEnd: number;
  /**
   * Unit-0 Int32 index of element 0's value when every element's value follows the
   * previous one (`valueStride` apart, the usual result of preallocating in a fresh
   * chunk), else -1: then a value's index is `base + e × stride` with no load.
   */
  valueBase: number;
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
  /** The LRU clock. */
  Clock = 6,
  /** The writer's intent (`Op`), then its record. */
  Intent = 8,
  IElem = 9,
  ISlot = 10,
  IHole = 11,
  IBump = 12,
  IFree = 13,
  ICount = 14,
  ISeq = 15,
  Words = 16,
}

const enum Op {
  None = 0,
  Insert = 1,
  Delete = 2,
}

/** Elements an LRU eviction compares. */
const LRU_SAMPLE = 32;
/** Lookups between two ticks of the LRU clock (per thread). */
const LRU_TICK = 64;

const MAX_KEY_SIZE = 512;
const MAX_ENTRIES = 1 << 26;

/**
 * The map's key hash over `n` 32-bit key words (zero-padded key bytes,
 * little-endian); its top bits pick the home slot (`homeSlot`).
 */
export function hashWords(w: Int32Array, n: number): number {
  if (n === 1) return hashOneWord(w[0]!);
  let h = 0x2545f491 ^ n;
  for (let k = 0; k < n; k++) {
    h = Math.imul(h ^ w[k]!, 0x9e3779b1);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * `hashWords` of the single word `x`: Fibonacci (multiplicative) hashing, whose
 * top bits spread runs of integer keys — the common case: ids, ports, counters —
 * over distinct home slots, so that their probes end at the first slot (a strong
 * mix would put a third of them one slot further and cost a mispredicted branch
 * each). The high half is folded in first so that keys differing only there still
 * differ in the top bits.
 */
function hashOneWord(x: number): number {
  return Math.imul(x ^ (x >>> 16), HASH_MUL);
}

/** The golden-ratio multiplier of `hashOneWord`. */
const HASH_MUL = 0x9e3779b1;

/** A hash's home slot in a table of `capacity` slots (a power of two): its top bits. */
export function homeSlot(hash: number, capacity: number): number {
  return hash >>> (32 - Math.log2(capacity));
}

function tableLayout(capacity: number, maxEntries: number, keyWords: number) {
  const slots = 0;
  const entryRec = slots + 8 * capacity;
  const entryNext = entryRec + 4 * maxEntries * (keyWords + 1);
  const entryStamp = entryNext + 4 * maxEntries;
  const entryPtr = (entryStamp + 4 * maxEntries + 7) & ~7;
  return { slots, entryRec, entryNext, entryStamp, entryPtr, bytes: entryPtr + 8 * maxEntries };
}

/** Key words for a key type: string keys carry their byte length in front. */
function keyWordsFor(keySize: number, keyType: PercpuKeyType): number {
  return keyType === 'string' ? Math.ceil((keySize + 2) / 4) : Math.ceil(keySize / 4);
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** A BPF-style per-CPU hash map: one value per key per unit, each worker writing its own, any thread reading all. */
export class PercpuHashMap {
  declare readonly keySize: number;
  declare readonly keyType: PercpuKeyType;
  declare readonly lru: boolean;
  declare readonly valueSize: number;
  /** Bytes per unit copy of a value: `valueSize` rounded up to 8. */
  declare readonly valueStride: number;
  declare readonly maxEntries: number;
  declare readonly capacity: number;
  declare readonly nrUnits: number;
  declare private readonly percpu: SharedPercpu;
  declare private readonly m: PercpuMemory;
  declare private readonly h: PercpuHashMapHandle;
  declare private readonly lock: FutexLock;
  declare private readonly ctl: Int32Array;
  /** Slot i: element + 1 at 2i, the key's hash at 2i + 1. */
  declare private readonly slots: Int32Array;
  /** Element e: key words at e × recWords, its unit-0 value index at e × recWords + keyWords. */
  declare private readonly entryRec: Int32Array;
  declare private readonly recWords: number;
  /** Slots and element records as one view; records start at word `recAt` (= 2 × capacity). */
  declare private readonly table: Int32Array;
  declare private readonly recAt: number;
  declare private readonly entryNext: Int32Array;
  declare private readonly entryStamp: Int32Array;
  declare private readonly entryPtr: Float64Array;
  declare private readonly mask: number;
  /** 32 − log2(capacity): a hash's home slot is `hash >>> shift`. */
  declare private readonly shift: number;
  declare private readonly keyWords: number;
  /** This thread's key scratch: the key being looked up, as zero-padded words. */
  declare private readonly scratch: Int32Array;
  declare private readonly scratchBytes: Uint8Array;
  declare private readonly scratch64: BigInt64Array;
  /** Int32 words between two units' copies. */
  declare private readonly unitWords: number;
  declare private readonly myUnitIndex: number;
  /** Keys of one word, as bytes. */
  declare private readonly oneWordKeys: boolean;
  /**
   * `addInt32`'s one-piece fast path: this unit's word offset from a unit-0 value
   * index, or -1 where the path does not apply (no unit, keys of more than one
   * word, LRU, or this thread's SharedPercpu detached).
   */
  declare private fastUnit: number;
  /** `valueBase` of the handle; Int32 words per unit copy of a value. */
  declare private readonly linearBase: number;
  /** `linearBase` + this unit's offset (`fastUnit`), or -1 when the values are not linear. */
  declare private readonly linearUnit: number;
  /**
   * `linearUnit` − `valueWords`: where element "−1"'s value would be, so that element e's is
   * `linearElem1 + (e + 1) × valueWords` — the add indexes by the slot's word (e + 1) in one step.
   */
  declare private readonly linearElem1: number;
  declare private readonly valueWords: number;
  /**
   * This thread's Int32 view of the unit memory as of attach, which covers every value:
   * views are re-made only longer, and an older view stays valid (the buffer never shrinks).
   */
  declare private readonly values: Int32Array;
  declare private removeHook: (() => void) | undefined;
  /** Out-parameter of `probe`: the element in the slot it found. */
  declare private probed: number;
  declare private ticks: number;

  /**
   * Create a map and preallocate its `maxEntries` values (zeroed) in every
   * unit. Throws `AllocationFailedError`, with everything given back, when the
   * allocator runs out of memory slots.
   */
  static create(percpu: SharedPercpu, options: PercpuHashMapOptions): PercpuHashMap {
    const { keySize, valueSize, maxEntries } = options;
    const keyType = options.keyType ?? 'bytes';
    if (keyType !== 'bytes' && keyType !== 'string') throw new RuntimeArgumentError('EINVAL', `keyType must be 'bytes' or 'string', got ${String(keyType)}`);
    if (!Number.isInteger(keySize) || keySize < 1 || keySize > MAX_KEY_SIZE) throw new RuntimeArgumentError('EINVAL_SIZE', `keySize must be an integer in 1..${MAX_KEY_SIZE}, got ${keySize}`);
    if (!Number.isInteger(valueSize) || valueSize < 1 || valueSize > MIN_UNIT_SIZE) throw new RuntimeArgumentError('EINVAL_SIZE', `valueSize must be an integer in 1..${MIN_UNIT_SIZE}, got ${valueSize}`);
    if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > MAX_ENTRIES) throw new RuntimeArgumentError('EINVAL_SIZE', `maxEntries must be an integer in 1..${MAX_ENTRIES}, got ${maxEntries}`);
    const keyWords = keyWordsFor(keySize, keyType);
    let capacity = 8;
    while (capacity < 2 * maxEntries) capacity *= 2;
    const layout = tableLayout(capacity, maxEntries, keyWords);
    const handle: PercpuHashMapHandle = {
      keySize,
      keyType,
      lru: options.lru === true,
      valueSize,
      maxEntries,
      capacity,
      valueEnd: 0,
      valueBase: -1,
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
    // Each value's unit-0 index, once: it is fixed for the map's life (the chunks holding
    // preallocated values live as long as the map, and chunks never move).
    const m = percpu.memory;
    const recWords = keyWords + 1;
    const rec = new Int32Array(handle.table, layout.entryRec, maxEntries * recWords);
    const lastUnit = (percpu.nrUnits - 1) * percpu.unitSize;
    let end = 0;
    let linear = true;
    for (let e = 0, at = keyWords; e < maxEntries; e++, at += recWords) {
      const a = m.address(ptrs[e]!, 0, 0, 8);
      rec[at] = a >>> 2;
      if (a + lastUnit + stride > end) end = a + lastUnit + stride;
      if (a !== rec[keyWords]! * 4 + e * stride) linear = false;
    }
    handle.valueEnd = end;
    handle.valueBase = linear ? rec[keyWords]! : -1;
    return new PercpuHashMap(percpu, handle);
  }

  /** The same map in another thread. */
  static attach(percpu: SharedPercpu, handle: PercpuHashMapHandle): PercpuHashMap {
    return new PercpuHashMap(percpu, handle);
  }

  private constructor(percpu: SharedPercpu, h: PercpuHashMapHandle) {
    this.percpu = percpu;
    this.m = percpu.memory;
    this.h = h;
    this.keySize = h.keySize;
    this.keyType = h.keyType ?? 'bytes';
    this.lru = h.lru === true;
    this.valueSize = h.valueSize;
    this.valueStride = (h.valueSize + 7) & ~7;
    this.maxEntries = h.maxEntries;
    this.capacity = h.capacity;
    this.nrUnits = percpu.nrUnits;
    this.mask = h.capacity - 1;
    this.shift = 32 - Math.log2(h.capacity);
    this.keyWords = keyWordsFor(h.keySize, this.keyType);
    const layout = tableLayout(h.capacity, h.maxEntries, this.keyWords);
    this.ctl = new Int32Array(h.ctl);
    this.lock = new FutexLock(this.ctl, Hm.Lock, { registry: percpu.threads, onOwnerDead: () => this.recover(), name: 'the percpu hash map writer lock' });
    this.recWords = this.keyWords + 1;
    this.slots = new Int32Array(h.table, layout.slots, 2 * h.capacity);
    this.entryRec = new Int32Array(h.table, layout.entryRec, h.maxEntries * this.recWords);
    this.table = new Int32Array(h.table, layout.slots, (layout.entryRec >>> 2) + h.maxEntries * this.recWords);
    this.recAt = layout.entryRec >>> 2;
    this.entryNext = new Int32Array(h.table, layout.entryNext, h.maxEntries);
    this.entryStamp = new Int32Array(h.table, layout.entryStamp, h.maxEntries);
    this.entryPtr = new Float64Array(h.table, layout.entryPtr, h.maxEntries);
    // Two words at least, so that an 8-byte key can be written as one bigint.
    this.scratch = new Int32Array(Math.max(2, this.keyWords));
    this.scratchBytes = new Uint8Array(this.scratch.buffer, 0, 4 * this.keyWords);
    this.scratch64 = new BigInt64Array(this.scratch.buffer, 0, 1);
    this.unitWords = percpu.unitSize >>> 2;
    this.myUnitIndex = percpu.unit;
    this.oneWordKeys = this.keyWords === 1 && this.keyType === 'bytes';
    // The lock-free paths index the views directly: make them cover every value now (views only ever grow).
    if (h.valueEnd > this.m.viewBytes) this.m.refresh();
    this.values = this.m.i32;
    this.linearBase = h.valueBase ?? -1;
    this.valueWords = this.valueStride >>> 2;
    this.fastUnit = this.oneWordKeys && !this.lru && this.myUnitIndex >= 0 ? this.myUnitIndex * this.unitWords : -1;
    this.removeHook = this.fastUnit >= 0 ? percpu.onDetach(() => (this.fastUnit = -1)) : undefined;
    this.linearUnit = this.linearBase >= 0 && this.fastUnit >= 0 ? this.linearBase + this.fastUnit : -1;
    this.linearElem1 = this.linearUnit - this.valueWords;
    this.probed = -1;
    this.ticks = 0;
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
  private hashKey(key: PercpuKey | string): number {
    const w = this.scratch;
    if (typeof key === 'number' && this.keyWords === 1 && (key | 0) === key && this.keyType === 'bytes') {
      // The common case — an int32 key — without the general path's checks: hashWords for one word.
      w[0] = key;
      return hashOneWord(key);
    }
    if (typeof key === 'string') {
      if (this.keyType !== 'string') throw new RuntimeArgumentError('EINVAL_SIZE', `a string key needs a map created with keyType 'string'`);
      w.fill(0);
      const r = utf8.encodeInto(key, this.scratchBytes.subarray(2, 2 + this.keySize));
      if (r.read !== key.length) throw new RuntimeArgumentError('EINVAL_SIZE', `string key of ${utf8.encode(key).length} UTF-8 bytes is longer than keySize ${this.keySize}`);
      this.scratchBytes[0] = r.written & 0xff;
      this.scratchBytes[1] = r.written >>> 8;
    } else if (this.keyType === 'string') {
      throw new RuntimeArgumentError('EINVAL_SIZE', `this map has string keys, got ${typeof key}`);
    } else if (typeof key === 'number') {
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
      this.scratch64[0] = BigInt.asIntN(64, key);
    } else {
      if (!(key instanceof Uint8Array) || key.length !== this.keySize) {
        throw new RuntimeArgumentError('EINVAL_SIZE', `key must be a Uint8Array of ${this.keySize} bytes`);
      }
      if (this.keySize & 3) w[this.keyWords - 1] = 0;
      this.scratchBytes.set(key);
    }
    return hashWords(w, this.keyWords);
  }

  /** Decode element `e`'s key: a string for string maps, else a copy of the bytes. */
  private decodeKey(e: number): Uint8Array | string {
    const n = this.keyWords;
    const bytes = new Uint8Array(this.entryRec.buffer, this.entryRec.byteOffset + 4 * this.recWords * e, 4 * n);
    if (this.keyType === 'string') return utf8Decoder.decode(bytes.slice(2, 2 + (bytes[0]! | (bytes[1]! << 8))));
    return bytes.slice(0, this.keySize);
  }

  private keyEquals(e: number): boolean {
    const n = this.keyWords;
    const keys = this.entryRec;
    const w = this.scratch;
    for (let k = 0, at = e * this.recWords; k < n; k++, at++) if (keys[at] !== w[k]) return false;
    return true;
  }

  /**
   * Slot holding the scratch key (hash `h`), or -1; the element it names is
   * left in `probed`. Exact under the writer lock; racy without.
   */
  private probe(h: number): number {
    const mask = this.mask;
    const sl = this.slots;
    // Plain loads: an Int32 never tears, the element's words are read through the
    // slot's value (a data dependency), and `find` brackets the probe with atomic
    // sequence loads, which no plain load moves across.
    for (let i = (h >>> this.shift) & mask; ; i = (i + 1) & mask) {
      const e1 = sl[2 * i]!;
      if (e1 === 0) return -1;
      if (sl[2 * i + 1] === h && this.keyEquals(e1 - 1)) {
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
    if (this.m.closed) throw new DestroyedError('SharedPercpu (detached)');
    const ctl = this.ctl;
    for (let tries = 0; ; tries++) {
      const s1 = Atomics.load(ctl, Hm.Seq);
      if ((s1 & 1) === 0) {
        const e = this.probe(h) < 0 ? -1 : this.probed;
        if (Atomics.load(ctl, Hm.Seq) === s1) {
          if (this.lru && e >= 0) this.touch(e);
          return e;
        }
      } else {
        this.checkLive();
      }
      // A delete is moving slots: it lasts a few hundred ns, unless its thread was descheduled — or died.
      if (tries > 64) {
        const owner = this.lock.owner;
        if (owner !== 0 && this.percpu.threads.isDead(owner)) {
          this.lock.lock();
          this.lock.unlock();
        } else if (canBlock()) {
          Atomics.wait(ctl, Hm.Seq, s1, 0.05);
        }
      }
    }
  }

  private touch(e: number): void {
    const now = Atomics.load(this.ctl, Hm.Clock);
    if (this.entryStamp[e] !== now) this.entryStamp[e] = now;
    if (++this.ticks >= LRU_TICK) {
      this.ticks = 0;
      Atomics.add(this.ctl, Hm.Clock, 1);
    }
  }

  private checkLive(): void {
    if (Atomics.load(this.ctl, Hm.State) !== 0) throw new DestroyedError('percpu hash map');
    if (this.percpu.isDetached) throw new DestroyedError('SharedPercpu (detached)');
  }

  private myUnit(what: string): number {
    const u = this.myUnitIndex;
    if (u < 0) throw new NoUnitError(what);
    return u;
  }

  private valueBytes(value: Uint8Array | ArrayBufferView, length: number): Uint8Array {
    const v = value instanceof Uint8Array ? value : ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : undefined;
    if (v === undefined || v.length !== length) throw new RuntimeArgumentError('EINVAL_SIZE', `value must be ${length} bytes`);
    return v;
  }

  /** Int32 index of element `e`'s value in unit 0 (recorded at creation; the views cover it since attach). */
  private unit0Index(e: number): number {
    return this.entryRec[e * this.recWords + this.keyWords]!;
  }

  // -------------------------------------------------------------------------
  // Writer side (under the lock)

  /** Element a new key would take (no change yet), or -1 when full. */
  private nextElement(): number {
    const c = this.ctl;
    const bump = c[Hm.Bump]!;
    if (bump < this.maxEntries) return bump;
    const head = c[Hm.FreeHead]!;
    return head === 0 ? -1 : head - 1;
  }

  /** First empty slot of hash `h`'s probe run. */
  private emptySlot(h: number): number {
    const mask = this.mask;
    let i = (h >>> this.shift) & mask;
    while (this.slots[2 * i] !== 0) i = (i + 1) & mask;
    return i;
  }

  /**
   * Insert the scratch key (hash `h`, known absent) into element `e`, with
   * this unit's value `bytes` (or none): the intent record first, then the
   * element, then the slot — the publication — then the count.
   */
  private insert(e: number, h: number, unit: number, bytes: Uint8Array | undefined): void {
    const c = this.ctl;
    const slot = this.emptySlot(h);
    c[Hm.IElem] = e;
    c[Hm.ISlot] = slot;
    c[Hm.IBump] = c[Hm.Bump]!;
    c[Hm.IFree] = c[Hm.FreeHead]!;
    c[Hm.ICount] = c[Hm.Count]!;
    Atomics.store(c, Hm.Intent, Op.Insert);
    if (c[Hm.Bump]! < this.maxEntries) {
      c[Hm.Bump] = e + 1;
    } else {
      c[Hm.FreeHead] = this.entryNext[e]!;
      this.zeroValues(e);
    }
    if (bytes !== undefined) this.writeUnit(e, unit, bytes);
    this.entryRec.set(this.scratch.subarray(0, this.keyWords), e * this.recWords);
    this.entryStamp[e] = Atomics.load(c, Hm.Clock);
    this.slots[2 * slot + 1] = h;
    Atomics.store(this.slots, 2 * slot, e + 1);
    c[Hm.Count] = c[Hm.ICount]! + 1;
    Atomics.store(c, Hm.Intent, Op.None);
  }

  private zeroValues(e: number): void {
    const m = this.m;
    const at = this.unit0Index(e) << 2;
    for (let u = 0; u < this.nrUnits; u++) m.u8.fill(0, at + u * this.percpu.unitSize, at + u * this.percpu.unitSize + this.valueStride);
  }

  /** Remove the element at `slot`: the intent record, then the backward shift inside the sequence lock, then the free list. */
  private removeSlot(slot: number): number {
    const c = this.ctl;
    const e = this.slots[2 * slot]! - 1;
    c[Hm.IElem] = e;
    c[Hm.ISlot] = slot;
    c[Hm.IHole] = slot;
    c[Hm.IFree] = c[Hm.FreeHead]!;
    c[Hm.ICount] = c[Hm.Count]!;
    c[Hm.ISeq] = c[Hm.Seq]! & ~1;
    Atomics.store(c, Hm.Intent, Op.Delete);
    this.finishDelete();
    return e;
  }

  /**
   * The delete recorded in the intent, from its recorded hole on. Idempotent:
   * resumed from a hole whose move was done but not yet recorded, the scan
   * makes the same decisions again and rewrites the same values.
   */
  private finishDelete(): void {
    const c = this.ctl;
    const mask = this.mask;
    const sl = this.slots;
    const seq = c[Hm.ISeq]!;
    const e = c[Hm.IElem]!;
    Atomics.store(c, Hm.Seq, seq + 1);
    let hole = c[Hm.IHole]!;
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const ej = sl[2 * j]!;
      if (ej === 0) break;
      const home = (sl[2 * j + 1]! >>> this.shift) & mask;
      // The element at j may move into the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      sl[2 * hole + 1] = sl[2 * j + 1]!;
      Atomics.store(sl, 2 * hole, ej);
      hole = j;
      c[Hm.IHole] = hole;
    }
    Atomics.store(sl, 2 * hole, 0);
    this.entryNext[e] = c[Hm.IFree]!;
    c[Hm.FreeHead] = e + 1;
    c[Hm.Count] = c[Hm.ICount]! - 1;
    Atomics.store(c, Hm.Seq, seq + 2);
    Atomics.store(c, Hm.Intent, Op.None);
  }

  /** The writer lock's robust-mutex hook: repair the dead holder's insert or delete. */
  private recover(): void {
    const c = this.ctl;
    const op = Atomics.load(c, Hm.Intent);
    if (op === Op.Insert) {
      const e = c[Hm.IElem]!;
      if (Atomics.load(this.slots, 2 * c[Hm.ISlot]!) === e + 1) {
        c[Hm.Count] = c[Hm.ICount]! + 1;
      } else {
        // Not published: the element goes back, and so does any value already written into it.
        c[Hm.Bump] = c[Hm.IBump]!;
        c[Hm.FreeHead] = c[Hm.IFree]!;
        c[Hm.Count] = c[Hm.ICount]!;
        this.zeroValues(e);
      }
      Atomics.store(c, Hm.Intent, Op.None);
    } else if (op === Op.Delete) {
      this.finishDelete();
    } else if (Atomics.load(c, Hm.State) === 0 && (c[Hm.Seq]! & 1) !== 0) {
      // Cannot happen with intents; kept so a reader can never spin on a stuck sequence.
      Atomics.store(c, Hm.Seq, c[Hm.Seq]! + 1);
    }
  }

  /** The least recently used of a sample of live elements (LRU eviction), as a slot; -1 if none. */
  private lruVictim(): number {
    const mask = this.mask;
    let best = -1;
    let bestStamp = 0;
    let seen = 0;
    let i = (Atomics.add(this.ctl, Hm.Clock, 0) * 7919) & mask;
    for (let n = 0; n < this.capacity && seen < LRU_SAMPLE; n++, i = (i + 1) & mask) {
      const e1 = this.slots[2 * i]!;
      if (e1 === 0) continue;
      seen++;
      const st = this.entryStamp[e1 - 1]!;
      if (best < 0 || st - bestStamp < 0) {
        best = i;
        bestStamp = st;
      }
    }
    return best;
  }

  /**
   * An element for a new key, evicting in LRU mode; -1 when full. The scratch
   * key survives an eviction (the victim is removed by slot, not by key).
   */
  private elementForInsert(): number {
    let e = this.nextElement();
    if (e < 0 && this.lru) {
      const victim = this.lruVictim();
      if (victim >= 0) {
        this.removeSlot(victim);
        e = this.nextElement();
      }
    }
    return e;
  }

  // -------------------------------------------------------------------------
  // Public operations

  /**
   * `bpf_map_lookup_elem` from a program: the percpu pointer of the key's
   * value, or `NULL_PTR`. Read or write this thread's copy with
   * `percpu.thisCpu`, another unit's with `percpu.perCpu(k)`.
   */
  lookup(key: PercpuKey | string): number {
    const h = this.hashKey(key);
    const e = this.find(h);
    return e < 0 ? NULL_PTR : this.entryPtr[e]!;
  }

  /**
   * `bpf_map_update_elem` from a program, returning BPF's outcome instead of
   * throwing for a full map: 'ok', 'exists' (BPF_NOEXIST and the key is there),
   * 'missing' (BPF_EXIST and it is not) or 'full' (no free element: -E2BIG).
   * Bad arguments still throw (they are bugs, not conditions).
   */
  tryUpdate(key: PercpuKey | string, value: Uint8Array | ArrayBufferView, flags = BPF_ANY): UpdateStatus {
    const h = this.hashKey(key);
    const bytes = this.valueBytes(value, this.valueSize);
    checkFlags(flags);
    const unit = this.myUnit('PercpuHashMap.update');
    if (flags !== BPF_NOEXIST) {
      const e = this.find(h);
      if (e >= 0) {
        this.writeUnit(e, unit, bytes);
        return 'ok';
      }
      if (flags === BPF_EXIST) return 'missing';
    }
    this.lock.lock();
    try {
      this.checkLive();
      const slot = this.probe(h);
      if (slot >= 0) {
        if (flags === BPF_NOEXIST) return 'exists';
        this.writeUnit(this.slots[2 * slot]! - 1, unit, bytes);
        return 'ok';
      }
      if (flags === BPF_EXIST) return 'missing';
      const e = this.elementForInsert();
      if (e < 0) return 'full';
      this.insert(e, h, unit, bytes);
      return 'ok';
    } finally {
      this.lock.unlock();
    }
  }

  /**
   * `bpf_map_update_elem` from a program: set this thread's unit copy of the
   * value. A new element starts with every other unit zeroed. Returns false when
   * the flag's condition fails; throws `MapFullError` when a new key finds no
   * free element (use `tryUpdate` to get 'full' back instead).
   */
  update(key: PercpuKey | string, value: Uint8Array | ArrayBufferView, flags = BPF_ANY): boolean {
    const r = this.tryUpdate(key, value, flags);
    if (r === 'full') throw new MapFullError(this.maxEntries);
    return r === 'ok';
  }

  /**
   * Add `delta` to this thread's Int32 at byte `off` of the key's value,
   * inserting the key (zeroed) if absent; the hot path of per-worker
   * statistics. Returns false — and changes nothing — when the key is absent
   * and the map is full.
   */
  addInt32(key: PercpuKey | string, delta: number, off = 0): boolean {
    const unit = this.fastUnit;
    if (typeof key === 'number' && (key | 0) === key && unit >= 0 && off === 0) {
      // The hot case in one piece: an int32 key of a one-word-key map, offset 0, no LRU.
      // A probe step reads a slot and the element's record (key, value index) and nothing
      // else; with linearly laid out values the value's address needs no load at all. No
      // hash compare (the key is one word), no liveness load (a destroyed map has every slot
      // emptied, so the probe falls through to the slow path, which throws), and no sequence
      // check: a probe that races a delete can only miss (then the slow path decides) or find
      // the key's own element — an add that linearises before the delete. (Only a thread
      // stalled between its compare and its store, while the key is deleted and its element
      // reused, writes into the new key's value: as with a `lookup` pointer, see the header.)
      // The record's key is compared, not the slot's hash, although for one-word keys an equal
      // hash proves an equal key: a backward shift rewrites a slot's hash and element one
      // after the other, so the two words of a slot, read without the sequence lock, may
      // belong to two elements; an element's own record cannot.
      // Slots and records through one view (`slots` is its head): one typed array to check, not two.
      const t = this.table;
      const recAt = this.recAt;
      const mask = this.mask;
      // Index arithmetic wraps (`| 0`, `imul`): every index is far below 2^31, and V8 then
      // emits no overflow checks.
      // `hashOneWord(key)`, written out: a call to a module-level function costs a check of
      // its binding on every add (a function declaration can be reassigned), one more branch.
      // The home slot needs no mask: `>>> shift` leaves log2(capacity) bits. `| 0` (no
      // instruction) keeps it a signed 32-bit value, so that where `shift` is not a compile-time
      // constant the loop's index does not widen to a double.
      for (let i = (Math.imul(key ^ (key >>> 16), HASH_MUL) >>> this.shift) | 0; ; i = (i + 1) & mask) {
        const e1 = t[i << 1]!;
        if (e1 === 0) break;
        const r = (recAt + (e1 << 1) - 2) | 0;
        if (t[r] === key) {
          const lin = this.linearUnit;
          const at = lin >= 0 ? (this.linearElem1 + Math.imul(e1, this.valueWords)) | 0 : (t[r + 1]! + unit) | 0;
          const a = this.values;
          a[at] = (a[at]! + delta) | 0;
          return true;
        }
      }
    }
    return this.addInt32Slow(key, delta, off);
  }

  private addInt32Slow(key: PercpuKey | string, delta: number, off: number): boolean {
    const h = this.hashKey(key);
    const unit = this.myUnit('PercpuHashMap.addInt32');
    if (!((off >>> 0) === off && (off & 3) === 0 && off + 4 <= this.valueStride)) throw new RuntimeArgumentError('EINVAL_ALIGN', `Int32 offset ${off} must be 4-aligned inside the ${this.valueStride}-byte value`);
    // No sequence check: a probe that races a delete can only miss (then the locked
    // path decides) or find the key's own element, moved or about to be freed — an
    // add that linearises before the delete.
    if (this.m.closed || this.ctl[Hm.State] !== 0) this.checkLive();
    let e = this.probe(h) < 0 ? -1 : this.probed;
    if (e < 0) {
      e = this.insertZeroed(h);
      if (e < 0) return false;
    } else if (this.lru) {
      this.touch(e);
    }
    const i = this.unit0Index(e) + unit * this.unitWords + (off >>> 2);
    const a = this.m.i32;
    a[i] = (a[i]! + delta) | 0;
    return true;
  }

  /** Insert the scratch key with every unit zeroed, or find it; -1 when full. */
  private insertZeroed(h: number): number {
    this.lock.lock();
    try {
      this.checkLive();
      const slot = this.probe(h);
      if (slot >= 0) return this.slots[2 * slot]! - 1;
      const e = this.elementForInsert();
      if (e < 0) return -1;
      this.insert(e, h, -1, undefined);
      return e;
    } finally {
      this.lock.unlock();
    }
  }

  /**
   * `bpf_map_update_elem` from user space: every unit's copy at once, from
   * `values` laid out as BPF's — `nrUnits` copies of `valueStride` bytes.
   * Throws `MapFullError` when full (see `tryUpdateAll`).
   */
  updateAll(key: PercpuKey | string, values: Uint8Array | ArrayBufferView, flags = BPF_ANY): boolean {
    const r = this.tryUpdateAll(key, values, flags);
    if (r === 'full') throw new MapFullError(this.maxEntries);
    return r === 'ok';
  }

  tryUpdateAll(key: PercpuKey | string, values: Uint8Array | ArrayBufferView, flags = BPF_ANY): UpdateStatus {
    const h = this.hashKey(key);
    const bytes = this.valueBytes(values, this.nrUnits * this.valueStride);
    checkFlags(flags);
    this.lock.lock();
    try {
      this.checkLive();
      const slot = this.probe(h);
      if (slot >= 0 && flags === BPF_NOEXIST) return 'exists';
      if (slot < 0 && flags === BPF_EXIST) return 'missing';
      let e: number;
      if (slot >= 0) {
        e = this.slots[2 * slot]! - 1;
      } else {
        e = this.elementForInsert();
        if (e < 0) return 'full';
        this.insert(e, h, -1, undefined);
      }
      for (let u = 0; u < this.nrUnits; u++) this.writeUnit(e, u, bytes.subarray(u * this.valueStride, (u + 1) * this.valueStride));
      return 'ok';
    } finally {
      this.lock.unlock();
    }
  }

  /**
   * The key's percpu pointer, inserting it with every unit zeroed if absent
   * (the lookup-then-insert pattern of BPF programs, race-free). Throws
   * `MapFullError` when it must insert into a full map (see `tryLookupOrInit`).
   */
  lookupOrInit(key: PercpuKey | string): number {
    const p = this.tryLookupOrInit(key);
    if (p === NULL_PTR) throw new MapFullError(this.maxEntries);
    return p;
  }

  /** Like `lookupOrInit`, but a full map gives `NULL_PTR`, as BPF's helpers give NULL. */
  tryLookupOrInit(key: PercpuKey | string): number {
    const h = this.hashKey(key);
    let e = this.find(h);
    if (e < 0) e = this.insertZeroed(h);
    return e < 0 ? NULL_PTR : this.entryPtr[e]!;
  }

  /** `bpf_map_delete_elem`: true if the key was there. */
  delete(key: PercpuKey | string): boolean {
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

  private writeUnit(e: number, unit: number, bytes: Uint8Array): void {
    const at = (this.unit0Index(e) + unit * this.unitWords) << 2;
    this.m.u8.set(bytes, at);
  }

  /** A copy of one unit's value (default: this thread's), or undefined if the key is absent. */
  lookupElem(key: PercpuKey | string, unit?: number): Uint8Array | undefined {
    const h = this.hashKey(key);
    const u = unit ?? this.myUnit('PercpuHashMap.lookupElem without a unit');
    this.percpu.perCpu(u);
    const e = this.find(h);
    if (e < 0) return undefined;
    return this.copyUnits(e, u, 1, this.valueSize);
  }

  /**
   * `bpf_map_lookup_elem` from user space: every unit's copy, laid out as BPF's
   * (`nrUnits` × `valueStride` bytes), read in 32-bit atomic words.
   */
  lookupAll(key: PercpuKey | string): Uint8Array | undefined {
    const h = this.hashKey(key);
    const e = this.find(h);
    if (e < 0) return undefined;
    return this.copyUnits(e, 0, this.nrUnits, this.valueStride);
  }

  private copyUnits(e: number, firstUnit: number, nrUnits: number, bytes: number): Uint8Array {
    const words = this.valueStride >>> 2;
    const out = new Int32Array(nrUnits * words);
    const i32 = this.m.i32;
    const base = this.unit0Index(e);
    for (let u = 0; u < nrUnits; u++) {
      const at = base + (firstUnit + u) * this.unitWords;
      for (let k = 0; k < words; k++) out[u * words + k] = Atomics.load(i32, at + k);
    }
    return new Uint8Array(out.buffer, 0, nrUnits === 1 ? bytes : out.byteLength);
  }

  private checkOff(off: number, width: number): void {
    if (!((off >>> 0) === off && (off & (width - 1)) === 0 && off + width <= this.valueStride)) {
      throw new RuntimeArgumentError('EINVAL_ALIGN', `offset ${off} must be ${width}-aligned inside the ${this.valueStride}-byte value`);
    }
  }

  /** Sum over all units of the Int32 at byte `off` of the key's value; undefined if absent. */
  sumInt32(key: PercpuKey | string, off = 0): number | undefined {
    this.checkOff(off, 4);
    const h = this.hashKey(key);
    const e = this.find(h);
    if (e < 0) return undefined;
    const i32 = this.m.i32;
    const step = this.unitWords;
    let s = 0;
    // Plain loads (never torn, and fresh: `find` ended with an atomic load).
    for (let u = 0, i = this.unit0Index(e) + (off >>> 2); u < this.nrUnits; u++, i += step) s += i32[i]!;
    return s;
  }

  /** Sum over all units of the Float64 at byte `off` (tear-free reads); undefined if absent. */
  sumFloat64(key: PercpuKey | string, off = 0): number | undefined {
    this.checkOff(off, 8);
    const ptr = this.lookup(key);
    if (ptr === NULL_PTR) return undefined;
    let s = 0;
    for (let u = 0; u < this.nrUnits; u++) s += this.percpu.perCpu(u).getFloat64(ptr, off);
    return s;
  }

  /** Sum over all units of the BigInt64 at byte `off`; undefined if absent. */
  sumBigInt64(key: PercpuKey | string, off = 0): bigint | undefined {
    this.checkOff(off, 8);
    const ptr = this.lookup(key);
    if (ptr === NULL_PTR) return undefined;
    let s = 0n;
    for (let u = 0; u < this.nrUnits; u++) s += this.percpu.perCpu(u).getBigInt64(ptr, off);
    return s;
  }

  /** Live elements in slot order, taken under the writer lock. */
  private snapshot(): number[] {
    const out: number[] = [];
    this.lock.lock();
    try {
      this.checkLive();
      for (let i = 0; i < this.capacity; i++) {
        const e1 = this.slots[2 * i]!;
        if (e1 !== 0) out.push(e1 - 1);
      }
    } finally {
      this.lock.unlock();
    }
    return out;
  }

  /** A snapshot of the elements, taken under the writer lock: key bytes and percpu pointer, in slot order. */
  entries(): [Uint8Array, number][] {
    const n = this.keyWords;
    const r = 4 * this.recWords;
    const keyBytes = new Uint8Array(this.entryRec.buffer, this.entryRec.byteOffset, this.entryRec.byteLength);
    return this.snapshot().map((e) => [keyBytes.slice(r * e, r * e + (this.keyType === 'string' ? 4 * n : this.keySize)), this.entryPtr[e]!]);
  }

  /** The keys, decoded (strings for string maps, byte copies otherwise). */
  keys(): (Uint8Array | string)[] {
    return this.snapshot().map((e) => this.decodeKey(e));
  }

  /**
   * Every element with its decoded key, each unit's value of kind `kind` at
   * byte `off`, and their sum. The element set is a snapshot taken under the
   * writer lock; the values are read as the iteration reaches them.
   */
  items(kind: 'bigint64', off?: number): Generator<PercpuMapItem<bigint>>;
  items(kind?: 'int32' | 'uint32' | 'float64', off?: number): Generator<PercpuMapItem<number>>;
  *items(kind: ValueKind = 'int32', off = 0): Generator<PercpuMapItem<number> | PercpuMapItem<bigint>> {
    this.checkOff(off, kind === 'int32' || kind === 'uint32' ? 4 : 8);
    for (const e of this.snapshot()) {
      this.checkLive();
      const ptr = this.entryPtr[e]!;
      if (kind === 'bigint64') {
        const values: bigint[] = [];
        let sum = 0n;
        for (let u = 0; u < this.nrUnits; u++) sum += values[u] = this.percpu.perCpu(u).getBigInt64(ptr, off);
        yield { key: this.decodeKey(e), ptr, values, sum };
      } else {
        const values: number[] = [];
        let sum = 0;
        for (let u = 0; u < this.nrUnits; u++) {
          const a = this.percpu.perCpu(u);
          sum += values[u] = kind === 'int32' ? a.getInt32(ptr, off) : kind === 'uint32' ? a.getUint32(ptr, off) : a.getFloat64(ptr, off);
        }
        yield { key: this.decodeKey(e), ptr, values, sum };
      }
    }
  }

  [Symbol.iterator](): Generator<PercpuMapItem<number>> {
    return this.items('int32', 0);
  }

  /**
   * `BPF_MAP_GET_NEXT_KEY`: the key after `key` in the map's order, the first
   * key for `undefined` or a key not in the map (as BPF), `undefined` after the
   * last. Like BPF's, a walk that races deletes may revisit or skip keys.
   */
  getNextKey(key?: PercpuKey | string): Uint8Array | string | undefined {
    let from = 0;
    this.lock.lock();
    try {
      this.checkLive();
      if (key !== undefined) {
        const slot = this.probe(this.hashKey(key));
        if (slot >= 0) from = slot + 1;
      }
      for (let i = from; i < this.capacity; i++) {
        const e1 = this.slots[2 * i]!;
        if (e1 !== 0) return this.decodeKey(e1 - 1);
      }
      return undefined;
    } finally {
      this.lock.unlock();
    }
  }

  /** `BPF_MAP_LOOKUP_BATCH` for given keys: every unit's copies per key (as `lookupAll`), undefined for absent keys. */
  lookupBatch(keys: readonly (PercpuKey | string)[]): (Uint8Array | undefined)[] {
    return keys.map((k) => this.lookupAll(k));
  }

  /**
   * `BPF_MAP_UPDATE_BATCH`: `updateAll` per key, in order, stopping at the first
   * key that fails. Returns how many were applied and why it stopped (BPF
   * reports the count back in `batch.count`).
   */
  updateBatch(keys: readonly (PercpuKey | string)[], values: readonly (Uint8Array | ArrayBufferView)[], flags = BPF_ANY): { count: number; status: UpdateStatus } {
    if (keys.length !== values.length) throw new RuntimeArgumentError('EINVAL_SIZE', `updateBatch: ${keys.length} keys but ${values.length} values`);
    for (let i = 0; i < keys.length; i++) {
      const status = this.tryUpdateAll(keys[i]!, values[i]!, flags);
      if (status !== 'ok') return { count: i, status };
    }
    return { count: keys.length, status: 'ok' };
  }

  /** `BPF_MAP_DELETE_BATCH`: delete every key that is present, under one lock hold; returns how many were. */
  deleteBatch(keys: readonly (PercpuKey | string)[]): number {
    for (const k of keys) this.hashKey(k);
    let n = 0;
    this.lock.lock();
    try {
      this.checkLive();
      for (const k of keys) {
        const slot = this.probe(this.hashKey(k));
        if (slot >= 0) {
          this.removeSlot(slot);
          n++;
        }
      }
    } finally {
      this.lock.unlock();
    }
    return n;
  }

  /**
   * The map's structural checker, under the writer lock: every slot's element
   * is reachable from its key's home slot, names a distinct element whose key
   * hashes to the slot's hash; the count matches; free list, never-used
   * elements and live ones partition the elements; no intent is pending.
   * Returns the problems found (empty when consistent).
   */
  check(): string[] {
    const problems: string[] = [];
    this.lock.lock();
    try {
      this.checkLive();
      const c = this.ctl;
      const state = new Uint8Array(this.maxEntries);
      let live = 0;
      for (let i = 0; i < this.capacity; i++) {
        const e1 = this.slots[2 * i]!;
        if (e1 === 0) continue;
        const e = e1 - 1;
        live++;
        if (e >= c[Hm.Bump]!) problems.push(`slot ${i} names never-used element ${e}`);
        if (state[e]) problems.push(`element ${e} is in two slots`);
        state[e] = 1;
        const n = this.keyWords;
        const h = hashWords(this.entryRec.subarray(e * this.recWords, e * this.recWords + n), n);
        if (h !== this.slots[2 * i + 1]) problems.push(`slot ${i}: stored hash differs from the key's`);
        if (this.unit0Index(e) !== this.m.address(this.entryPtr[e]!, 0, 0, 8) >>> 2) problems.push(`element ${e}: recorded value index differs from its pointer's`);
        for (let j = (h >>> this.shift) & this.mask; j !== i; j = (j + 1) & this.mask) {
          if (this.slots[2 * j] === 0) {
            problems.push(`slot ${i} is unreachable: empty slot ${j} in its probe run`);
            break;
          }
        }
      }
      if (live !== c[Hm.Count]) problems.push(`count ${c[Hm.Count]} but ${live} live slots`);
      let free = 0;
      for (let f = c[Hm.FreeHead]!; f !== 0; f = this.entryNext[f - 1]!) {
        if (f - 1 >= c[Hm.Bump]! || state[f - 1] !== 0) {
          problems.push(`free list names element ${f - 1}, which is ${state[f - 1] === 1 ? 'live' : 'on the list twice or never used'}`);
          break;
        }
        state[f - 1] = 2;
        free++;
      }
      if (live + free !== c[Hm.Bump]) problems.push(`${live} live + ${free} free elements, but ${c[Hm.Bump]} were ever used`);
      if (c[Hm.Intent] !== Op.None) problems.push(`intent ${c[Hm.Intent]} pending`);
      if ((c[Hm.Seq]! & 1) !== 0) problems.push('delete sequence left odd');
    } finally {
      this.lock.unlock();
    }
    return problems;
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
      // Every slot empty: `addInt32`'s fast path, which reads no state word, misses and
      // takes the slow path, which throws.
      this.slots.fill(0);
      this.percpu.freeManyValidated(this.entryPtr, 0, this.maxEntries);
    } finally {
      this.lock.unlock();
    }
    this.fastUnit = -1;
    this.removeHook?.();
    this.removeHook = undefined;
  }
}

function checkFlags(flags: number): void {
  if (flags !== BPF_ANY && flags !== BPF_NOEXIST && flags !== BPF_EXIST) throw new RuntimeArgumentError('EINVAL_SIZE', `update flags must be BPF_ANY, BPF_NOEXIST or BPF_EXIST, got ${flags}`);
}
