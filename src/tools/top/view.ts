// SPDX-License-Identifier: GPL-2.0-only
/**
 * The text and JSON views of `percpu top` and `percpu leaks`: one rendering for
 * the live screen, `--once` and a recorded trace, so that all of them show the
 * same thing. Colours are applied through a `Style` that is a no-op unless the
 * caller enabled it (a TTY, and NO_COLOR unset).
 */
import { bucketBounds, type LeakReport } from './leaks.js';
import type { Fragmentation, SiteCost } from './fragmentation.js';
import type { SiteLedger, SiteRates } from './ledger.js';

export const SORT_KEYS = ['bytes', 'objects', 'growth', 'allocs', 'frees', 'fails', 'atomic', 'site'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
/** Interactive key → sort key. */
export const SORT_BY_KEY: Readonly<Record<string, SortKey>> = { b: 'bytes', o: 'objects', g: 'growth', a: 'allocs', f: 'frees', x: 'fails', t: 'atomic', s: 'site' };

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  inverse(s: string): string;
}

export function makeStyle(color: boolean): Style {
  const w = (code: string) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: w('1'), dim: w('2'), red: w('31'), green: w('32'), yellow: w('33'), inverse: w('7') };
}

/** Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function colorWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '');
}

export function formatBytes(n: number): string {
  const a = Math.abs(n);
  const sign = n < 0 ? '-' : '';
  if (a < 1024) return `${sign}${Math.round(a)} B`;
  if (a < 1024 * 1024) return `${sign}${(a / 1024).toFixed(a < 10240 ? 1 : 0)} KiB`;
  if (a < 1024 ** 3) return `${sign}${(a / 1024 / 1024).toFixed(a < 10 * 1024 * 1024 ? 2 : 1)} MiB`;
  return `${sign}${(a / 1024 ** 3).toFixed(2)} GiB`;
}

function rate(n: number): string {
  if (n === 0) return '0';
  const a = Math.abs(n);
  return a >= 100 ? n.toFixed(0) : a >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function pad(s: string, w: number, left = false): string {
  if (s.length >= w) return s;
  return left ? s + ' '.repeat(w - s.length) : ' '.repeat(w - s.length) + s;
}

function clip(s: string, w: number): string {
  return s.length <= w ? s : s.slice(0, Math.max(1, w - 1)) + '…';
}

export interface SiteRow {
  name: string;
  liveBytes: number;
  liveObjects: number;
  growthBytesPerSec: number;
  allocsPerSec: number;
  freesPerSec: number;
  allocs: number;
  frees: number;
  fails: number;
  atomic: number;
}

export function siteRows(ledger: SiteLedger, rates: SiteRates[], sort: SortKey): SiteRow[] {
  const rows = ledger.sites.map((s, i) => ({
    name: s.name,
    liveBytes: s.liveBytes,
    liveObjects: s.liveObjects,
    growthBytesPerSec: rates[i]?.growthBytesPerSec ?? 0,
    allocsPerSec: rates[i]?.allocsPerSec ?? 0,
    freesPerSec: rates[i]?.freesPerSec ?? 0,
    allocs: s.allocs,
    frees: s.frees,
    fails: s.fails,
    atomic: s.atomic,
  }));
  const key: Record<SortKey, (r: SiteRow) => number> = {
    bytes: (r) => r.liveBytes,
    objects: (r) => r.liveObjects,
    growth: (r) => r.growthBytesPerSec,
    allocs: (r) => r.allocsPerSec,
    frees: (r) => r.freesPerSec,
    fails: (r) => r.fails,
    atomic: (r) => r.atomic,
    site: () => 0,
  };
  const k = key[sort];
  return rows.sort((a, b) => k(b) - k(a) || b.liveBytes - a.liveBytes || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface HeaderInfo {
  source: string;
  /** `top` (default) or `leaks`: the header's name. */
  command?: string;
  /** Kernel ring-buffer overruns (per_cpu/cpuN/stats), -1 unknown. */
  overrun?: number;
  /** Events the kernel's ring buffer refused while full (`dropped events`), -1 unknown. */
  dropped?: number;
  /** Events still in the kernel's buffer when the session ended. */
  unread?: number;
  windowSec?: number;
  note?: string;
  /** A live session's own cost: CPU of percpu top itself (% of one CPU) and events read per second. */
  self?: { cpuPercent: number; eventsPerSec: number };
}

