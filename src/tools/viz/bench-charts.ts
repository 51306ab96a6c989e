// SPDX-License-Identifier: GPL-2.0-only
/**
 * Charts of benchmark results (`percpu bench --json`, recorded in
 * docs/benchmarks.json): time per phase per object size (worst of the three
 * free orders, as the cover letter reports), the other workloads, and metadata
 * bytes as objects accumulate. Each allocator of ours is drawn next to the
 * kernel's own C where that was measured.
 *
 * Reads only the fields named below, so older files (the engine bench's, with
 * kernel profiles only and no metadata) still chart.
 */
import { barChart, lineChart, type BarSeries, type LineSeries } from './charts.js';

/** The fields of one benchmark row the charts need (extra fields are ignored). */
export interface BenchRow {
  workload: string;
  /** Allocator label: a kernel profile (`4.13`, `4.14`, `7.0`) or another allocator (`@thi.ng/malloc`, `bump`). */
  kernel: string;
  allocMs: number | null;
  freeMs: number | null;
  cAllocMs?: number | null;
  cFreeMs?: number | null;
  extrapolated?: boolean;
}

export interface BenchMetadataRow {
  workload: string;
  kernel: string;
  objectSize?: number;
  samples: { objects: number; bytes: number }[];
}

export interface BenchFile {
  results: BenchRow[];
  metadata?: BenchMetadataRow[];
}

const KERNELS = ['4.13', '4.14', '7.0'];
/** One colour per allocator, a paler one for the same kernel's C. */
const COLOR: Record<string, string> = {
  '4.13': '#d64545',
  '4.14': '#3b6fb6',
  '7.0': '#2e9e5b',
  '@thi.ng/malloc': '#a34fb5',
  bump: '#6b6b6b',
};
const C_COLOR: Record<string, string> = { '4.13': '#f0a3a3', '4.14': '#a6c0e6', '7.0': '#a3dcb9' };
const SIZES = [4, 16, 64, 256, 1024];

type Phase = 'alloc' | 'free';

function value(r: BenchRow | undefined, phase: Phase, c: boolean): number | undefined {
  if (!r) return undefined;
  const v = c ? (phase === 'alloc' ? r.cAllocMs : r.cFreeMs) : phase === 'alloc' ? r.allocMs : r.freeMs;
  return v === null || v === undefined ? undefined : v;
}

function label(kernel: string): string {
  return KERNELS.includes(kernel) ? `${kernel} (ours)` : kernel;
}

/** Allocators present, kernel profiles first, then the others in file order. */
function allocators(rows: BenchRow[]): string[] {
  const seen = [...new Set(rows.map((r) => r.kernel))];
  return [...KERNELS.filter((k) => seen.includes(k)), ...seen.filter((k) => !KERNELS.includes(k))];
}

/** Bars per category for every allocator of ours, then the C of each kernel that has any. */
function seriesFor(rows: BenchRow[], pick: (kernel: string, c: boolean) => (number | undefined)[]): BarSeries[] {
  const out: BarSeries[] = [];
  for (const k of allocators(rows)) out.push({ name: label(k), values: pick(k, false), ...(COLOR[k] ? { color: COLOR[k] } : {}) });
  for (const k of KERNELS) {
    const c = pick(k, true);
    if (c.some((v) => v !== undefined)) out.push({ name: `${k} kernel C`, values: c, ...(C_COLOR[k] ? { color: C_COLOR[k] } : {}) });
  }
  return out;
}

/** Worst over the free orders a, b, c of W`index` (the letter's "worst case"). */
function worst(rows: BenchRow[], index: number, kernel: string, phase: Phase, c: boolean): number | undefined {
  let v: number | undefined;
  for (const o of ['a', 'b', 'c']) {
    const t = value(
      rows.find((r) => r.workload === `W${index}${o}` && r.kernel === kernel),
      phase,
      c,
    );
    if (t !== undefined && (v === undefined || t > v)) v = t;
  }
  return v;
}

function sizeChart(rows: BenchRow[], phase: Phase): string | undefined {
  const present = SIZES.filter((_, i) => rows.some((r) => r.workload.startsWith(`W${i + 1}`) && /^W[1-5][abc]$/.test(r.workload)));
  if (present.length === 0) return undefined;
  return barChart({
    title: `${phase === 'alloc' ? 'Allocation' : 'Free'} phase, 2^20 objects per size (worst of in-order, reverse, alternating free)`,
    unit: 'ms',
    categories: present.map((s) => `${s} B`),
    series: seriesFor(rows, (k, c) => present.map((s) => worst(rows, SIZES.indexOf(s) + 1, k, phase, c))),
    width: 1000,
    height: 340,
  });
}

function otherChart(rows: BenchRow[], phase: Phase): string | undefined {
  const workloads = [...new Set(rows.map((r) => r.workload))].filter((w) => !/^W[1-5][abc]$/.test(w));
  if (workloads.length === 0) return undefined;
  return barChart({
    title: `${phase === 'alloc' ? 'Allocation' : 'Free'} phase: W6–W8, the aligned case W1x, half-filled pages W1h–W5h`,
    unit: 'ms',
    categories: workloads,
    series: seriesFor(rows, (k, c) => workloads.map((w) => value(rows.find((r) => r.workload === w && r.kernel === k), phase, c))),
    width: Math.max(1000, workloads.length * 80 + 220),
    height: 340,
  });
}

function metadataChart(rows: BenchMetadataRow[], workload: string): string | undefined {
  const mine = rows.filter((r) => r.workload === workload);
  if (mine.length === 0) return undefined;
  const size = mine[0]!.objectSize;
  const series: LineSeries[] = mine.map((r) => ({
    name: label(r.kernel),
    points: r.samples.map((s) => [s.objects, s.bytes] as [number, number]),
    ...(COLOR[r.kernel] ? { color: COLOR[r.kernel] } : {}),
  }));
  return lineChart({
    title: `Metadata bytes (all chunks) as ${size ?? '?'}-byte objects accumulate (${workload})`,
    xLabel: 'objects allocated',
    yLabel: 'metadata bytes',
    series,
    logY: true,
    width: 1000,
    height: 340,
  });
}

/** The charts of docs/BENCHMARKS.md, as [file name, SVG]. */
export function benchSvgFiles(file: BenchFile): [string, string][] {
  const rows = file.results ?? [];
  const out: [string, string][] = [];
  const add = (name: string, svg: string | undefined) => {
    if (svg !== undefined) out.push([name, svg]);
  };
  add('bench-alloc-by-size.svg', sizeChart(rows, 'alloc'));
  add('bench-free-by-size.svg', sizeChart(rows, 'free'));
  add('bench-other-alloc.svg', otherChart(rows, 'alloc'));
  add('bench-other-free.svg', otherChart(rows, 'free'));
  const md = file.metadata ?? [];
  for (const w of [...new Set(md.map((r) => r.workload))]) add(`bench-metadata-${w}.svg`, metadataChart(md, w));
  return out;
}

/** Every chart of a recorded run, for the HTML report. */
export function benchmarkCharts(file: BenchFile): string[] {
  if ((file.results ?? []).length === 0) return [];
  return benchSvgFiles(file).map(([, svg]) => svg);
}
