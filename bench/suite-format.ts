// SPDX-License-Identifier: GPL-2.0-only
/**
 * Text of a `percpu bench` run: the side-by-side table with its ratios
 * (area map / bitmap, ours / kernel C), the cover letter's published numbers
 * next to the kernel's C and ours, metadata as objects accumulate, and the
 * phases over 1.5× the C. Every table renders either aligned for a terminal or
 * as Markdown (docs/BENCHMARKS.md is made of the Markdown form).
 */
import { ALL_ALLOCATORS, type AllocatorName } from './allocators.js';
import type { MetadataSeries, SuiteFile, SuiteResult } from './suite.js';
import { W_SIZES } from './workloads.js';

/** [area map alloc, area map free, bitmap alloc, bitmap free] ms, from kernel spec §10 (the v2 letter = commit 40064aeca35c). */
export const LETTER_WORST: Record<number, [number, number, number, number]> = {
  4: [310, 4770, 490, 70],
  16: [557, 1325, 515, 75],
  64: [436, 273, 610, 80],
  256: [776, 131, 950, 100],
  1024: [3280, 122, 3520, 200],
};
/** The letter's "second half of each page filled" variant, sequential free. */
export const LETTER_HALF: Record<number, [number, number, number, number]> = {
  4: [4118, 4892, 481, 67],
  16: [1651, 1163, 506, 69],
  64: [598, 285, 636, 75],
  256: [771, 158, 892, 90],
  1024: [3034, 160, 3262, 147],
};
/** The letter's aligned case (1 M × 4 B, align 8): 52 minutes against about 16 s. */
export const LETTER_W1X_MS: [number, number] = [52 * 60_000, 16_000];

export function fmtMs(x: number | null | undefined): string {
  if (x === null || x === undefined) return '–';
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a === null || a === undefined || b === null || b === undefined || b <= 0 ? null : a / b;
}

