/**
 * Replaying a golden file through an allocator and comparing every placement and
 * every chunk event with the kernel's (FORMAT.md, "How a replay should be
 * checked"). The replay goes on after a mismatch, counting what still matches;
 * the first mismatch is reported with its line.
 */
import { createAllocator, isImplemented, type PercpuAllocator } from '../allocator.js';
import { ALLOC_RESERVED } from '../engine/bitmap-allocator.js';
import { NULL_PTR, ptrChunk, RESERVED_CHUNK_ID } from '../engine/pointer.js';
import { parseKernelVersion, type KernelVersion } from '../engine/profile.js';
import { OpKind, type GoldenFile } from './format.js';

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

export interface Mismatch {
  line: number;
  expected: string;
  got: string;
}

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

export function profileOf(file: GoldenFile, forced?: string): KernelVersion {
  return parseKernelVersion(forced ?? file.header.kernel);
}

export function replayGolden(file: GoldenFile, options: ReplayOptions = {}): ReplayResult {
  const named = options.kernel ?? file.header.kernel;
  const kernel = isImplemented(named) ? profileOf(file, options.kernel) : named;
  const result: ReplayResult = {
    file: file.name,
    kernel,
    skipped: false,
    placements: 0,
    placementsMatched: 0,
    events: 0,
    eventsMatched: 0,
    firstMismatch: undefined,
    allocator: undefined,
    opsRun: 0,
  };
  const ops = file.ops;
  for (let i = 0; i < ops.length; i++) {
    const k = ops.kind[i]!;
    if (k === OpKind.Alloc || k === OpKind.Reserved) result.placements++;
    else if (k === OpKind.Create || k === OpKind.Destroy) result.events++;
  }
  if (!isImplemented(named)) {
    result.skipped = true;
    return result;
  }
  const h = file.header;
  // Events of an op that happen before its result (on-demand chunk creation) and
  // after it (synchronous balance work) are kept apart, as the file orders them.
  let booted = false;
  let before: Event[] = [];
  let after: Event[] = [];
  const allocator = createAllocator({
    kernel,
    geometry: h.geometry,
    mode: h.mode,
    backend: 'km',
    balance: h.balance,
    fixed: options.fixed ?? false,
    onChunkEvent: (type, chunk, fromBalance) => {
      if (!booted) return;
      (fromBalance ? after : before).push({ type: type === 'create' ? 'c' : 'd', chunk });
    },
  });
  booted = true;
  result.allocator = allocator;

  const mismatch = (line: number, expected: string, got: string) => {
    if (result.firstMismatch === undefined) result.firstMismatch = { line, expected, got };
  };
  const ptrs = new Float64Array(file.maxId + 1).fill(NULL_PTR);
  let expectedEvents: { ev: Event; line: number }[] = [];
  let pendingAfter: Event[] = [];
  const settleEvents = (actual: Event[]) => {
    const n = Math.max(actual.length, expectedEvents.length);
    for (let j = 0; j < n; j++) {
      const exp = expectedEvents[j];
      const got = actual[j];
      if (exp && got && exp.ev.type === got.type && exp.ev.chunk === got.chunk) result.eventsMatched++;
      else if (exp) mismatch(exp.line, `${exp.ev.type} ${exp.ev.chunk}`, got ? `${got.type} ${got.chunk}` : 'no chunk event');
      else if (got) mismatch(ops.line[Math.min(result.opsRun, ops.length - 1)]!, 'no chunk event', `${got.type} ${got.chunk}`);
    }
    expectedEvents = [];
  };

  const limit = Math.min(options.limit ?? ops.length, ops.length);
  for (let i = 0; i < limit; i++) {
    const k = ops.kind[i]!;
    const line = ops.line[i]!;
    if (k === OpKind.Create || k === OpKind.Destroy) {
      expectedEvents.push({ ev: { type: k === OpKind.Create ? 'c' : 'd', chunk: ops.id[i]! }, line });
      result.opsRun = i + 1;
      continue;
    }
    before = [];
    after = [];
    if (k === OpKind.Free) {
      const id = ops.id[i]!;
      const ptr = id < ptrs.length ? ptrs[id]! : NULL_PTR;
      if (ptr === NULL_PTR) mismatch(line, `a live object ${id}`, 'nothing to free (its allocation was refused here)');
      else {
        allocator.free(ptr);
        ptrs[id] = NULL_PTR;
      }
    } else {
      const ptr = allocator.alloc(ops.size[i]!, ops.align[i]!, k === OpKind.Reserved ? ALLOC_RESERVED : 0);
      const expChunk = ops.chunk[i]!;
      const expOff = ops.offset[i]!;
      let gotChunk = -1;
      let gotOff = -1;
      if (ptr !== NULL_PTR) {
        const c = ptrChunk(ptr);
        gotChunk = c === RESERVED_CHUNK_ID ? 0 : c;
        gotOff = allocator.unitOffset(ptr);
        ptrs[ops.id[i]!] = ptr;
      }
      if (gotChunk === expChunk && gotOff === expOff) result.placementsMatched++;
      else mismatch(line, `${expChunk} ${expOff}`, `${gotChunk} ${gotOff}`);
    }
    settleEvents([...pendingAfter, ...before]);
    pendingAfter = after;
    result.opsRun = i + 1;
    options.afterOp?.(i, allocator);
  }
  settleEvents(pendingAfter);
  return result;
}

export function formatReplayResult(r: ReplayResult): string {
  if (r.skipped) return `skip ${r.file}: kernel ${r.kernel} is not implemented yet (${r.placements} placements not checked)`;
  const counts = `${r.placementsMatched}/${r.placements} placements, ${r.eventsMatched}/${r.events} chunk events`;
  if (r.firstMismatch === undefined) return `ok ${r.file}: ${counts}`;
  const m = r.firstMismatch;
  return `FAIL ${r.file}: ${counts}; first mismatch at line ${m.line}: expected ${m.expected} got ${m.got}`;
}
