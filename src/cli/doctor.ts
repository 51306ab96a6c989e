/**
 * `percpu doctor FILE…`: percpu_stats snapshots (saved or `--live`), golden
 * chunk histories and tracefs traces, each checked for what a consistent
 * allocator cannot show, with explanations (see src/doctor.ts).
 */
import { readInputText } from '../io.js';
import { parseGolden } from '../golden/format.js';
import { diagnoseHistory, explainInconsistency, formatDiagnosis } from '../doctor.js';
import { parsePercpuStats, statsInconsistencies, geometryFromStats } from '../trace/stats-parse.js';
import { parseTraceText } from '../trace/parse.js';
import { verifyParsedTrace, formatChunkGolden } from '../trace/verify-trace.js';
import { readLiveStats } from '../trace/live.js';
import { UnsupportedError } from '../errors.js';

export interface DoctorOptions {
  live?: boolean;
  mount?: boolean;
  unitSize?: number;
  /** percpu_stats of the traced machine, for a trace's geometry. */
  stats?: string;
  /** Report every chunk of a trace, not only those where something went stale. */
  all?: boolean;
}

type Kind = 'stats' | 'golden' | 'trace';

function classify(text: string): Kind {
  const head = text.slice(0, 200);
  if (head.startsWith('Percpu Memory Statistics')) return 'stats';
  if (head.startsWith('# percpu-golden')) return 'golden';
  return 'trace';
}

/** Returns the number of findings (inconsistencies, stale hints). */
export function runDoctor(paths: string[], options: DoctorOptions, write: (l: string) => void): number {
  let findings = 0;
  const inputs: { name: string; text: string }[] = [];
  if (options.live) inputs.push({ name: 'live /sys/kernel/debug/percpu_stats', text: readLiveStats({ mount: options.mount ?? false, log: write }) });
  for (const p of paths) inputs.push({ name: p === '-' ? '<stdin>' : p, text: readInputText(p) });
  if (inputs.length === 0) throw new UnsupportedError('nothing to examine: give files (percpu_stats, golden chunk histories, traces) or --live');
  for (const { name, text } of inputs) {
    const kind = classify(text);
    if (kind === 'stats') findings += doctorStats(name, text, write);
    else if (kind === 'golden') {
      const d = diagnoseHistory(parseGolden(text, name));
      formatDiagnosis(d).forEach((l) => write(l));
      if (d.firstStale) findings++;
    } else findings += doctorTrace(name, text, options, write);
    write('');
  }
  write(findings ? `${findings} finding${findings === 1 ? '' : 's'}` : 'nothing found that a consistent allocator could not show');
  return findings;
}

function doctorStats(name: string, text: string, write: (l: string) => void): number {
  const s = parsePercpuStats(text, name);
  const problems = statsInconsistencies(s);
  write(`${name}: percpu_stats (${s.layout === '4.13' ? '4.13' : '4.14 and later'} layout), ${s.chunks.length} chunks, ${s.global.nrCurAlloc} live allocations`);
  if (problems.length === 0) write('  consistent');
  for (const p of problems) {
    write(`  IMPOSSIBLE: ${p}`);
    const why = explainInconsistency(p, s.layout);
    if (why) write(`    why: ${why}`);
  }
  return problems.length;
}

function doctorTrace(name: string, text: string, options: DoctorOptions, write: (l: string) => void): number {
  const trace = parseTraceText(text, name);
  let unitSize = options.unitSize;
  if (unitSize === undefined && options.stats) unitSize = geometryFromStats(parsePercpuStats(readInputText(options.stats), options.stats)).unitSize;
  if (unitSize === undefined) throw new UnsupportedError(`${name}: a trace needs the unit size (--unit-size, or --stats with a percpu_stats of that machine)`);
  const v = verifyParsedTrace(trace, { unitSize, kernel: '7.0' });
  write(`${name}: ${v.verified.length} chunks created during the trace`);
  let findings = 0;
  for (const c of v.verified) {
    const golden = parseGolden(formatChunkGolden(v, c, { unitSize, kernelLabel: '7.0' }), `${name} chunk #${c.instance.number}`);
    const d = diagnoseHistory(golden);
    if (d.firstStale) findings++;
    if (d.firstStale || options.all) formatDiagnosis(d).forEach((l) => write(l));
  }
  if (findings === 0) write('  no chunk hint went stale in these histories');
  return findings;
}
