// SPDX-License-Identifier: GPL-2.0-only
/**
 * The `percpu top --report` page, in the layout of the project's HTML report
 * (src/tools/viz/report.ts): live bytes per call site over time as a stacked area,
 * the occupancy of every chunk created during the observation with each page
 * coloured by the call sites that hold it, the fragmentation and leak tables.
 *
 * Every text that comes from the input (call sites, chunk addresses, the
 * source's name) reaches the page through `escapeText` of src/tools/viz/markup.ts — in the
 * tables by the report layout itself, in the SVG here.
 */
import { PALETTE } from '../viz/charts.js';
import { renderReport, type ReportBlock } from '../viz/report.js';
import { escapeText as escapeHtml, html } from '../viz/markup.js';
import type { Fragmentation } from './fragmentation.js';
import type { SiteLedger } from './ledger.js';
import type { LeakReport } from './leaks.js';
import { formatBytes, type HeaderInfo } from './view.js';

const OTHER = '#b9b4a8';
const MAX_SERIES = PALETTE.length;

/** Sites drawn in their own colour: the largest by peak live bytes. */
function topSites(ledger: SiteLedger): number[] {
  const peak = new Float64Array(ledger.sites.length);
  for (const s of ledger.samples) for (let i = 0; i < s.liveBytes.length; i++) peak[i] = Math.max(peak[i]!, s.liveBytes[i]!);
  ledger.sites.forEach((s, i) => (peak[i] = Math.max(peak[i]!, s.liveBytes)));
  return [...peak.keys()].filter((i) => peak[i]! > 0).sort((a, b) => peak[b]! - peak[a]!).slice(0, MAX_SERIES);
}

export function stackedAreaSvg(ledger: SiteLedger): string {
  const width = 900;
  const height = 320;
  const left = 70;
  const right = 230;
  const top = 20;
  const bottom = 40;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const points = ledger.samples.map((s) => ({ time: s.time, live: s.liveBytes }));
  points.push({ time: ledger.now, live: Float64Array.from(ledger.sites, (s) => s.liveBytes) });
  const chosen = topSites(ledger);
  const t0 = ledger.startTime;
  const t1 = Math.max(ledger.now, t0 + 1e-6);
  // Layers bottom-up: chosen sites, then everything else.
  const layers = points.map((p) => {
    const vals = chosen.map((i) => p.live[i] ?? 0);
    let total = 0;
    for (let i = 0; i < p.live.length; i++) total += p.live[i]!;
    vals.push(Math.max(0, total - vals.reduce((a, b) => a + b, 0)));
    return vals;
  });
  const maxY = Math.max(1, ...layers.map((v) => v.reduce((a, b) => a + b, 0)));
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * plotW;
  const y = (v: number) => top + plotH - (v / maxY) * plotH;
  const names = [...chosen.map((i) => ledger.sites[i]!.name), 'other call sites'];
  const colors = [...chosen.map((_, k) => PALETTE[k % PALETTE.length]!), OTHER];
  const parts: string[] = [];
  for (let k = names.length - 1; k >= 0; k--) {
    const upper: string[] = [];
    const lower: string[] = [];
    points.forEach((p, j) => {
      const below = layers[j]!.slice(0, k).reduce((a, b) => a + b, 0);
      upper.push(`${x(p.time).toFixed(1)},${y(below + layers[j]![k]!).toFixed(1)}`);
      lower.push(`${x(p.time).toFixed(1)},${y(below).toFixed(1)}`);
    });
    const last = layers[layers.length - 1]![k]!;
    parts.push(`<polygon points="${upper.join(' ')} ${lower.reverse().join(' ')}" fill="${colors[k]}" fill-opacity="0.85"><title>${escapeHtml(names[k]!)}: ${formatBytes(last)} live at the end</title></polygon>`);
  }
  const axis: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (maxY * i) / 4;
    axis.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${formatBytes(v)}</text>`);
    const t = t0 + ((t1 - t0) * i) / 4;
    axis.push(`<text x="${x(t)}" y="${top + plotH + 16}" text-anchor="middle" font-size="11">${(t - t0).toFixed(t1 - t0 < 10 ? 2 : 0)} s</text>`);
  }
  const legend = names.map((n, k) => `<rect x="${left + plotW + 12}" y="${top + k * 18}" width="12" height="12" fill="${colors[k]}"/><text x="${left + plotW + 30}" y="${top + k * 18 + 10}" font-size="11">${escapeHtml(n.length > 30 ? n.slice(0, 29) + '…' : n)}</text>`);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">` +
    `<text x="${left}" y="14" font-size="12" font-weight="600">live bytes per call site (allocated during the observation, per unit)</text>` +
    axis.join('') +
    parts.join('') +
    legend.join('') +
    `<text x="${left + plotW / 2}" y="${height - 6}" text-anchor="middle" font-size="11">time since the start of the observation</text></svg>`
  );
}

