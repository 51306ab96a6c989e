// SPDX-License-Identifier: GPL-2.0-only
/**
 * Parser of the `percpu_stats` debugfs file (spec §6.1) in both layouts the
 * kernel has used (4.13; 4.14 … 7.0), read with the format's own tables
 * (`stats.ts`: field names and order, widths, headers, what each layout
 * has), so it reads exactly what the one writer prints.
 *
 * What this module owns: reading one snapshot into its typed view
 * (`PercpuStatsFile`), used by `percpu stats --live`, `percpu doctor`, the
 * trace tools (geometry, event-count cross-checks) and tests that compare
 * formatted stats with real files. Invariant: `formatPercpuStats(parsePercpuStats(text))`
 * reproduces a kernel-written file byte for byte; anything the kernel would
 * not print (unknown field, missing field, field out of order, bad header) is
 * a `ParseError` naming the line.
 */
import { excerpt, ParseError } from '../errors.js';
import type { GeometryInput } from '../engine/geometry.js';
import {
  CHUNK_HEADER,
  INFO_FIELDS,
  STATS_DASHES,
  STATS_LAYOUTS,
  STATS_SECTIONS,
  STATS_TITLE,
  writePercpuStats,
  type PercpuStatsFile,
  type StatsChunk,
  type StatsChunkKind,
  type StatsField,
  type StatsLayout,
} from './stats.js';

export type { PercpuStatsFile, StatsAllocInfo, StatsChunk, StatsChunkKind, StatsGlobal, StatsLayout } from './stats.js';

const HEADERS: ReadonlyMap<string, StatsChunkKind> = new Map(
  (Object.keys(CHUNK_HEADER) as StatsChunkKind[]).map((k) => [CHUNK_HEADER[k], k]),
);

/** The layout whose allocation-info lines put the colon at this (0-based) column. */
const LAYOUT_OF_COLON: ReadonlyMap<number, StatsLayout> = new Map(
  (Object.keys(STATS_LAYOUTS) as StatsLayout[]).map((l) => [2 + STATS_LAYOUTS[l].info.name, l]),
);

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
  /** A section heading and its dashes. */
  section(title: string): void {
    this.expect(title);
    this.expect(STATS_DASHES);
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
  /** A section's value lines into `into`, in the order `fields` gives (an optional one only when named next). */
  fields<T>(fields: readonly StatsField<T>[], into: T): void {
    for (const f of fields) {
      if (f.optional && this.peekField() !== f.name) continue;
      (into as Record<string, number>)[f.key] = this.value(f.name).value;
    }
  }
}

/** Parses `percpu_stats` text of either layout; throws `ParseError` with the line for anything else. */
export function parsePercpuStats(text: string, source = '<percpu_stats>'): PercpuStatsFile {
  const r = new Lines(text, source);
  r.expect(STATS_TITLE);
  r.section(STATS_SECTIONS.info);
  const { layout, allocInfo } = parseAllocInfo(r);
  r.expect('');
  r.section(STATS_SECTIONS.global);
  const global: PercpuStatsFile['global'] = { nrAlloc: 0, nrDealloc: 0, nrCurAlloc: 0, nrMaxAlloc: 0, nrChunks: 0, nrMaxChunks: 0, minAllocSize: 0, maxAllocSize: 0, emptyPopPages: undefined };
  r.fields(STATS_LAYOUTS[layout].globalFields, global);
  r.expect('');
  r.section(STATS_SECTIONS.chunks);
  const chunks: StatsChunk[] = [];
  while (!r.done) chunks.push(parseChunk(r, layout));
  return { layout, allocInfo, global, chunks };
}

/** The allocation-info lines, and the layout their padding shows. */
function parseAllocInfo(r: Lines): Pick<PercpuStatsFile, 'layout' | 'allocInfo'> {
  const allocInfo: PercpuStatsFile['allocInfo'] = { unitSize: 0, staticSize: 0, reservedSize: 0, dynSize: 0, atomSize: 0, allocSize: 0 };
  let layout: StatsLayout | undefined;
  for (const f of INFO_FIELDS) {
    const v = r.value(f.name);
    // The colon sits after a 20-column name from 4.14 on, after 24 columns in 4.13.
    const l = LAYOUT_OF_COLON.get(v.colon);
    if (l === undefined) r.fail(`field ${f.name} is not padded as any kernel prints it (colon at column ${v.colon + 1})`);
    if (layout !== undefined && l !== layout) r.fail(`field ${f.name} is padded for the ${l} layout, the lines above for ${layout}`);
    layout = l;
    allocInfo[f.key] = v.value;
  }
  return { layout: layout!, allocInfo };
}

function parseChunk(r: Lines, layout: StatsLayout): StatsChunk {
  const header = r.next();
  const line = r.lineNo;
  const kind = HEADERS.get(header);
  const L = STATS_LAYOUTS[layout];
  if (kind === undefined) r.fail(`expected a chunk header ("Chunk:", "Chunk: <- First Chunk", …), got "${excerpt(header)}"`);
  if (!L.kinds.includes(kind)) r.fail(`"${header}" does not exist in the ${layout} layout`);
  const c: StatsChunk = {
    kind,
    line,
    nrAlloc: 0,
    maxAllocSize: 0,
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
  r.fields(L.chunkFields, c);
  r.expect('');
  return c;
}

/** A parsed file written back as the kernel prints it (byte for byte for what `parsePercpuStats` read): the one writer. */
export const formatPercpuStats: (s: PercpuStatsFile) => string = writePercpuStats;

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
    const where = `chunk #${k + 1} (${CHUNK_HEADER[c.kind]}, line ${c.line})`;
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
