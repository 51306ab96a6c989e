// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu doctor`: finds what cannot be true of a consistent allocator, and
 * explains it.
 *
 * - On a percpu_stats snapshot: the impossible states (a chunk with free bytes
 *   but no free run, a contig size above the free bytes, counters that do not
 *   add up), each with the rule it breaks and — for the "free bytes, contig 0"
 *   signature — the free-path slip that produces it (spec §4.2).
 * - On the complete history of a chunk (a golden chunk file, or every chunk a
 *   trace saw created): replays it twice in lockstep, faithful and with the
 *   slip corrected, and reports the first op after which the faithful chunk
 *   hint disagrees with the corrected one (while both still hold the very same
 *   bitmap), how far below the true largest free run it fell, how long the
 *   chunk stayed like that, and the first request a correct hint would have
 *   placed differently.
 *
 * The analysis uses only the engine's public state (chunk records and maps);
 * the truth it compares with is recomputed from the allocation bitmap.
 */
import { HintedBitmapAllocator } from '../engine/allocator.js';
import { findNextBit, findNextZeroBit } from '../engine/bitmap.js';
import { Hdr, Md, type Chunk } from '../engine/chunk.js';
import { NULL_PTR, ptrOffset } from '../engine/pointer.js';
import { parseKernelVersion } from '../engine/profile.js';
import { OpKind, type GoldenFile } from '../formats/golden.js';
import { UnsupportedError } from '../errors.js';

/** Largest run of free bits in the chunk and where it starts (by scanning the bitmap). */
export function largestFreeRun(chunk: Chunk): { start: number; bits: number } {
  const map = chunk.allocMap;
  const end = chunk.mapBits;
  let best = { start: 0, bits: 0 };
  let rs = findNextZeroBit(map, end, 0);
  while (rs < end) {
    const re = findNextBit(map, end, rs + 1);
    if (re - rs > best.bits) best = { start: rs, bits: re - rs };
    rs = findNextZeroBit(map, end, re + 1);
  }
  return best;
}

/** Where a faithful replay's chunk hint first went stale against a corrected one, and by how much. */
export interface StaleHint {
  /** Index of the op (in the file's op list) after which the hints first differed. */
  op: number;
  line: number;
  what: string;
  /** The chunk hint fields that differ, as "field faithful→corrected" (bits). */
  fields: string[];
  /** Chunk contig hint (bytes): faithful replay, corrected replay, and the truth. */
  faithfulBytes: number;
  correctedBytes: number;
  trueBytes: number;
  freeBytes: number;
}

/** A request whose placement the stale hint changed: the kernel's, the faithful and the corrected replay's offsets. */
export interface AffectedRequest {
  op: number;
  line: number;
  size: number;
  align: number;
  /** The kernel's result, as the file records it (chunk-relative byte offset, -1 refused). */
  kernel: number;
  faithful: number;
  corrected: number;
}

/** What `diagnoseHistory` found in one chunk history: match counts of both replays, stale hints, misplaced requests. */
export interface HistoryDiagnosis {
  name: string;
  kernel: string;
  ops: number;
  placements: number;
  /** Placements of the faithful replay that match the file. */
  faithfulMatched: number;
  /** Placements of the corrected replay that match the file. */
  correctedMatched: number;
  firstStale: StaleHint | undefined;
  /** Ops after which the faithful chunk hint was below the true largest free run. */
  opsBelowTruth: number;
  /** Largest shortfall seen (bytes). */
  worstShortfall: number;
  /** Ops after which the faithful chunk hint was 0 while the chunk had free bytes (slot 0, every request refused early). */
  opsAtZeroWithFreeBytes: number;
  firstAffected: AffectedRequest | undefined;
}

function describeOp(file: GoldenFile, i: number, ptrs: Float64Array, sizes: Float64Array): string {
  const o = file.ops;
  const id = o.id[i]!;
  if (o.kind[i] === OpKind.Free) {
    const p = ptrs[id]!;
    return p === NULL_PTR ? `free of object ${id}` : `free of object ${id} ([${ptrOffset(p)}, ${ptrOffset(p) + sizes[id]!}))`;
  }
  return `allocation of ${o.size[i]} B align ${o.align[i]} (object ${id})`;
}