export function renderHeader(ledger: SiteLedger, info: HeaderInfo, style: Style): string[] {
  const dur = ledger.duration;
  const evRate = dur > 0 ? ledger.events / dur : 0;
  const lines = [
    style.bold(`percpu ${info.command ?? 'top'} — ${info.source}`) + `   ${dur.toFixed(1)} s observed, ${ledger.events} events (${rate(evRate)}/s)` + (info.command === 'leaks' ? '' : info.windowSec !== undefined ? `, rates over the last ${info.windowSec} s` : ', rates over the whole observation'),
    `live since start: ${formatBytes(ledger.liveBytes)} in ${ledger.liveObjects} objects   allocs ${ledger.allocs}  frees ${ledger.frees} (${ledger.olderFrees} of older objects)  ` +
      `failed ${ledger.fails}  chunks +${ledger.chunksCreated} -${ledger.chunksDestroyed}`,
  ];
  const warn: string[] = [];
  if (ledger.lostMarkers > 0) warn.push(`the trace marks ${ledger.lostMarkers} gap(s) of lost events${ledger.lostEvents > 0 ? ` (${ledger.lostEvents} events)` : ''}`);
  if (info.overrun !== undefined && info.overrun > 0) warn.push(`the kernel's ring buffer overwrote ${info.overrun} event(s) before they were read (per_cpu/cpuN/stats overrun; a larger --buffer-kb helps)`);
  if (info.dropped !== undefined && info.dropped > 0) warn.push(`the kernel dropped ${info.dropped} event(s) (per_cpu/cpuN/stats)`);
  if (ledger.lostFrees > 0) warn.push(`${ledger.lostFrees} free event(s) proven lost`);
  if (warn.length > 0) lines.push(style.red(`WARNING: ${warn.join('; ')}: counts are incomplete`));
  else if (info.overrun === 0) lines.push(style.dim('no event lost (kernel overrun counters: 0)'));
  if (info.note) lines.push(style.dim(info.note));
  return lines;
}

export function renderSites(rows: SiteRow[], sort: SortKey, limit: number, width: number, style: Style): string[] {
  const cols: [string, SortKey | undefined, number][] = [
    ['LIVE', 'bytes', 10],
    ['OBJS', 'objects', 8],
    ['GROWTH/s', 'growth', 11],
    ['ALLOC/s', 'allocs', 9],
    ['FREE/s', 'frees', 9],
    ['FAIL', 'fails', 6],
    ['ATOMIC', 'atomic', 7],
  ];
  const fixed = cols.reduce((a, c) => a + c[2] + 1, 0);
  const nameW = Math.max(16, Math.min(60, width - fixed - 1));
  const head = cols.map(([h, k, w]) => (k === sort ? style.inverse(pad(h, w)) : pad(h, w))).join(' ') + ' ' + (sort === 'site' ? style.inverse('CALL SITE') : 'CALL SITE');
  const out = [style.bold(head)];
  for (const r of rows.slice(0, limit)) {
    const g = r.growthBytesPerSec;
    const growth = pad(g === 0 ? '0' : `${g > 0 ? '+' : ''}${formatBytes(g)}`, 11);
    const cells = [
      pad(formatBytes(r.liveBytes), 10),
      pad(String(r.liveObjects), 8),
      g > 0 ? style.yellow(growth) : g < 0 ? style.green(growth) : growth,
      pad(rate(r.allocsPerSec), 9),
      pad(rate(r.freesPerSec), 9),
      r.fails > 0 ? style.red(pad(String(r.fails), 6)) : pad(String(r.fails), 6),
      pad(String(r.atomic), 7),
    ];
    out.push(cells.join(' ') + ' ' + clip(r.name, nameW));
  }
  if (rows.length > limit) out.push(style.dim(`… ${rows.length - limit} more call site(s)`));
  return out;
}

const plural = (n: number, one: string, many = one + 's') => `${n} ${n === 1 ? one : many}`;

