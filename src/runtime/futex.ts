/**
 * A futex-style mutex on one word of shared memory, for the runtime's locks
 * (the allocator lock, each counter's fold lock, each hash map's writer lock).
 *
 * The word holds 0 (free), 1 (held, nobody waits) or 2 (held, a thread may be
 * waiting): the classic three-state futex mutex. Taking a free lock is one
 * compareExchange; releasing an uncontended lock is one subtraction, and only a
 * release from state 2 pays for `Atomics.notify`. A contended taker spins a
 * little first (the runtime's critical sections last microseconds), then sleeps
 * with `Atomics.wait`.
 *
 * Where a thread may not block (a browser's main thread), `lock()` spins
 * instead of sleeping, and `lockAsync()` sleeps with `Atomics.waitAsync`, or
 * polls with timers where even that is missing. Both kinds of waiters are woken
 * by the same `Atomics.notify`, so blocking and non-blocking threads can share
 * one lock.
 *
 * Invariant: the word is 0 exactly when no thread holds the lock. Not
 * re-entrant: a thread that takes a lock it holds deadlocks (or spins forever).
 */

const FREE = 0;
const HELD = 1;
const CONTENDED = 2;
/** Polls of the word before a contended taker goes to sleep. */
const SPIN_LIMIT = 100;

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

type WaitAsync = (typedArray: Int32Array, index: number, value: number, timeout?: number) => { async: boolean; value: Promise<string> | string };

function waitAsyncFn(): WaitAsync | undefined {
  const fn = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
  return typeof fn === 'function' ? fn : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class FutexLock {
  /** `words[index]` is the lock word; it must live in a `SharedArrayBuffer` to be shared. */
  constructor(
    private readonly words: Int32Array,
    private readonly index: number,
  ) {}

  /** Take the lock if it is free; never waits. */
  tryLock(): boolean {
    return Atomics.compareExchange(this.words, this.index, FREE, HELD) === FREE;
  }

  /** Take the lock, sleeping (or spinning where sleeping is not allowed) while another thread holds it. */
  lock(): void {
    const c = Atomics.compareExchange(this.words, this.index, FREE, HELD);
    if (c !== FREE) this.lockContended(c);
  }

  private lockContended(c: number): void {
    const w = this.words;
    const i = this.index;
    for (let n = 0; n < SPIN_LIMIT; n++) {
      if (Atomics.load(w, i) === FREE && Atomics.compareExchange(w, i, FREE, HELD) === FREE) return;
    }
    const block = canBlock();
    // From here on the word says CONTENDED, so the holder's release notifies us.
    if (c !== CONTENDED) c = Atomics.exchange(w, i, CONTENDED);
    while (c !== FREE) {
      if (block) Atomics.wait(w, i, CONTENDED);
      else while (Atomics.load(w, i) === CONTENDED) { /* cannot sleep here: spin until the holder releases */ }
      c = Atomics.exchange(w, i, CONTENDED);
    }
  }

  /** Take the lock without blocking the thread: for a browser's main thread. */
  async lockAsync(): Promise<void> {
    const w = this.words;
    const i = this.index;
    if (Atomics.compareExchange(w, i, FREE, HELD) === FREE) return;
    const waitAsync = waitAsyncFn();
    let delay = 0;
    let c = Atomics.exchange(w, i, CONTENDED);
    while (c !== FREE) {
      if (waitAsync) {
        const r = waitAsync(w, i, CONTENDED);
        if (r.async) await r.value;
      } else {
        await sleep(delay);
        delay = Math.min(4, delay + 1);
      }
      c = Atomics.exchange(w, i, CONTENDED);
    }
  }

  /** Release the lock; wakes one sleeper if any thread said it might wait. */
  unlock(): void {
    if (Atomics.sub(this.words, this.index, 1) !== HELD) {
      Atomics.store(this.words, this.index, FREE);
      Atomics.notify(this.words, this.index, 1);
    }
  }

  /** Whether some thread holds the lock right now (a snapshot, for tests and assertions). */
  get locked(): boolean {
    return Atomics.load(this.words, this.index) !== FREE;
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
