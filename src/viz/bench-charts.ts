/**
 * Charts of benchmark results (`percpu bench --json`, recorded in
 * docs/benchmarks.json): time per phase per workload, each allocator next to the
 * kernel's own C where that was measured.
 */
import { barChart, type BarSeries } from './charts.js';

/** The fields of one benchmark row the charts need (extra fields are ignored). */
export interface BenchRow {
  workload: string;
  /** Allocator label: a kernel profile (`4.13`, `4.14`, `7.0`) or another allocator. */
  kernel: string;
  allocMs: number | null;
  freeMs: number | null;
  cAllocMs?: number | null;
  cFreeMs?: number | null;
}

export interface BenchFile {
  results: BenchRow[];
}

function series(rows: BenchRow[], workloads: string[], phase: 'alloc' | 'free'): BarSeries[] {
  const labels = [...new Set(rows.map((r) => r.kernel))];
  const out: BarSeries[] = [];
  for (const label of labels) {
    const pick = (w: string) => rows.find((r) => r.workload === w && r.kernel === label);
    out.push({ name: `${label} (this engine)`, values: workloads.map((w) => pick(w)?.[phase === 'alloc' ? 'allocMs' : 'freeMs'] ?? undefined) });
    const c = workloads.map((w) => pick(w)?.[phase === 'alloc' ? 'cAllocMs' : 'cFreeMs'] ?? undefined);
    if (c.some((v) => v !== undefined && v !== null)) out.push({ name: `${label} kernel C`, values: c.map((v) => v ?? undefined) });
  }
  return out;
}

export function benchmarkCharts(file: BenchFile): string[] {
  const rows = file.results ?? [];
  if (rows.length === 0) return [];
  const workloads = [...new Set(rows.map((r) => r.workload))];
  return (['alloc', 'free'] as const).map((phase) =>
    barChart({
      title: `${phase === 'alloc' ? 'Allocation' : 'Free'} phase per workload`,
      unit: 'ms',
      categories: workloads,
      series: series(rows, workloads, phase),
      width: Math.max(900, workloads.length * 70 + 220),
    }),
  );
}