export function fmtRatio(r: number | null): string {
  if (r === null) return '–';
  return r >= 100 ? `${r.toFixed(0)}×` : r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`;
}

/** Rows as an aligned terminal table or Markdown; columns listed in `left` are left-aligned. */
export function renderTable(head: string[], rows: string[][], markdown: boolean, left = 2): string {
  if (markdown) {
    const sep = head.map((_, i) => (i < left ? '---' : '---:'));
    return [head, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < left ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function find(f: SuiteFile, workload: string, kernel: string): SuiteResult | undefined {
  return f.results.find((r) => r.workload === workload && r.kernel === kernel);
}

function workloadsOf(f: SuiteFile): string[] {
  return [...new Set(f.results.map((r) => r.workload))];
}

function allocatorsOf(f: SuiteFile): AllocatorName[] {
  const present = new Set(f.results.map((r) => r.kernel));
  return ALL_ALLOCATORS.filter((a) => present.has(a));
}

/**
 * The main table: one row per workload and allocator. `ours/C` divides by the
 * same profile's C; `4.13/this` (bitmap rows only) is the area map's time over
 * this bitmap profile's, ours next to the C's — the letter's comparison.
 */
export function formatMainTable(f: SuiteFile, markdown: boolean): string {
  const head = ['workload', 'allocator', 'alloc ms', 'free ms', 'C alloc', 'C free', 'ours/C alloc', 'ours/C free', '4.13/this alloc', '(C)', '4.13/this free', '(C)'];
  const rows: string[][] = [];
  for (const w of workloadsOf(f)) {
    const map = find(f, w, '4.13');
    allocatorsOf(f).forEach((name, i) => {
      const r = find(f, w, name);
      if (!r) return;
      const bitmap = name === '4.14' || name === '7.0';
      rows.push([
        i === 0 || markdown ? w : '',
        name + (r.extrapolated ? ' *' : r.allocMs === null ? ' !' : ''),
        fmtMs(r.allocMs),
        fmtMs(r.freeMs),
        fmtMs(r.cAllocMs),
        fmtMs(r.cFreeMs),
        fmtRatio(ratio(r.allocMs, r.cAllocMs)),
        fmtRatio(ratio(r.freeMs, r.cFreeMs)),
        bitmap ? fmtRatio(ratio(map?.allocMs, r.allocMs)) : '',
        bitmap ? fmtRatio(ratio(map?.cAllocMs, r.cAllocMs)) : '',
        bitmap ? fmtRatio(ratio(map?.freeMs, r.freeMs)) : '',
        bitmap ? fmtRatio(ratio(map?.cFreeMs, r.cFreeMs)) : '',
      ]);
    });
  }
  return renderTable(head, rows, markdown);
}

/** Notes of capped and unmeasured rows, one line each. */
export function formatNotes(f: SuiteFile): string[] {
  return f.results.filter((r) => r.note !== undefined).map((r) => `${r.extrapolated ? '*' : r.allocMs === null ? '!' : ' '} ${r.workload} ${r.kernel}: ${r.note}`);
}

/** Worst over the free orders a, b, c of one size (the letter's "worst case"), flagging extrapolated inputs. */
function worst(f: SuiteFile, index: number, kernel: string, phase: 'allocMs' | 'freeMs' | 'cAllocMs' | 'cFreeMs'): { v: number | null; x: boolean } {
  let v: number | null = null;
  let x = false;
  for (const o of ['a', 'b', 'c']) {
    const r = find(f, `W${index}${o}`, kernel);
    const t = r?.[phase] ?? null;
    if (t !== null && (v === null || t > v)) {
      v = t;
      x = r!.extrapolated && (phase === 'allocMs' || phase === 'freeMs');
    }
  }
  return { v, x };
}

function pair(a: { v: number | null; x: boolean }, b: { v: number | null; x: boolean }): string {
  return `${fmtMs(a.v)}${a.x ? '*' : ''} / ${fmtMs(b.v)}${b.x ? '*' : ''}`;
}

/**
 * The letter's table (1 M objects, worst of the three free orders) next to the
 * kernel's C and ours, absolute ms, alloc / free.
 */
export function formatLetterAbsolute(f: SuiteFile, markdown: boolean): string {
  const names = allocatorsOf(f);
  const head = ['size', 'letter map', 'C 4.13', 'letter bitmap', 'C 4.14', 'C 7.0', ...names.map((n) => `ours ${n}`)];
  const rows = W_SIZES.map((size, k) => {
    const i = k + 1;
    const l = LETTER_WORST[size]!;
    return [
      `${size} B`,
      `${l[0]} / ${l[1]}`,
      pair(worst(f, i, '4.13', 'cAllocMs'), worst(f, i, '4.13', 'cFreeMs')),
      `${l[2]} / ${l[3]}`,
      pair(worst(f, i, '4.14', 'cAllocMs'), worst(f, i, '4.14', 'cFreeMs')),
      pair(worst(f, i, '7.0', 'cAllocMs'), worst(f, i, '7.0', 'cFreeMs')),
      ...names.map((n) => pair(worst(f, i, n, 'allocMs'), worst(f, i, n, 'freeMs'))),
    ];
  });
  return renderTable(head, rows, markdown, 1);
}

/** The shape: area map / bitmap per size and phase, the letter's against the C's and ours. */
export function formatLetterRatios(f: SuiteFile, markdown: boolean): string {
  const head = ['size', 'phase', 'letter', 'C 4.13/4.14', 'ours 4.13/4.14', 'C 4.13/7.0', 'ours 4.13/7.0'];
  const rows: string[][] = [];
  W_SIZES.forEach((size, k) => {
    const i = k + 1;
    const l = LETTER_WORST[size]!;
    for (const phase of ['alloc', 'free'] as const) {
      const ours = phase === 'alloc' ? 'allocMs' : 'freeMs';
      const c = phase === 'alloc' ? 'cAllocMs' : 'cFreeMs';
      const r = (a: { v: number | null; x: boolean }, b: { v: number | null; x: boolean }) => fmtRatio(ratio(a.v, b.v)) + (a.x || b.x ? '*' : '');
      rows.push([
        `${size} B`,
        phase,
        fmtRatio(phase === 'alloc' ? l[0] / l[2] : l[1] / l[3]),
        r(worst(f, i, '4.13', c), worst(f, i, '4.14', c)),
        r(worst(f, i, '4.13', ours), worst(f, i, '4.14', ours)),
        r(worst(f, i, '4.13', c), worst(f, i, '7.0', c)),
        r(worst(f, i, '4.13', ours), worst(f, i, '7.0', ours)),
      ]);
    }
  });
  return renderTable(head, rows, markdown, 2);
}

/** The half-filled variant (letter v2) and the aligned W1x case, letter against ours (no C exists for the former). */
export function formatLetterVariants(f: SuiteFile, markdown: boolean): string {
  const names = allocatorsOf(f);
  const one = (w: string, n: string) => {
    const r = find(f, w, n);
    return r ? `${fmtMs(r.allocMs)}${r.extrapolated ? '*' : ''} / ${fmtMs(r.freeMs)}${r.extrapolated ? '*' : ''}` : '–';
  };
  const head = ['workload', 'letter map', 'letter bitmap', 'letter map/bitmap', ...names.map((n) => `ours ${n}`), 'ours 4.13/4.14', 'ours 4.13/7.0'];
  const shape = (w: string, b: string) => {
    const m = find(f, w, '4.13');
    const r = find(f, w, b);
    return `${fmtRatio(ratio(m?.allocMs, r?.allocMs))} / ${fmtRatio(ratio(m?.freeMs, r?.freeMs))}`;
  };
  const rows = W_SIZES.map((size, k) => {
    const l = LETTER_HALF[size]!;
    const w = `W${k + 1}h`;
    return [`${w} (${size} B)`, `${l[0]} / ${l[1]}`, `${l[2]} / ${l[3]}`, `${fmtRatio(l[0] / l[2])} / ${fmtRatio(l[1] / l[3])}`, ...names.map((n) => one(w, n)), shape(w, '4.14'), shape(w, '7.0')];
  });
  rows.push(['W1x (4 B align 8)', `${LETTER_W1X_MS[0]} / –`, `${LETTER_W1X_MS[1]} / –`, `${fmtRatio(LETTER_W1X_MS[0] / LETTER_W1X_MS[1])} / –`, ...names.map((n) => one('W1x', n)), shape('W1x', '4.14'), shape('W1x', '7.0')]);
  return renderTable(head, rows, markdown, 1);
}

function fmtBytes(b: number): string {
  return b.toLocaleString('en-US');
}

/** Metadata after the allocation phase, the oracle's §5 figure beside it, and whether it is flat per chunk. */
export function formatMetadata(series: MetadataSeries[], markdown: boolean): string {
  const head = ['workload', 'allocator', 'objects', 'chunks', 'metadata B', 'oracle §5 B', 'largest chunk B', 'at N/32 B', 'B / object', 'per chunk', 'engine B'];
  const rows = series.map((s) => {
    const last = s.samples[s.samples.length - 1]!;
    const first = s.samples.find((x) => x.objects > 0) ?? last;
    const oracle = s.oracleBytes === null ? '–' : `${fmtBytes(s.oracleBytes)}${s.oracleBytes === last.bytes && s.oracleChunks === last.chunks ? ' (=)' : ' (≠)'}`;
    return [
      `${s.workload} (${s.objectSize} B)`,
      s.kernel,
      String(last.objects),
      String(last.chunks),
      fmtBytes(last.bytes),
      oracle,
      fmtBytes(last.maxChunkBytes),
      fmtBytes(first.bytes),
      (last.bytes / Math.max(1, last.objects)).toFixed(3),
      s.growsPerChunk ? 'grows' : 'flat',
      fmtBytes(last.engineBytes),
    ];
  });
  return renderTable(head, rows, markdown);
}

/** Phases where a kernel profile of ours takes over `limit` times the same profile's C. */
export function misses(f: SuiteFile, limit = 1.5): string[] {
  const out: string[] = [];
  for (const r of f.results) {
    for (const [phase, ours, c] of [
      ['alloc', r.allocMs, r.cAllocMs],
      ['free', r.freeMs, r.cFreeMs],
    ] as const) {
      const q = ratio(ours, c);
      if (q !== null && q > limit) out.push(`${r.workload} ${r.kernel} ${phase}: ${fmtMs(ours)} ms vs C ${fmtMs(c)} ms (${fmtRatio(q)})`);
    }
  }
  return out;
}

/** The whole terminal (or Markdown) report of a run. */
export function formatSuite(f: SuiteFile, markdown = false): string {
  const out: string[] = [];
  const m = f.machine;
  out.push(`percpu bench: ${f.results.length} rows, ${f.runs} run(s) each${f.quick ? ' (quick: N = 16384, W7/W8 their first 10 % of ops, no C numbers)' : ''}; node ${m.node}, ${m.cpu}, ${m.cores} cores; ${f.durationS.toFixed(0)} s`);
  out.push('');
  out.push(formatMainTable(f, markdown));
  const notes = formatNotes(f);
  if (notes.length) {
    out.push('');
    out.push(`* extrapolated (W1x on a kernel profile: power law past ${f.caps.w1xCapS} s per phase; @thi.ng/malloc: whole units timed and scaled linearly past ${f.caps.phaseCapS} s per run); ! not run`);
    out.push(...notes);
  }
  if (!f.quick) {
    out.push('');
    out.push('Cover letter (1 M objects, worst of in-order / reverse / alternating free), alloc / free ms:');
    out.push(formatLetterAbsolute(f, markdown));
    out.push('');
    out.push('Area map / bitmap, the letter against the C and ours:');
    out.push(formatLetterRatios(f, markdown));
  }
  out.push('');
  out.push('Half-filled pages and the aligned case, alloc / free ms:');
  out.push(formatLetterVariants(f, markdown));
  if (f.metadata.length) {
    out.push('');
    out.push('Metadata after the allocation phase ("flat": no chunk\'s metadata changed while it lived, a chunk costs the same empty or full):');
    out.push(formatMetadata(f.metadata, markdown));
  }
  if (!f.quick) {
    const miss = misses(f);
    out.push('');
    out.push(miss.length ? `Over 1.5× the kernel's C (${miss.length} phases):\n  ${miss.join('\n  ')}` : "No phase over 1.5× the kernel's C.");
  }
  return out.join('\n') + '\n';
}