/** The chunk-hint fields that steer placement (spec §3.2), where two chunks disagree. */
const DECISION_FIELDS: [string, number][] = [
  ['contig_hint', Md.Contig],
  ['contig_hint_start', Md.ContigStart],
  ['scan_hint', Md.ScanHint],
  ['scan_hint_start', Md.ScanHintStart],
];

function differingHintFields(a: Chunk, b: Chunk): string[] {
  const out: string[] = [];
  for (const [name, f] of DECISION_FIELDS) {
    const x = a.md[a.chunkMd + f]!;
    const y = b.md[b.chunkMd + f]!;
    // A scan-hint start means nothing while the scan hint is 0.
    if (f === Md.ScanHintStart && a.md[a.chunkMd + Md.ScanHint] === 0 && b.md[b.chunkMd + Md.ScanHint] === 0) continue;
    if (x !== y) out.push(`${name} ${x}→${y}`);
  }
  return out;
}

/** Replay a chunk-mode golden history faithfully and corrected, in lockstep. */
export function diagnoseHistory(file: GoldenFile): HistoryDiagnosis {
  if (file.header.mode !== 'chunk') throw new UnsupportedError(`${file.name}: doctor reads the history of one chunk (mode: chunk), not ${file.header.mode}`);
  const kernel = parseKernelVersion(file.header.kernel);
  if (kernel === '4.13') throw new UnsupportedError(`${file.name}: the 4.13 area map has no chunk hints to go stale`);
  const make = (fixed: boolean) => new HintedBitmapAllocator({ kernel, geometry: file.header.geometry, mode: 'chunk', fixed });
  const faithful = make(false);
  const corrected = make(true);
  const fc = faithful.getChunk(0)!;
  const cc = corrected.getChunk(0)!;
  const ops = file.ops;
  const n = file.maxId + 1;
  const fPtr = new Float64Array(n).fill(NULL_PTR);
  const cPtr = new Float64Array(n).fill(NULL_PTR);
  const sizes = new Float64Array(n);
  const d: HistoryDiagnosis = {
    name: file.name,
    kernel,
    ops: ops.length,
    placements: 0,
    faithfulMatched: 0,
    correctedMatched: 0,
    firstStale: undefined,
    opsBelowTruth: 0,
    worstShortfall: 0,
    opsAtZeroWithFreeBytes: 0,
    firstAffected: undefined,
  };
  let same = true; // both replays have placed everything identically so far
  for (let i = 0; i < ops.length; i++) {
    const k = ops.kind[i]!;
    const id = ops.id[i]!;
    if (k === OpKind.Alloc || k === OpKind.Reserved) {
      d.placements++;
      const fp = faithful.alloc(ops.size[i]!, ops.align[i]!);
      const cp = corrected.alloc(ops.size[i]!, ops.align[i]!);
      fPtr[id] = fp;
      cPtr[id] = cp;
      sizes[id] = (ops.size[i]! + 3) & ~3;
      const fo = fp === NULL_PTR ? -1 : ptrOffset(fp);
      const co = cp === NULL_PTR ? -1 : ptrOffset(cp);
      const expected = ops.chunk[i] === -1 ? -1 : ops.offset[i]!;
      if (fo === expected) d.faithfulMatched++;
      if (co === expected) d.correctedMatched++;
      if (fo !== co && d.firstAffected === undefined) {
        d.firstAffected = { op: i, line: ops.line[i]!, size: ops.size[i]!, align: ops.align[i]!, kernel: expected, faithful: fo, corrected: co };
        same = false;
      }
    } else if (k === OpKind.Free) {
      if (fPtr[id] !== NULL_PTR) faithful.free(fPtr[id]!);
      if (cPtr[id] !== NULL_PTR) corrected.free(cPtr[id]!);
    } else continue;

    const fHint = fc.md[fc.chunkMd + Md.Contig]!;
    const truth = largestFreeRun(fc).bits;
    if (fHint < truth) {
      d.opsBelowTruth++;
      d.worstShortfall = Math.max(d.worstShortfall, (truth - fHint) * 4);
      if (fHint === 0 && fc.hdr[Hdr.FreeBytes]! >= 4) d.opsAtZeroWithFreeBytes++;
    }
    const fields = same && d.firstStale === undefined ? differingHintFields(fc, cc) : [];
    if (fields.length > 0) {
      d.firstStale = {
        op: i,
        line: ops.line[i]!,
        what: describeOp(file, i, fPtr, sizes),
        fields,
        faithfulBytes: fHint * 4,
        correctedBytes: cc.md[cc.chunkMd + Md.Contig]! * 4,
        trueBytes: truth * 4,
        freeBytes: fc.hdr[Hdr.FreeBytes]!,
      };
    }
  }
  return d;
}

