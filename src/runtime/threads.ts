// SPDX-License-Identifier: GPL-2.0-only
/**
 * The thread table of a shared percpu allocator: which threads are attached,
 * which of them lease which unit, and whether a thread named by a lock word
 * still exists. It is what makes the runtime's locks robust and its units
 * leases (see docs/RUNTIME.md, "Leases and recovery").
 *
 * Layout (Int32 words of one `SharedArrayBuffer`):
 *
 *   0            capacity (entries)
 *   8 + 4e ...   entry e: token (0 = free), OS thread id (0 = unknown),
 *                thread start time (clock ticks, low 31 bits), references
 *                (attached `SharedPercpu` objects of that thread; -1 once the
 *                thread was reported dead)
 *   lease base   per unit: token of the leasing thread, 0 = free
 *   refs base    per unit: how many objects of the leasing thread use it
 *
 * How death is detected without the dying thread's help. Under Node on Linux
 * every entry records the OS thread (`/proc/thread-self`) and its start time;
 * a thread is dead when `/proc/self/task/<tid>/stat` is gone or names a later
 * thread. That needs no heartbeat, works synchronously (a thread blocked on a
 * lock cannot wait for an `exit` event), and survives `terminate()`, crashes and
 * the death of whoever created the thread. Where /proc is missing (browsers,
 * other systems) a thread is dead only once someone reports it
 * (`SharedPercpu.watch(worker)` does on the worker's `exit` event,
 * `SharedPercpu.reportDead(token)` by hand); until then it is presumed alive.
 * A token with no entry is dead: entries are removed only after their thread
 * detached (holding nothing) or was reaped.
 *
 * Invariants: a token appears in at most one entry; a unit's lease names a
 * token with an entry, or 0; only the leasing thread changes its refs word.
 */
import { threadToken } from './futex.js';

export const enum Th {
  Capacity = 0,
  Entries = 8,
  EntryWords = 4,
}
const enum En {
  Token = 0,
  Tid = 1,
  Start = 2,
  Refs = 3,
}

export function threadTableBytes(maxThreads: number, nrUnits: number): number {
  return 4 * (Th.Entries + Th.EntryWords * maxThreads + 2 * nrUnits);
}

export function initThreadTable(buf: SharedArrayBuffer, maxThreads: number): void {
  new Int32Array(buf)[Th.Capacity] = maxThreads;
}

interface ProcFs {
  readFileSync(path: string, enc: 'latin1'): string;
  readlinkSync(path: string): string;
}

let procFs: ProcFs | null | undefined;

function proc(): ProcFs | null {
  if (procFs === undefined) {
    procFs = null;
    const p = (globalThis as { process?: { platform?: string; getBuiltinModule?: (id: string) => unknown } }).process;
    if (p?.platform === 'linux' && typeof p.getBuiltinModule === 'function') {
      const fs = p.getBuiltinModule('node:fs') as ProcFs | undefined;
      try {
        if (fs) {
          fs.readlinkSync('/proc/thread-self');
          procFs = fs;
        }
      } catch {
        procFs = null;
      }
    }
  }
  return procFs;
}

/** Start time (field 22 of /proc/.../stat), low 31 bits; -1 if the task does not exist. */
function taskStart(fs: ProcFs, tid: number): number {
  let s: string;
  try {
    s = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
  } catch {
    return -1;
  }
  const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19]) % 0x8000_0000;
}

let self: { tid: number; start: number } | undefined;

function selfTask(): { tid: number; start: number } {
  if (self === undefined) {
    self = { tid: 0, start: 0 };
    const fs = proc();
    if (fs) {
      const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
      const start = taskStart(fs, tid);
      if (tid > 0 && start >= 0) self = { tid, start };
    }
  }
  return self;
}

/** Which threads are attached to a shared allocator, which unit each leases, and whether a thread named by a lock word is still alive (see the module comment). */
export class ThreadTable {
  readonly words: Int32Array;
  readonly capacity: number;
  readonly nrUnits: number;
  readonly token = threadToken();
  private readonly leaseBase: number;
  private readonly refsBase: number;

  constructor(buf: SharedArrayBuffer, nrUnits: number) {
    this.words = new Int32Array(buf);
    this.capacity = this.words[Th.Capacity]!;
    this.nrUnits = nrUnits;
    this.leaseBase = Th.Entries + Th.EntryWords * this.capacity;
    this.refsBase = this.leaseBase + nrUnits;
  }