/** One chunk as a grid of pages; each page's live bytes stacked by call site, pinned pages outlined red. */
export function chunkOccupancySvg(f: Fragmentation, chunkIndex: number, colorOf: (site: number) => string): string {
  const ch = f.chunks[chunkIndex]!;
  const cols = 32;
  const cell = 22;
  const rows = Math.ceil(ch.pages / cols);
  const width = cols * cell + 10;
  const height = rows * cell + 34;
  // Bytes per (page, site) from the chunk's live objects.
  const perPage = new Map<number, Map<number, number>>();
  const granule = (s: number) => Math.max(4, (s + 3) & ~3);
  const sizes = ch.objectSizes;
  const offs = ch.objectOffsets;
  for (let k = 0; k < ch.objects.length; k++) {
    const a = offs[k]!;
    const b = a + granule(sizes[k]!);
    const site = ch.objectSite[k]!;
    for (let p = Math.floor(a / f.pageSize); p * f.pageSize < b; p++) {
      let m = perPage.get(p);
      if (!m) perPage.set(p, (m = new Map()));
      m.set(site, (m.get(site) ?? 0) + Math.min(b, (p + 1) * f.pageSize) - Math.max(a, p * f.pageSize));
    }
  }
  const out: string[] = [];
  for (let p = 0; p < ch.pages; p++) {
    const cx = 5 + (p % cols) * cell;
    const cy = 24 + Math.floor(p / cols) * cell;
    const bytes = ch.pageBytes[p]!;
    const pinned = bytes > 0 && bytes <= f.sparseBytes;
    const m = perPage.get(p);
    const tip = m ? [...m].sort((a, b) => b[1] - a[1]).map(([s, b]) => `${f.siteNames[s]}: ${b} B`).join('\n') : 'no live object';
    out.push(`<g><title>${escapeHtml(`page ${p}: ${bytes} B live${pinned ? ' (pinned)' : ''}\n${tip}`)}</title>`);
    out.push(`<rect x="${cx}" y="${cy}" width="${cell - 2}" height="${cell - 2}" fill="#f4f1ea" stroke="${pinned ? '#d62728' : '#d9d3c7'}" stroke-width="${pinned ? 2 : 1}"/>`);
    if (m) {
      // Stacked from the bottom: each site's share of the page's bytes.
      let acc = 0;
      for (const [site, b] of [...m].sort((a, b2) => b2[1] - a[1])) {
        const h = Math.max(1, (b / f.pageSize) * (cell - 4));
        out.push(`<rect x="${cx + 1}" y="${(cy + cell - 3 - acc - h).toFixed(1)}" width="${cell - 4}" height="${h.toFixed(1)}" fill="${colorOf(site)}"/>`);
        acc += h;
      }
    }
    out.push('</g>');
  }
  const title = `chunk #${ch.number} (${ch.base}): ${ch.liveObjects} objects, ${formatBytes(ch.liveBytes)} on ${ch.pagesInUse} of ${ch.pages} pages, ${ch.pinnedPages} pinned${ch.keptAliveByFew ? ' — kept alive by a few small objects' : ''}${ch.destroyed ? ' — destroyed' : ''}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif"><text x="5" y="14" font-size="12" font-weight="600">${escapeHtml(title)}</text>${out.join('')}</svg>`;
}

