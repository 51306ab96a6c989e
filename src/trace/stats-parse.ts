// SPDX-License-Identifier: GPL-2.0-only
/**
 * Parser (and printer) of the `percpu_stats` debugfs file (spec §6.1) in both
 * layouts the kernel has used:
 *
 *   4.14 … 7.0   `"  %-20s: %12lld"`; chunks print empty_pop_pages, first_bit,
 *                free_bytes, contig_bytes (and 5.9–5.13 memcg_aware); the global
 *                section ends with empty_pop_pages; 7.0 adds the
 *                `Chunk (to_depopulate)` and `Chunk (sidelined):` headers.
 *   4.13         `"  %-24s: %8lld"` (info, chunks) and `"  %-18s: %14llu"`
 *                (global); chunks print free_size and contig_hint instead, no
 *                empty_pop_pages / first_bit, and the global section has no
 *                empty_pop_pages.
 *
 * What this module owns: the typed view of one snapshot (`PercpuStatsFile`),
 * used by `percpu stats --live`, `percpu doctor`, the trace tools (geometry,
 * event-count cross-checks) and tests that compare formatted stats with real
 * files. Invariant: `formatPercpuStats(parsePercpuStats(text))` reproduces a
 * kernel-written file byte for byte; anything the kernel would not print
 * (unknown field, missing field, field out of order, bad header) is a
 * `ParseError` naming the line.
 */
import { excerpt, ParseError } from '../errors.js';
import type { GeometryInput } from '../engine/geometry.js';
import type { GlobalStats } from '../engine/bitmap-allocator.js';

/** The two layouts of the file: 4.13 (area map) and 4.14 onwards (bitmap). */
export type StatsLayout = '4.13' | '4.14';

/** The `Allocation Info` section: the first chunk's layout. */
export interface StatsAllocInfo {
  unitSize: number;
  staticSize: number;
  reservedSize: number;
  dynSize: number;
  atomSize: number;
  allocSize: number;
}

/** The global section: the engine's counters, plus what the file adds. */
export interface StatsGlobal extends GlobalStats {
  /** `pcpu_nr_empty_pop_pages`; absent in the 4.13 layout. */
  emptyPopPages: number | undefined;
}

/** Which list a chunk was printed from, by its header line. */
export type StatsChunkKind = 'reserved' | 'first' | 'chunk' | 'to_depopulate' | 'sidelined';

/** One chunk section of the file. */
export interface StatsChunk {
  kind: StatsChunkKind;
  /** 1-based line of the chunk's header. */
  line: number;
  nrAlloc: number;
  maxAllocSize: number;
  /** Absent in the 4.13 layout. */
  emptyPopPages: number | undefined;
  /** Absent in the 4.13 layout. */
  firstBit: number | undefined;
  /** `free_bytes` (4.14+) or `free_size` (4.13). */
  freeBytes: number;
  /** `contig_bytes` (4.14+) or `contig_hint` (4.13), in bytes either way. */
  contigBytes: number;
  /** 5.9–5.13 with memcg kmem accounting only. */
  memcgAware: number | undefined;
  sumFrag: number;
  maxFrag: number;
  curMinAlloc: number;
  curMedAlloc: number;
  curMaxAlloc: number;
}

/** A parsed `percpu_stats` file. */
export interface PercpuStatsFile {
  layout: StatsLayout;
  allocInfo: StatsAllocInfo;
  global: StatsGlobal;
  chunks: StatsChunk[];
}

const DASHES = '-'.repeat(40);
const HEADERS: ReadonlyMap<string, StatsChunkKind> = new Map([
  ['Chunk: <- Reserved Chunk', 'reserved'],
  ['Chunk: <- First Chunk', 'first'],
  ['Chunk:', 'chunk'],
  ['Chunk (to_depopulate)', 'to_depopulate'],
  ['Chunk (sidelined):', 'sidelined'],
]);
const HEADER_OF: Readonly<Record<StatsChunkKind, string>> = {
  reserved: 'Chunk: <- Reserved Chunk',
  first: 'Chunk: <- First Chunk',
  chunk: 'Chunk:',
  to_depopulate: 'Chunk (to_depopulate)',
  sidelined: 'Chunk (sidelined):',
};

