// SPDX-License-Identifier: GPL-2.0-only
/**
 * Replaying a golden file through an allocator and comparing every placement and
 * every chunk event with the kernel's (FORMAT.md, "How a replay should be
 * checked"). The replay goes on after a mismatch, counting what still matches;
 * the first mismatch is reported with its line.
 */
import { createAllocator, isImplemented, type PercpuAllocator } from '../../engine/allocator.js';
import { ALLOC_RESERVED } from '../../engine/bitmap-allocator.js';
import { NULL_PTR, ptrChunk, RESERVED_CHUNK_ID } from '../../engine/pointer.js';
import { parseKernelVersion, type KernelVersion } from '../../engine/profile.js';
import { OpKind, type GoldenFile, type GoldenHeader, type GoldenSink } from '../../formats/golden.js';

/** Options of `replayGolden`. */
export interface ReplayOptions {
  /** Force a profile instead of the file's `kernel:` header. */
  kernel?: string;
  /** Correct the free-path slip (for comparison: a faithful replay needs false). */
  fixed?: boolean;
  /** Stop after this many ops (for `--at`). */
  limit?: number;
  /** Called after every op with its index. */
  afterOp?: (index: number, allocator: PercpuAllocator) => void;
}

/** The first op whose placement or chunk event differs from the golden file. */
export interface Mismatch {
  line: number;
  expected: string;
  got: string;
}

/** What a golden replay found: placements and chunk events matched out of those compared. */
export interface ReplayResult {
  file: string;
  /** The profile used, or the file's kernel name when no profile implements it (then `skipped`). */
  kernel: KernelVersion | string;
  skipped: boolean;
  placements: number;
  placementsMatched: number;
  events: number;
  eventsMatched: number;
  firstMismatch: Mismatch | undefined;
  allocator: PercpuAllocator | undefined;
  /** Ops replayed. */
  opsRun: number;
}

type Event = { type: 'c' | 'd'; chunk: number };

/** The kernel profile to replay `file` with: `forced` if given, else the version its header records. */
export function profileOf(file: GoldenFile, forced?: string): KernelVersion {
  return parseKernelVersion(forced ?? file.header.kernel);
}

/**
 * A replay fed one op at a time (a `GoldenSink`), so that `verify` checks a
 * file while it streams in: memory is the allocator plus an id-indexed
 * pointer table, not the file.
 */
export class GoldenReplay implements GoldenSink {
  readonly result: ReplayResult;
  private allocator: PercpuAllocator | undefined;
  private booted = false;
  // Events of an op that happen before its result (on-demand chunk creation) and
  // after it (synchronous balance work) are kept apart, as the file orders them.
  private before: Event[] = [];
  private after: Event[] = [];
  private expectedEvents: { ev: Event; line: number }[] = [];
  private pendingAfter: Event[] = [];
  private ptrs = new Float64Array(1 << 12).fill(NULL_PTR);
  private lastLine = 0;
  private readonly limit: number;
  private seen = 0;
  /** The file's `workload:` header (empty until the header is read). */
  workload = '';

  constructor(
    name: string,
    private readonly options: ReplayOptions = {},
  ) {
    this.limit = options.limit ?? Number.POSITIVE_INFINITY;
    this.result = {
      file: name,
      kernel: options.kernel ?? '',
      skipped: false,
      placements: 0,
      placementsMatched: 0,
      events: 0,
      eventsMatched: 0,
      firstMismatch: undefined,
      allocator: undefined,
      opsRun: 0,
    };
  }

  /** Ops in the file (all of them, also past `limit`). */
  get ops(): number {
    return this.seen;
  }

  header(h: GoldenHeader): void {
    this.workload = h.workload;
    const named = this.options.kernel ?? h.kernel;
    if (!isImplemented(named)) {
      this.result.kernel = named;
      this.result.skipped = true;
      return;
    }
    const kernel = parseKernelVersion(named);
    this.result.kernel = kernel;
    this.allocator = createAllocator({
      kernel,
      geometry: h.geometry,
      mode: h.mode,
      backend: 'km',
      balance: h.balance,
      fixed: this.options.fixed ?? false,
      onChunkEvent: (type, chunk, fromBalance) => {
        if (!this.booted) return;
        (fromBalance ? this.after : this.before).push({ type: type === 'create' ? 'c' : 'd', chunk });
      },
    });
    this.booted = true;
    this.result.allocator = this.allocator;
  }