export function renderTopReport(ledger: SiteLedger, f: Fragmentation, leaks: LeakReport, info: HeaderInfo): string {
  const chosen = topSites(ledger).map((i) => ledger.sites[i]!.name);
  const colorByName = new Map(chosen.map((n, k) => [n, PALETTE[k % PALETTE.length]!]));
  const colorOf = (site: number) => colorByName.get(f.siteNames[site]!) ?? OTHER;
  const rows = ledger.sites
    .map((s, i) => ({ s, r: ledger.rates(info.windowSec)[i]! }))
    .sort((a, b) => b.s.liveBytes - a.s.liveBytes)
    .slice(0, 40)
    .map(({ s, r }) => [s.name, s.liveBytes, s.liveObjects, r.growthBytesPerSec.toFixed(1), s.allocs, s.frees, s.fails, s.atomic]);
  const t = f.totals;
  const fragRows = f.sites
    .filter((s) => s.objects > 0)
    .slice(0, 40)
    .map((s) => [s.name, s.objects, s.bytes, s.objectsOnPinned, s.bytesOnPinned, s.pinnedPagesAlone, s.pinnedPagesShared, s.chunksAlone, s.chunksShared]);
  const chunkRows = f.chunks.map((c) => [`#${c.number}`, c.base, c.creator, c.liveObjects, c.liveBytes, `${c.pagesInUse}/${c.pages}`, c.pagesTouched, c.pinnedPages, c.destroyed ? 'destroyed' : c.keptAliveByFew ? 'kept alive by a few small objects' : c.liveObjects === 0 ? 'empty' : 'in use']);
  const occupancy: ReportBlock[] = f.chunks
    .filter((c) => !c.destroyed)
    .slice(0, 24)
    .map((c) => ({ kind: 'svg', svg: chunkOccupancySvg(f, f.chunks.indexOf(c), colorOf), caption: `Chunk #${c.number}: pages by live bytes, stacked by call site` }));
  const saved = t.pagesInUse - f.compacted.pages;
  const summary = html`<p>${t.chunksAlive} chunk(s) created during the observation are alive, holding ${formatBytes(t.liveBytes)} in ${t.liveObjects} objects on ${t.pagesInUse} pages per unit (${formatBytes(t.pagesInUse * f.bytesPerPage)} of memory over ${f.nrUnits} unit(s)). Packed densely they would need ${f.compacted.pages} page(s)${f.compacted.chunks !== undefined ? ` in ${f.compacted.chunks} chunk(s)` : ''}: fragmentation costs ${saved} page(s), ${formatBytes(saved * f.bytesPerPage)}. ${t.pinnedPages} page(s) hold at most ${f.sparseBytes} B of live objects; ${t.chunksKeptAliveByFew} chunk(s) are kept alive only by such pages.</p>${f.notes.map((n) => html`<p>${n}</p>`)}`;
  const leakRows = leaks.groups.slice(0, 40).map((g) => [g.site, g.objects, g.bytes, g.newestSec.toFixed(2), g.oldestSec.toFixed(2), g.sizes.map(([s, n]) => `${s}×${n}`).join(' ')]);
  return renderReport({
    title: 'percpu top',
    subtitle: `${info.source}: ${ledger.duration.toFixed(2)} s, ${ledger.events} events, ${ledger.chunksCreated} chunk(s) created`,
    sections: [
      {
        id: 'sites',
        title: 'Call sites',
        blocks: [
          { kind: 'svg', svg: stackedAreaSvg(ledger), caption: 'Live percpu bytes per call site over the observation' },
          { kind: 'table', caption: 'Live percpu memory per call site (objects allocated during the observation; bytes per unit)', head: ['call site', 'live bytes', 'objects', 'growth B/s', 'allocs', 'frees', 'failed', 'atomic'], rows },
        ],
      },
      {
        id: 'fragmentation',
        title: 'Fragmentation',
        blocks: [
          { kind: 'text', html: summary },
          { kind: 'table', caption: 'Who keeps pages and chunks alive', head: ['call site', 'objects', 'bytes', 'objects on pinned pages', 'bytes on pinned pages', 'pinned pages alone', 'pinned pages shared', 'chunks alone', 'chunks shared'], rows: fragRows },
          { kind: 'table', caption: 'Chunks created during the observation', head: ['chunk', 'base_addr', 'created by', 'objects', 'bytes', 'pages in use', 'pages touched', 'pinned pages', 'state'], rows: chunkRows },
        ],
      },
      {
        id: 'occupancy',
        title: 'Chunk occupancy',
        blocks: [{ kind: 'text', html: html`<p>One square per page (per unit), filled by the bytes of live objects stacked by call site; a red outline marks a pinned page. Hover a page for its call sites.</p>` }, ...occupancy],
      },
      {
        id: 'leaks',
        title: 'Outstanding allocations',
        blocks: [{ kind: 'table', caption: `Allocations older than ${leaks.thresholdSec} s at the end`, head: ['call site', 'objects', 'bytes', 'youngest s', 'oldest s', 'sizes'], rows: leakRows }],
      },
    ],
  });
}