/** "these 37 objects from alloc_vfsmnt keep 12 pages and one chunk alive" sentences, then the chunk table. */
export function renderFragmentation(f: Fragmentation, limit: number, style: Style): string[] {
  const out: string[] = [];
  const t = f.totals;
  const perPage = formatBytes(f.bytesPerPage);
  out.push(style.bold(`Fragmentation — chunks created during the observation (${f.chunks.length}; ${t.chunksAlive} alive)`));
  if (f.chunks.length === 0) out.push('no chunk was created during the observation, so no chunk state is known exactly');
  else {
    out.push(
      `in use: ${formatBytes(t.liveBytes)} in ${t.liveObjects} objects on ${plural(t.pagesInUse, 'page')} (${formatBytes(t.pagesInUse * f.bytesPerPage)} over ${f.nrUnits} unit(s)); ` +
        `populated: between ${t.pagesInUse} and ${t.pagesTouched} pages`,
    );
    const c = f.compacted;
    const saved = t.pagesInUse - c.pages;
    out.push(
      `compacted, the same objects would need ${plural(c.pages, 'page')}${c.chunks !== undefined ? ` in ${plural(c.chunks, 'chunk')}` : ''} ` +
        `(${formatBytes(c.bytes)} packed): fragmentation costs ${plural(saved, 'page')} = ${formatBytes(saved * f.bytesPerPage)}` +
        (c.chunks !== undefined ? `, ${plural(Math.max(0, t.chunksInUse - c.chunks), 'chunk')}` : ''),
    );
    out.push(
      `${plural(t.pinnedPages, 'page')} held only by ≤ ${f.sparseBytes} B of live objects (${perPage} each); ${plural(t.chunksKeptAliveByFew, 'chunk')} kept alive only by such pages`,
    );
    const who = f.sites.filter((s) => s.objectsOnPinned > 0).slice(0, limit);
    for (const s of who) out.push(`  ${keepSentence(s, style)}`);
    out.push(style.bold(`${pad('CHUNK', 6)} ${pad('BASE', 18, true)} ${pad('OBJS', 7)} ${pad('IN USE', 10)} ${pad('PAGES', 6)} ${pad('TOUCHED', 8)} ${pad('PINNED', 7)} STATE`));
    for (const ch of f.chunks.slice(0, limit)) {
      const state = ch.destroyed ? 'destroyed' : ch.keptAliveByFew ? style.red('kept alive by a few small objects') : ch.liveObjects === 0 ? 'empty' : 'in use';
      out.push(
        `${pad('#' + ch.number, 6)} ${pad(ch.base, 18, true)} ${pad(String(ch.liveObjects), 7)} ${pad(formatBytes(ch.liveBytes), 10)} ${pad(`${ch.pagesInUse}/${ch.pages}`, 6)} ` +
          `${pad(String(ch.pagesTouched), 8)} ${pad(String(ch.pinnedPages), 7)} ${state}${ch.exact ? '' : style.red(` (approximate: free lost, line ${ch.cutLine})`)}`,
      );
    }
    if (f.chunks.length > limit) out.push(style.dim(`… ${f.chunks.length - limit} more chunk(s)`));
  }
  for (const n of f.notes) out.push(style.dim(n));
  return out;
}

/** "37 objects from alloc_vfsmnt (296 B) keep 12 pages and one chunk alive (3 more pages shared with other call sites)". */
export function keepSentence(s: SiteCost, style: Style): string {
  const held: string[] = [];
  if (s.pinnedPagesAlone > 0) held.push(plural(s.pinnedPagesAlone, 'page'));
  if (s.chunksAlone > 0) held.push(s.chunksAlone === 1 ? 'one chunk' : `${s.chunksAlone} chunks`);
  const shared: string[] = [];
  if (s.pinnedPagesShared > 0) shared.push(plural(s.pinnedPagesShared, 'page'));
  if (s.chunksShared > 0) shared.push(plural(s.chunksShared, 'chunk'));
  const who = style.yellow(`${plural(s.objectsOnPinned, 'object')} from ${s.name}`) + ` (${formatBytes(s.bytesOnPinned)})`;
  const one = s.objectsOnPinned === 1;
  if (held.length === 0) return `${who} ${one ? 'shares' : 'share'} ${shared.join(' and ')} with other call sites, which keep ${shared.length === 1 && s.pinnedPagesShared === 1 && s.chunksShared === 0 ? 'it' : 'them'} alive together`;
  return `${who} ${one ? 'keeps' : 'keep'} ${held.join(' and ')} alive${shared.length > 0 ? ` (and ${one ? 'shares' : 'share'} ${shared.join(' and ')} with other call sites)` : ''}`;
}