  op(k: OpKind, id: number, size: number, align: number, chunk: number, offset: number, line: number): void {
    const r = this.result;
    const index = this.seen++;
    if (k === OpKind.Alloc || k === OpKind.Reserved) r.placements++;
    else if (k === OpKind.Create || k === OpKind.Destroy) r.events++;
    const allocator = this.allocator;
    if (allocator === undefined || index >= this.limit) return;
    this.lastLine = line;
    if (k === OpKind.Create || k === OpKind.Destroy) {
      this.expectedEvents.push({ ev: { type: k === OpKind.Create ? 'c' : 'd', chunk: id }, line });
      r.opsRun = index + 1;
      return;
    }
    this.before = [];
    this.after = [];
    if (k === OpKind.Free) {
      const ptr = id < this.ptrs.length ? this.ptrs[id]! : NULL_PTR;
      if (ptr === NULL_PTR) this.mismatch(line, `a live object ${id}`, 'nothing to free (its allocation was refused here)');
      else {
        allocator.free(ptr);
        this.ptrs[id] = NULL_PTR;
      }
    } else {
      const ptr = allocator.alloc(size, align, k === OpKind.Reserved ? ALLOC_RESERVED : 0);
      let gotChunk = -1;
      let gotOff = -1;
      if (ptr !== NULL_PTR) {
        const c = ptrChunk(ptr);
        gotChunk = c === RESERVED_CHUNK_ID ? 0 : c;
        gotOff = allocator.unitOffset(ptr);
        if (id >= this.ptrs.length) this.growPtrs(id);
        this.ptrs[id] = ptr;
      }
      if (gotChunk === chunk && gotOff === offset) r.placementsMatched++;
      else this.mismatch(line, `${chunk} ${offset}`, `${gotChunk} ${gotOff}`);
    }
    this.settleEvents(this.pendingAfter.length === 0 ? this.before : [...this.pendingAfter, ...this.before]);
    this.pendingAfter = this.after;
    r.opsRun = index + 1;
    this.options.afterOp?.(index, allocator);
  }

  /** After the last op: the balance events of the last op are compared too. */
  finish(): ReplayResult {
    if (this.allocator !== undefined) this.settleEvents(this.pendingAfter);
    this.pendingAfter = [];
    return this.result;
  }

  private mismatch(line: number, expected: string, got: string): void {
    if (this.result.firstMismatch === undefined) this.result.firstMismatch = { line, expected, got };
  }

  private settleEvents(actual: Event[]): void {
    const expected = this.expectedEvents;
    if (actual.length === 0 && expected.length === 0) return;
    const n = Math.max(actual.length, expected.length);
    for (let j = 0; j < n; j++) {
      const exp = expected[j];
      const got = actual[j];
      if (exp && got && exp.ev.type === got.type && exp.ev.chunk === got.chunk) this.result.eventsMatched++;
      else if (exp) this.mismatch(exp.line, `${exp.ev.type} ${exp.ev.chunk}`, got ? `${got.type} ${got.chunk}` : 'no chunk event');
      else if (got) this.mismatch(this.lastLine, 'no chunk event', `${got.type} ${got.chunk}`);
    }
    this.expectedEvents = [];
  }

  private growPtrs(id: number): void {
    let n = this.ptrs.length;
    while (n <= id) n *= 2;
    const b = new Float64Array(n).fill(NULL_PTR);
    b.set(this.ptrs);
    this.ptrs = b;
  }
}

/** Replay a parsed golden file. */
export function replayGolden(file: GoldenFile, options: ReplayOptions = {}): ReplayResult {
  const r = new GoldenReplay(file.name, options);
  r.header(file.header);
  const o = file.ops;
  for (let i = 0; i < o.length; i++) r.op(o.kind[i]! as OpKind, o.id[i]!, o.size[i]!, o.align[i]!, o.chunk[i]!, o.offset[i]!, o.line[i]!);
  return r.finish();
}

/** A replay's result as `percpu verify` prints it (one `ok`, `FAIL` or `skip` line). */
export function formatReplayResult(r: ReplayResult): string {
  if (r.skipped) return `skip ${r.file}: kernel ${r.kernel} is not implemented yet (${r.placements} placements not checked)`;
  const counts = `${r.placementsMatched}/${r.placements} placements, ${r.eventsMatched}/${r.events} chunk events`;
  if (r.firstMismatch === undefined) return `ok ${r.file}: ${counts}`;
  const m = r.firstMismatch;
  return `FAIL ${r.file}: ${counts}; first mismatch at line ${m.line}: expected ${m.expected} got ${m.got}`;
}
