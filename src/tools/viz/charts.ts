// SPDX-License-Identifier: GPL-2.0-only
/**
 * Small SVG charts for reports: grouped bar charts (time per phase per
 * allocator, log scale when values span decades) and line charts (metadata
 * bytes as objects accumulate). Plain SVG strings, no dependencies, readable
 * without scripts; every bar and point carries a tooltip with its value, and
 * every chart its legend. Text is escaped by markup.ts's `escapeText`.
 */
import { escapeText } from './markup.js';

export interface BarSeries {
  name: string;
  /** One value per category; `undefined` = not measured (drawn as a gap). */
  values: (number | undefined)[];
  /** Fill colour; the palette's next colour when absent. */
  color?: string;
}

export interface BarChartOptions {
  title: string;
  unit: string;
  categories: string[];
  series: BarSeries[];
  log?: boolean;
  width?: number;
  height?: number;
}

export const PALETTE = ['#3b6fb6', '#e08a1e', '#2e9e5b', '#a34fb5', '#d64545', '#6b6b6b', '#1aa3a3'];

const esc = escapeText;

function fmt(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** Ticks for a linear axis up to `max`, or powers of ten for a log axis. */
function ticks(min: number, max: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) out.push(10 ** e);
    return out;
  }
  const step = 10 ** Math.floor(Math.log10(max / 2 || 1));
  const out: number[] = [];
  for (let t = 0; t <= max * 1.0001; t += step) out.push(t);
  return out;
}

export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 900;
  const height = o.height ?? 320;
  const left = 64;
  const bottom = 56;
  const top = 28;
  const plotW = width - left - 150;
  const plotH = height - top - bottom;
  const vals = o.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined && v > 0));
  const max = Math.max(...vals, 1e-9);
  const min = Math.min(...vals, max);
  const log = o.log ?? max / Math.max(min, 1e-9) > 50;
  const lo = log ? 10 ** Math.floor(Math.log10(min)) : 0;
  const hi = log ? 10 ** Math.ceil(Math.log10(max)) : max * 1.1;
  const y = (v: number) => top + plotH - (log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : v / hi) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11" class="chart">`);
  parts.push(`<text x="${left}" y="16" font-size="13" font-weight="bold">${esc(o.title)}</text>`);
  for (const t of ticks(log ? lo : 0, hi, log)) {
    if (log && (t < lo || t > hi)) continue;
    const ty = y(Math.max(t, log ? lo : 0)).toFixed(1);
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${ty}" y2="${ty}" stroke="#ddd"/><text x="${left - 4}" y="${ty}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  parts.push(`<text x="12" y="${top + plotH / 2}" transform="rotate(-90 12 ${top + plotH / 2})" text-anchor="middle">${esc(o.unit)}${log ? ' (log scale)' : ''}</text>`);
  const groupW = plotW / o.categories.length;
  const barW = Math.max(2, (groupW * 0.8) / o.series.length);
  o.categories.forEach((cat, ci) => {
    const gx = left + ci * groupW + groupW * 0.1;
    o.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === undefined || v <= 0) return;
      const by = y(Math.max(v, log ? lo : 0));
      parts.push(`<rect x="${(gx + si * barW).toFixed(1)}" y="${by.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(top + plotH - by).toFixed(1)}" fill="${s.color ?? PALETTE[si % PALETTE.length]}"><title>${esc(s.name)}, ${esc(cat)}: ${fmt(v)} ${esc(o.unit)}</title></rect>`);
    });
    parts.push(`<text x="${(gx + (groupW * 0.8) / 2).toFixed(1)}" y="${top + plotH + 14}" text-anchor="middle">${esc(cat)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  o.series.forEach((s, si) => {
    parts.push(`<rect x="${left + plotW + 16}" y="${top + si * 16}" width="10" height="10" fill="${s.color ?? PALETTE[si % PALETTE.length]}"/><text x="${left + plotW + 30}" y="${top + si * 16 + 9}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface LineSeries {
  name: string;
  points: [number, number][];
  /** Stroke colour; the palette's next colour when absent. */
  color?: string;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  logY?: boolean;
  width?: number;
  height?: number;
}

export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 900;
  const height = o.height ?? 320;
  const left = 72;
  const bottom = 44;
  const top = 28;
  const plotW = width - left - 170;
  const plotH = height - top - bottom;
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v > 0);
  const xMax = Math.max(...xs, 1);
  const yMax = Math.max(...ys, 1);
  const yMin = Math.min(...ys, yMax);
  const log = o.logY ?? yMax / Math.max(yMin, 1) > 50;
  const lo = log ? 10 ** Math.floor(Math.log10(Math.max(yMin, 1))) : 0;
  const hi = log ? 10 ** Math.ceil(Math.log10(yMax)) : yMax * 1.1;
  const px = (v: number) => left + (v / xMax) * plotW;
  const py = (v: number) => top + plotH - (log ? (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : v / hi) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11" class="chart">`);
  parts.push(`<text x="${left}" y="16" font-size="13" font-weight="bold">${esc(o.title)}</text>`);
  for (const t of ticks(log ? lo : 0, hi, log)) {
    const ty = py(t).toFixed(1);
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${ty}" y2="${ty}" stroke="#ddd"/><text x="${left - 4}" y="${ty}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const v = (xMax * i) / 4;
    parts.push(`<text x="${px(v).toFixed(1)}" y="${top + plotH + 14}" text-anchor="middle">${fmt(v)}</text>`);
  }
  parts.push(`<text x="${left + plotW / 2}" y="${height - 6}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  parts.push(`<text x="12" y="${top + plotH / 2}" transform="rotate(-90 12 ${top + plotH / 2})" text-anchor="middle">${esc(o.yLabel)}${log ? ' (log scale)' : ''}</text>`);
  o.series.forEach((s, si) => {
    const color = s.color ?? PALETTE[si % PALETTE.length];
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const [x, y] of s.points) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${color}"><title>${esc(s.name)}: ${fmt(x)} → ${fmt(y)}</title></circle>`);
    parts.push(`<rect x="${left + plotW + 16}" y="${top + si * 16}" width="10" height="10" fill="${color}"/><text x="${left + plotW + 30}" y="${top + si * 16 + 9}">${esc(s.name)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push('</svg>');
  return parts.join('\n');
}