const INFO_FIELDS = ['unit_size', 'static_size', 'reserved_size', 'dyn_size', 'atom_size', 'alloc_size'] as const;
const GLOBAL_FIELDS = ['nr_alloc', 'nr_dealloc', 'nr_cur_alloc', 'nr_max_alloc', 'nr_chunks', 'nr_max_chunks', 'min_alloc_size', 'max_alloc_size'] as const;
const CHUNK_FIELDS_414 = ['nr_alloc', 'max_alloc_size', 'empty_pop_pages', 'first_bit', 'free_bytes', 'contig_bytes'] as const;
const CHUNK_FIELDS_413 = ['nr_alloc', 'max_alloc_size', 'free_size', 'contig_hint'] as const;
const CHUNK_FRAG_FIELDS = ['sum_frag', 'max_frag', 'cur_min_alloc', 'cur_med_alloc', 'cur_max_alloc'] as const;

const VALUE_LINE = /^  ([a-z_]+)( *): +(-?\d+)$/;

/** Reads lines with their numbers and fails with the current one. */
class Lines {
  private readonly lines: string[];
  private at = 0;
  constructor(
    text: string,
    readonly source: string,
  ) {
    // `\r\n` line ends (a snapshot copied through Windows) read like `\n`.
    this.lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
    if (this.lines.length > 0 && this.lines[this.lines.length - 1] === '') this.lines.pop();
    if (this.lines.length === 0) throw new ParseError(source, 1, 'empty input: not a percpu_stats snapshot', 'give the text of /sys/kernel/debug/percpu_stats');
  }
  get lineNo(): number {
    return this.at;
  }
  get done(): boolean {
    return this.at >= this.lines.length;
  }
  peek(): string | undefined {
    return this.lines[this.at];
  }
  next(): string {
    const l = this.lines[this.at];
    if (l === undefined) throw new ParseError(this.source, this.at + 1, 'unexpected end of file');
    this.at++;
    return l;
  }
  fail(message: string, line = this.at): never {
    throw new ParseError(this.source, line, message);
  }
  expect(text: string): void {
    const l = this.next();
    if (l !== text) this.fail(`expected "${text}", got "${excerpt(l)}"`);
  }
  /** The next value line, which must name `name`; returns its value and the column of its colon. */
  value(name: string): { value: number; colon: number } {
    const l = this.next();
    const m = VALUE_LINE.exec(l);
    if (!m) this.fail(`expected a "${name}" value line, got "${excerpt(l)}"`);
    if (m[1] !== name) this.fail(`expected field "${name}", got "${m[1]}"`);
    const value = Number(m[3]);
    if (!Number.isSafeInteger(value)) this.fail(`value of ${name} is out of range: ${m[3]}`);
    return { value, colon: 2 + m[1]!.length + m[2]!.length };
  }
  /** Name of the field on the next line, if it is a value line. */
  peekField(): string | undefined {
    const l = this.peek();
    return l === undefined ? undefined : VALUE_LINE.exec(l)?.[1];
  }
}

