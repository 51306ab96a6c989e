// SPDX-License-Identifier: GPL-2.0-only
/**
 * A robust futex-style mutex on one word of shared memory, for the runtime's
 * locks (the allocator lock, each hash map's writer lock).
 *
 * The word holds 0 (free) or the holder's *thread token* (`threadToken()`),
 * with bit 30 set once some thread may be sleeping on it. Taking a free lock is
 * one compareExchange; releasing is one exchange, and only a release that finds
 * the waiter bit pays for `Atomics.notify`. A contended taker spins a little
 * first (critical sections last microseconds), then sleeps with a timeout.
 *
 * Robustness, as a robust pthread mutex: because the word names its holder, a
 * waiter whose sleep times out asks the lock's `LockOwnerRegistry` whether the
 * holder still exists (see `threads.ts`). If it does not, the waiter takes the
 * word over with a compareExchange (so exactly one waiter wins) and runs the
 * lock's `onOwnerDead` hook, which repairs what the dead holder left half-done,
 * before it returns holding the lock. A lock built without a registry is an
 * ordinary mutex (an unknown holder is presumed alive).
 *
 * A thread that tries to take a lock it already holds gets `LockReentryError`
 * instead of a silent deadlock.
 *
 * Where a thread may not block (a browser's main thread), `lock()` spins
 * instead of sleeping, and `lockAsync()` sleeps with `Atomics.waitAsync`, or
 * polls with timers where even that is missing. Both kinds of waiters are woken
 * by the same `Atomics.notify`, so blocking and non-blocking threads can share
 * one lock.
 *
 * Invariant: the word is 0 exactly when no thread holds the lock; otherwise its
 * low 30 bits are the holder's token.
 */
import { LockReentryError } from './errors.js';

const FREE = 0;
const WAITERS = 0x4000_0000;
const OWNER = 0x3fff_ffff;
/** Polls of the word before a contended taker goes to sleep. */
const SPIN_LIMIT = 100;
/** A sleeping taker wakes this often (ms) to ask whether the holder still exists. */
const DEAD_CHECK_MS = 2;

/** Who can say whether a lock holder's thread still exists. */
export interface LockOwnerRegistry {
  isDead(token: number): boolean;
}

let blockingAllowed: boolean | undefined;

/**
 * Whether this thread may call `Atomics.wait` (false on a browser's main
 * thread). The check runs once: `Atomics.wait` refuses a thread that cannot
 * suspend before it even looks at the value, so a mismatching value is a
 * harmless probe.
 */
export function canBlock(): boolean {
  if (blockingAllowed === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      blockingAllowed = true;
    } catch {
      blockingAllowed = false;
    }
  }
  return blockingAllowed;
}

let token: number | undefined;

/**
 * This thread's token: a positive 30-bit number no other live thread of the
 * process has. Under Node it is `threadId + 1` (thread ids are never reused in
 * a process, and a parent knows its worker's id: `worker.threadId`); elsewhere
 * a random number from the upper half of the range, which cannot meet a Node id.
 */
export function threadToken(): number {
  if (token === undefined) {
    const id = nodeThreadId();
    token = id !== undefined && id + 1 < 0x2000_0000 ? id + 1 : 0x2000_0000 + Math.floor(Math.random() * 0x1fff_ffff) + 1;
  }
  return token;
}

function nodeThreadId(): number | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const wt = p?.getBuiltinModule?.('node:worker_threads') as { threadId?: number } | undefined;
  return typeof wt?.threadId === 'number' ? wt.threadId : undefined;
}

type WaitAsync = (a: Int32Array, i: number, v: number, t?: number) => { async: boolean; value: Promise<string> | string };

function waitAsyncFn(): WaitAsync | undefined {
  const f = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
  return typeof f === 'function' ? f : undefined;
}

function noop(): void {}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Options of a `FutexLock`. */
export interface FutexLockOptions {
  /** Tells live holders from dead ones; without it a holder is presumed alive. */
  registry?: LockOwnerRegistry;
  /** Runs in the thread that took the lock over from a dead holder, holding it, before `lock()` returns. */
  onOwnerDead?: (deadToken: number) => void;
  /** Named in `LockReentryError`. */
  name?: string;
}

/** A robust mutex on one `Int32Array` word of shared memory (see the module comment): a lock whose holder died is taken over, not waited for. */
export class FutexLock {
  private readonly me = threadToken();
  private readonly registry: LockOwnerRegistry | undefined;
  private readonly onOwnerDead: ((deadToken: number) => void) | undefined;
  private readonly name: string;

  /** `words[index]` is the lock word; it must live in a `SharedArrayBuffer` to be shared. */
  constructor(
    private readonly words: Int32Array,
    private readonly index: number,
    options: FutexLockOptions = {},
  ) {
    this.registry = options.registry;
    this.onOwnerDead = options.onOwnerDead;
    this.name = options.name ?? 'lock';
  }