export function renderLeaks(r: LeakReport, limit: number, style: Style): string[] {
  const out = [
    style.bold(`Outstanding allocations older than ${r.thresholdSec} s`) +
      ` at ${r.now.toFixed(6)} (${r.observedSec.toFixed(1)} s observed): ${formatBytes(r.bytes)} in ${plural(r.objects, 'allocation')} from ${plural(r.groups.length, 'call site')}; ${r.younger} younger not shown`,
  ];
  const bounds = bucketBounds(r.thresholdSec);
  for (const g of r.groups.slice(0, limit)) {
    out.push(`  ${style.yellow(`${formatBytes(g.bytes)} in ${plural(g.objects, 'allocation')}`)} from ${g.site}: ages ${g.newestSec.toFixed(1)}–${g.oldestSec.toFixed(1)} s; sizes ${g.sizes.map(([s, n]) => `${s} B ×${n}`).join(', ')}`);
    const max = Math.max(...g.ages);
    g.ages.forEach((n, i) => {
      if (n === 0) return;
      const lo = bounds[i]!;
      const label = i === bounds.length - 1 ? `≥ ${lo.toPrecision(3)} s` : `${lo.toPrecision(3)}–${bounds[i + 1]!.toPrecision(3)} s`;
      out.push(`      ${pad(label, 18)} ${pad(String(n), 7)} |${'*'.repeat(Math.max(1, Math.round((n / max) * 40)))}`);
    });
  }
  if (r.groups.length > limit) out.push(style.dim(`… ${r.groups.length - limit} more call site(s)`));
  out.push(style.dim('objects allocated before the observation began cannot be aged or seen: only allocations traced here are counted'));
  return out;
}

/** Everything a one-shot `--json` prints. */
export function topJson(ledger: SiteLedger, rows: SiteRow[], info: HeaderInfo, frag: Fragmentation | undefined): unknown {
  return {
    source: info.source,
    observedSec: ledger.duration,
    windowSec: info.windowSec ?? null,
    events: ledger.events,
    allocs: ledger.allocs,
    frees: ledger.frees,
    olderFrees: ledger.olderFrees,
    fails: ledger.fails,
    chunksCreated: ledger.chunksCreated,
    chunksDestroyed: ledger.chunksDestroyed,
    liveBytes: ledger.liveBytes,
    liveObjects: ledger.liveObjects,
    lost: { markers: ledger.lostMarkers, events: ledger.lostEvents, provenLostFrees: ledger.lostFrees, kernelOverrun: info.overrun ?? null, kernelDropped: info.dropped ?? null, kernelUnread: info.unread ?? null },
    self: info.self ?? null,
    sites: rows,
    fragmentation: frag === undefined ? null : fragmentationJson(frag),
  };
}

export function fragmentationJson(f: Fragmentation): unknown {
  return {
    pageSize: f.pageSize,
    unitSize: f.unitSize ?? null,
    nrUnits: f.nrUnits,
    sparseBytes: f.sparseBytes,
    totals: f.totals,
    compacted: f.compacted,
    bytesPerPage: f.bytesPerPage,
    sites: f.sites,
    chunks: f.chunks.map(({ pageBytes, objects, objectSite, objectOffsets, objectSizes, ...c }) => ({ ...c, objectsBySite: countBy(objectSite, f.siteNames) })),
    preexisting: f.preexisting,
    notes: f.notes,
  };
}

function countBy(xs: Int32Array, names: string[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const x of xs) m[names[x]!] = (m[names[x]!] ?? 0) + 1;
  return m;
}