/** Parses `percpu_stats` text of either layout; throws `ParseError` with the line for anything else. */
export function parsePercpuStats(text: string, source = '<percpu_stats>'): PercpuStatsFile {
  const r = new Lines(text, source);
  r.expect('Percpu Memory Statistics');
  r.expect('Allocation Info:');
  r.expect(DASHES);
  const info: number[] = [];
  let layout: StatsLayout | undefined;
  for (const f of INFO_FIELDS) {
    const v = r.value(f);
    // The colon sits after a 20-column name from 4.14 on, after 24 columns in 4.13.
    const l: StatsLayout | undefined = v.colon === 22 ? '4.14' : v.colon === 26 ? '4.13' : undefined;
    if (l === undefined) r.fail(`field ${f} is not padded as any kernel prints it (colon at column ${v.colon + 1})`);
    if (layout !== undefined && l !== layout) r.fail(`field ${f} is padded for the ${l} layout, the lines above for ${layout}`);
    layout = l;
    info.push(v.value);
  }
  const lay = layout!;
  r.expect('');
  r.expect('Global Stats:');
  r.expect(DASHES);
  const g: number[] = [];
  for (const f of GLOBAL_FIELDS) g.push(r.value(f).value);
  let emptyPopPages: number | undefined;
  if (lay === '4.14') emptyPopPages = r.value('empty_pop_pages').value;
  r.expect('');
  r.expect('Per Chunk Stats:');
  r.expect(DASHES);
  const chunks: StatsChunk[] = [];
  while (!r.done) chunks.push(parseChunk(r, lay));
  return {
    layout: lay,
    allocInfo: {
      unitSize: info[0]!,
      staticSize: info[1]!,
      reservedSize: info[2]!,
      dynSize: info[3]!,
      atomSize: info[4]!,
      allocSize: info[5]!,
    },
    global: {
      nrAlloc: g[0]!,
      nrDealloc: g[1]!,
      nrCurAlloc: g[2]!,
      nrMaxAlloc: g[3]!,
      nrChunks: g[4]!,
      nrMaxChunks: g[5]!,
      minAllocSize: g[6]!,
      maxAllocSize: g[7]!,
      emptyPopPages,
    },
    chunks,
  };
}

function parseChunk(r: Lines, layout: StatsLayout): StatsChunk {
  const header = r.next();
  const line = r.lineNo;
  const kind = HEADERS.get(header);
  if (kind === undefined) r.fail(`expected a chunk header ("Chunk:", "Chunk: <- First Chunk", …), got "${excerpt(header)}"`);
  if (layout === '4.13' && (kind === 'to_depopulate' || kind === 'sidelined')) r.fail(`"${header}" does not exist in the 4.13 layout`);
  const v = (name: string) => r.value(name).value;
  const c: StatsChunk = {
    kind,
    line,
    nrAlloc: v('nr_alloc'),
    maxAllocSize: v('max_alloc_size'),
    emptyPopPages: undefined,
    firstBit: undefined,
    freeBytes: 0,
    contigBytes: 0,
    memcgAware: undefined,
    sumFrag: 0,
    maxFrag: 0,
    curMinAlloc: 0,
    curMedAlloc: 0,
    curMaxAlloc: 0,
  };
  if (layout === '4.14') {
    c.emptyPopPages = v('empty_pop_pages');
    c.firstBit = v('first_bit');
    c.freeBytes = v('free_bytes');
    c.contigBytes = v('contig_bytes');
    if (r.peekField() === 'memcg_aware') c.memcgAware = v('memcg_aware');
  } else {
    c.freeBytes = v('free_size');
    c.contigBytes = v('contig_hint');
  }
  c.sumFrag = v('sum_frag');
  c.maxFrag = v('max_frag');
  c.curMinAlloc = v('cur_min_alloc');
  c.curMedAlloc = v('cur_med_alloc');
  c.curMaxAlloc = v('cur_max_alloc');
  r.expect('');
  return c;
}

// ---------------------------------------------------------------------------
// Printing, in the layout the snapshot came from.

function line414(name: string, value: number): string {
  return `  ${name.padEnd(20)}: ${String(value).padStart(12)}\n`;
}
function line413(name: string, value: number): string {
  return `  ${name.padEnd(24)}: ${String(value).padStart(8)}\n`;
}
function line413Global(name: string, value: number): string {
  return `  ${name.padEnd(18)}: ${String(value).padStart(14)}\n`;
}