  /** Take the lock if it is free; never waits. */
  tryLock(): boolean {
    return Atomics.compareExchange(this.words, this.index, FREE, this.me) === FREE;
  }

  /** Take the lock, sleeping (or spinning where sleeping is not allowed) while another live thread holds it. */
  lock(): void {
    const c = Atomics.compareExchange(this.words, this.index, FREE, this.me);
    if (c !== FREE) this.lockContended(c);
  }

  private lockContended(c: number): void {
    const w = this.words;
    const i = this.index;
    const me = this.me;
    if ((c & OWNER) === me) throw new LockReentryError(this.name);
    for (let n = 0; n < SPIN_LIMIT; n++) {
      if (Atomics.load(w, i) === FREE && Atomics.compareExchange(w, i, FREE, me) === FREE) return;
    }
    const block = canBlock();
    for (;;) {
      c = Atomics.load(w, i);
      // Once anyone has slept on the word it keeps the waiter bit, so our release notifies the rest.
      if (c === FREE) {
        if (Atomics.compareExchange(w, i, FREE, me | WAITERS) === FREE) return;
        continue;
      }
      if ((c & WAITERS) === 0) {
        if (Atomics.compareExchange(w, i, c, c | WAITERS) !== c) continue;
        c |= WAITERS;
      }
      let timedOut: boolean;
      if (block) timedOut = Atomics.wait(w, i, c, DEAD_CHECK_MS) === 'timed-out';
      else timedOut = spinWhile(w, i, c, DEAD_CHECK_MS);
      if (timedOut && this.takeOverIfDead(c)) return;
    }
  }

  /** If the holder named by word value `c` is dead, take the lock from it and repair. */
  private takeOverIfDead(c: number): boolean {
    const dead = c & OWNER;
    if (this.registry === undefined || !this.registry.isDead(dead)) return false;
    if (Atomics.compareExchange(this.words, this.index, c, this.me | WAITERS) !== c) return false;
    try {
      this.onOwnerDead?.(dead);
    } catch (e) {
      this.unlock();
      throw e;
    }
    return true;
  }

  /** Take the lock without blocking the thread: for a browser's main thread. */
  async lockAsync(): Promise<void> {
    const w = this.words;
    const i = this.index;
    const me = this.me;
    let c = Atomics.compareExchange(w, i, FREE, me);
    if (c === FREE) return;
    if ((c & OWNER) === me) throw new LockReentryError(this.name);
    const waitAsync = waitAsyncFn();
    for (;;) {
      c = Atomics.load(w, i);
      if (c === FREE) {
        if (Atomics.compareExchange(w, i, FREE, me | WAITERS) === FREE) return;
        continue;
      }
      if ((c & WAITERS) === 0) {
        if (Atomics.compareExchange(w, i, c, c | WAITERS) !== c) continue;
        c |= WAITERS;
      }
      let timedOut = true;
      if (waitAsync) {
        const r = waitAsync(w, i, c, DEAD_CHECK_MS);
        if (r.async) {
          // Node does not count a pending Atomics.waitAsync as work: without a
          // timer of its own, a process whose only task is this wait would exit
          // with the promise unsettled.
          const keepAlive = setTimeout(noop, DEAD_CHECK_MS + 1);
          try {
            timedOut = (await r.value) === 'timed-out';
          } finally {
            clearTimeout(keepAlive);
          }
        } else {
          timedOut = r.value === 'timed-out';
        }
      } else {
        await sleep(DEAD_CHECK_MS);
      }
      if (timedOut && this.takeOverIfDead(c)) return;
    }
  }

  /** Release the lock; wakes one sleeper if any thread said it might wait. */
  unlock(): void {
    if ((Atomics.exchange(this.words, this.index, FREE) & WAITERS) !== 0) Atomics.notify(this.words, this.index, 1);
  }

  /** Whether some thread holds the lock right now (a snapshot, for tests and assertions). */
  get locked(): boolean {
    return Atomics.load(this.words, this.index) !== FREE;
  }

  /** Token of the holder now, 0 if free (a snapshot). */
  get owner(): number {
    return Atomics.load(this.words, this.index) & OWNER;
  }

  /** Whether this thread holds the lock. */
  get heldByMe(): boolean {
    return this.owner === this.me;
  }

  /** Run `fn` holding the lock. */
  with<T>(fn: () => T): T {
    this.lock();
    try {
      return fn();
    } finally {
      this.unlock();
    }
  }
}

/** Spin while the word holds `c`, at most `ms`; true if the time ran out. */
function spinWhile(w: Int32Array, i: number, c: number, ms: number): boolean {
  const until = Date.now() + ms;
  while (Atomics.load(w, i) === c) if (Date.now() >= until) return true;
  return false;
}