  private entryOf(token: number): number {
    const w = this.words;
    for (let e = 0, at = Th.Entries; e < this.capacity; e++, at += Th.EntryWords) if (Atomics.load(w, at + En.Token) === token) return at;
    return -1;
  }

  /** Add this thread (or one more reference to it). Returns false when the table is full. */
  register(): boolean {
    const w = this.words;
    const at = this.entryOf(this.token);
    if (at >= 0) {
      Atomics.add(w, at + En.Refs, 1);
      return true;
    }
    const me = selfTask();
    for (let e = 0, a = Th.Entries; e < this.capacity; e++, a += Th.EntryWords) {
      if (Atomics.compareExchange(w, a + En.Token, 0, this.token) !== 0) continue;
      Atomics.store(w, a + En.Tid, me.tid);
      Atomics.store(w, a + En.Start, me.start);
      Atomics.store(w, a + En.Refs, 1);
      return true;
    }
    return false;
  }

  /** Drop one reference of this thread; the entry goes with the last. Returns the references left. */
  unregister(): number {
    const at = this.entryOf(this.token);
    if (at < 0) return 0;
    const left = Atomics.sub(this.words, at + En.Refs, 1) - 1;
    if (left <= 0) this.removeEntry(this.token);
    return left;
  }

  removeEntry(token: number): void {
    const at = this.entryOf(token);
    if (at < 0) return;
    const w = this.words;
    Atomics.store(w, at + En.Tid, 0);
    Atomics.store(w, at + En.Refs, 0);
    Atomics.compareExchange(w, at + En.Token, token, 0);
  }

  /** Whether the thread with `token` is gone (see the module header for how that is known). */
  isDead(token: number): boolean {
    if (token === this.token) return false;
    const at = this.entryOf(token);
    if (at < 0) return true;
    const w = this.words;
    if (Atomics.load(w, at + En.Refs) < 0) return true;
    const tid = Atomics.load(w, at + En.Tid);
    const fs = proc();
    if (tid === 0 || fs === null) return false;
    return taskStart(fs, tid) !== Atomics.load(w, at + En.Start);
  }

  /** Record that the thread with `token` has exited (from its `exit` event, for systems without /proc). */
  reportDead(token: number): void {
    const at = this.entryOf(token);
    if (at >= 0 && token !== this.token) Atomics.store(this.words, at + En.Refs, -1);
  }

  /** Tokens of every registered thread that is dead now. */
  deadTokens(): number[] {
    const out: number[] = [];
    for (let e = 0, at = Th.Entries; e < this.capacity; e++, at += Th.EntryWords) {
      const t = Atomics.load(this.words, at + En.Token);
      if (t !== 0 && this.isDead(t)) out.push(t);
    }
    return out;
  }

  // -------------------------------------------------------------------------
  // Leases

  leaseHolder(unit: number): number {
    return Atomics.load(this.words, this.leaseBase + unit);
  }

  /**
   * Lease `unit` to this thread; returns 0 on success, else the holder's token.
   * A unit this thread already leases is granted again unless `fresh`.
   */
  tryLease(unit: number, fresh = false): number {
    const w = this.words;
    const c = Atomics.compareExchange(w, this.leaseBase + unit, 0, this.token);
    if (c !== 0 && (fresh || c !== this.token)) return c;
    if (c === 0) Atomics.store(w, this.refsBase + unit, 1);
    else Atomics.add(w, this.refsBase + unit, 1);
    return 0;
  }

  /** Drop one use of this thread's lease on `unit`; true when that was the last (the unit must now be released). */
  dropLease(unit: number): boolean {
    return Atomics.sub(this.words, this.refsBase + unit, 1) <= 1;
  }

  /** Free `unit`'s lease (after its memory was zeroed or handed over). */
  clearLease(unit: number, holder: number): void {
    Atomics.store(this.words, this.refsBase + unit, 0);
    Atomics.compareExchange(this.words, this.leaseBase + unit, holder, 0);
  }

  unitsOf(token: number): number[] {
    const out: number[] = [];
    for (let u = 0; u < this.nrUnits; u++) if (Atomics.load(this.words, this.leaseBase + u) === token) out.push(u);
    return out;
  }
}