/** A parsed file written back as the kernel prints it (byte for byte for what `parsePercpuStats` read). */
export function formatPercpuStats(s: PercpuStatsFile): string {
  const is413 = s.layout === '4.13';
  const P = is413 ? line413 : line414;
  const PU = is413 ? line413Global : line414;
  const i = s.allocInfo;
  const g = s.global;
  let out = `Percpu Memory Statistics\nAllocation Info:\n${DASHES}\n`;
  const infoValues = [i.unitSize, i.staticSize, i.reservedSize, i.dynSize, i.atomSize, i.allocSize];
  INFO_FIELDS.forEach((f, k) => (out += P(f, infoValues[k]!)));
  out += `\nGlobal Stats:\n${DASHES}\n`;
  const globalValues = [g.nrAlloc, g.nrDealloc, g.nrCurAlloc, g.nrMaxAlloc, g.nrChunks, g.nrMaxChunks, g.minAllocSize, g.maxAllocSize];
  GLOBAL_FIELDS.forEach((f, k) => (out += PU(f, globalValues[k]!)));
  if (!is413) out += P('empty_pop_pages', g.emptyPopPages ?? 0);
  out += `\nPer Chunk Stats:\n${DASHES}\n`;
  for (const c of s.chunks) {
    out += HEADER_OF[c.kind] + '\n';
    if (is413) {
      const vals = [c.nrAlloc, c.maxAllocSize, c.freeBytes, c.contigBytes];
      CHUNK_FIELDS_413.forEach((f, k) => (out += P(f, vals[k]!)));
    } else {
      const vals = [c.nrAlloc, c.maxAllocSize, c.emptyPopPages ?? 0, c.firstBit ?? 0, c.freeBytes, c.contigBytes];
      CHUNK_FIELDS_414.forEach((f, k) => (out += P(f, vals[k]!)));
      if (c.memcgAware !== undefined) out += P('memcg_aware', c.memcgAware);
    }
    const frag = [c.sumFrag, c.maxFrag, c.curMinAlloc, c.curMedAlloc, c.curMaxAlloc];
    CHUNK_FRAG_FIELDS.forEach((f, k) => (out += P(f, frag[k]!)));
    out += '\n';
  }
  return out;
}

// ---------------------------------------------------------------------------
// Uses of a snapshot.

/** The allocator geometry a snapshot describes (page size and unit count are not in the file). */
export function geometryFromStats(s: PercpuStatsFile, options: { pageSize?: number; nrUnits?: number } = {}): GeometryInput & { unitSize: number; pageSize: number } {
  const i = s.allocInfo;
  return {
    pageSize: options.pageSize ?? 4096,
    unitSize: i.unitSize,
    nrUnits: options.nrUnits ?? Math.max(1, Math.round(i.allocSize / i.unitSize)),
    staticSize: i.staticSize,
    reservedSize: i.reservedSize,
    dynSize: i.dynSize,
    atomSize: i.atomSize,
    allocSize: i.allocSize,
  };
}

/**
 * States no consistent allocator can be in, as sentences (empty when none):
 * a chunk with free bytes but no contiguous free run or a contig hint larger
 * than its free bytes (4.14 layout only: 4.13's hint is a lazy upper bound),
 * more free bytes than a unit, per-chunk counts that do not add up to the
 * global one.
 */
export function statsInconsistencies(s: PercpuStatsFile): string[] {
  const out: string[] = [];
  const unit = s.allocInfo.unitSize;
  s.chunks.forEach((c, k) => {
    const where = `chunk #${k + 1} (${HEADER_OF[c.kind]}, line ${c.line})`;
    // 4.13's contig_hint is only an upper bound, refreshed lazily; from 4.14 on it is the largest free run.
    if (s.layout === '4.14') {
      if (c.freeBytes >= 4 && c.contigBytes === 0) out.push(`${where}: free_bytes ${c.freeBytes} but contig_bytes 0 (free space with no free run)`);
      if (c.contigBytes > c.freeBytes) out.push(`${where}: contig_bytes ${c.contigBytes} exceeds free_bytes ${c.freeBytes}`);
    }
    if (c.freeBytes > unit) out.push(`${where}: free_bytes ${c.freeBytes} exceeds the unit size ${unit}`);
  });
  const sum = s.chunks.reduce((a, c) => a + c.nrAlloc, 0);
  if (sum !== s.global.nrCurAlloc) out.push(`chunk nr_alloc values add up to ${sum}, global nr_cur_alloc is ${s.global.nrCurAlloc}`);
  return out;
}