/** The diagnosis as report lines: the summary, then each stale hint and each request it misplaced. */
export function formatDiagnosis(d: HistoryDiagnosis): string[] {
  const out: string[] = [];
  out.push(`${d.name}: ${d.ops} ops, ${d.placements} placements (kernel ${d.kernel})`);
  out.push(`  faithful replay reproduces ${d.faithfulMatched}/${d.placements} of the recorded placements; with the slip corrected, ${d.correctedMatched}/${d.placements}`);
  if (d.firstStale === undefined) {
    out.push('  the chunk hint never differed from a correctly maintained one: no sign of the free-path slip in this history');
  } else {
    const s = d.firstStale;
    out.push(`  first stale hint: after op ${s.op + 1} (line ${s.line}), the ${s.what}:`);
    out.push(`    the kernel's chunk hints differ from correctly updated ones (bits, kernel→correct): ${s.fields.join(', ')}`);
    out.push(`    contig hint ${s.faithfulBytes} B where a correct update gives ${s.correctedBytes} B; the largest free run is ${s.trueBytes} B (free bytes ${s.freeBytes})`);
  }
  out.push(`  the hint was below the true largest free run after ${d.opsBelowTruth} of ${d.ops} ops (worst by ${d.worstShortfall} B)` + (d.opsAtZeroWithFreeBytes ? `, and 0 with free bytes in the chunk after ${d.opsAtZeroWithFreeBytes} ops (slot 0: every request rejected early)` : ''));
  if (d.firstAffected !== undefined) {
    const a = d.firstAffected;
    const where = (x: number) => (x < 0 ? 'refused' : `offset ${x}`);
    out.push(`  first request a correct hint would have placed differently: op ${a.op + 1} (line ${a.line}), ${a.size} B align ${a.align}:`);
    out.push(`    kernel ${where(a.kernel)}, faithful replay ${where(a.faithful)}, corrected ${where(a.corrected)}`);
  } else {
    out.push('  no request was placed differently because of it');
  }
  return out;
}

/** Why a percpu_stats inconsistency happens, for the ones this project can explain. */
export function explainInconsistency(line: string, layout: string): string | undefined {
  if (/but contig_bytes 0/.test(line) && layout !== '4.13') {
    return (
      'This is the signature of the free-path coordinate slip of Linux 5.2 and later (still in 6.18, 6.19 and 7.0): ' +
      'after a free inside block 1 or later, the chunk hint update is given a chunk-relative start with a block-relative end, ' +
      'so the length is negative and the chunk\'s largest-free-run hint is not raised. A chunk that was full keeps contig 0 ' +
      'and sits in slot 0, where no allocation looks, until a free in block 0, a free that frees a whole page or spans pages, ' +
      'or an allocation overlapping the stale hint refreshes it. Run `percpu doctor TRACE --stats PERCPU_STATS` on a trace of the chunk to see where it went stale.'
    );
  }
  return undefined;
}
