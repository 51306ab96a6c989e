// SPDX-License-Identifier: GPL-2.0-only
/**
 * The HTML report: one self-contained file (inline CSS and SVG, no scripts, no
 * network) with a table of contents, text, tables, percpu_stats texts, chunk
 * maps and charts. Sections are given by the caller; this module lays them out.
 *
 * Text reaches the page only through `markup.ts`: strings in tables, captions
 * and titles are escaped here; prose blocks are `Markup` built with the `html`
 * template (which escapes what it interpolates); SVG comes from the renderers
 * of this folder, which escape every text they draw with the same function.
 * Every figure has a caption, and every figure gets an anchor listed in the
 * table of contents.
 */
import { html, joinMarkup, Markup, type Interpolated } from './markup.js';

export type Cell = string | number | Markup;

export type ReportBlock =
  | { kind: 'text'; html: Markup }
  | { kind: 'table'; head: string[]; rows: Cell[][]; caption: string }
  | { kind: 'pre'; text: string; caption: string }
  /** SVG produced by a renderer of src/tools/viz (chunk maps, charts, legends). */
  | { kind: 'svg'; svg: string; caption: string; className?: string }
  | { kind: 'columns'; blocks: ReportBlock[] }
  /** Prebuilt markup with a caption (e.g. the side-by-side percpu_stats). */
  | { kind: 'figure'; body: Markup; caption: string; className?: string };

export interface ReportSection {
  id: string;
  title: string;
  blocks: ReportBlock[];
}

export interface Report {
  title: string;
  subtitle?: string;
  sections: ReportSection[];
}

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #222; background: #fbfaf7; }
header { padding: 16px 32px; background: #1f3558; color: #fff; }
header h1 { margin: 0 0 4px; font-size: 22px; }
nav.toc { padding: 8px 32px; background: #e9e5dc; }
nav.toc ol { margin: 4px 0; padding-left: 20px; columns: 2; }
nav.toc ol ol { columns: 1; font-size: 13px; }
nav.toc a { color: #1f3558; }
section { padding: 4px 32px 16px; border-bottom: 1px solid #e2ddd2; }
h2 { font-size: 18px; margin: 16px 0 8px; }
table { border-collapse: collapse; margin: 8px 0; background: #fff; }
th, td { border: 1px solid #d9d3c7; padding: 3px 8px; text-align: right; }
th { background: #f0ece3; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 4px 0; }
pre { background: #fff; border: 1px solid #d9d3c7; padding: 8px; font-size: 12px; line-height: 1.3; overflow-x: auto; margin: 0; }
figure { margin: 8px 0 16px; overflow-x: auto; }
figcaption { font-weight: 600; margin-bottom: 4px; }
mark { background: #ffe08a; }
.columns { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
.columns > * { flex: 1 1 0; min-width: 300px; }
.note { color: #555; }
`;

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60) || 'x';
}

/** Lays out one report; figure anchors are unique within it. */
class Layout {
  private readonly used = new Set<string>();
  readonly figures: { id: string; caption: string }[] = [];

  anchor(section: string, caption: string): string {
    const base = `${section}-${slug(caption)}`;
    let id = base;
    for (let i = 2; this.used.has(id); i++) id = `${base}-${i}`;
    this.used.add(id);
    this.figures.push({ id, caption });
    return id;
  }

  block(section: string, b: ReportBlock): Markup {
    switch (b.kind) {
      case 'text':
        return html`<div class="text">${b.html}</div>`;
      case 'table': {
        const id = this.anchor(section, b.caption);
        const head = html`<tr>${b.head.map((h) => html`<th>${h}</th>`)}</tr>`;
        const rows = b.rows.map((r) => html`<tr>${r.map((c) => html`<td>${c as Interpolated}</td>`)}</tr>\n`);
        return html`<table id="${id}"><caption>${b.caption}</caption>${head}\n${rows}</table>`;
      }
      case 'pre': {
        const id = this.anchor(section, b.caption);
        return html`<figure id="${id}"><figcaption>${b.caption}</figcaption><pre>${b.text}</pre></figure>`;
      }
      case 'svg': {
        const id = this.anchor(section, b.caption);
        // The renderers' SVG is inserted as drawn (it escapes its own text); an XML prolog is dropped.
        const svg = new Markup(b.svg.replace(/^<\?xml[^>]*>/, ''));
        return html`<figure id="${id}" class="${b.className ?? 'svg'}"><figcaption>${b.caption}</figcaption>${svg}</figure>`;
      }
      case 'figure': {
        const id = this.anchor(section, b.caption);
        return html`<figure id="${id}" class="${b.className ?? 'figure'}"><figcaption>${b.caption}</figcaption>${b.body}</figure>`;
      }
      case 'columns':
        return html`<div class="columns">${b.blocks.map((x) => html`<div>${this.block(section, x)}</div>`)}</div>`;
    }
  }
}

export function renderReport(r: Report): string {
  const layout = new Layout();
  const toc: Markup[] = [];
  const body: Markup[] = [];
  for (const section of r.sections) {
    const s = { ...section, id: slug(section.id) };
    const start = layout.figures.length;
    const blocks = s.blocks.map((b) => layout.block(s.id, b));
    const figs = layout.figures.slice(start);
    const sub = figs.length > 1 ? html`<ol>${figs.map((f) => html`<li><a href="#${f.id}">${f.caption}</a></li>`)}</ol>` : html``;
    toc.push(html`<li><a href="#${s.id}">${s.title}</a>${sub}</li>`);
    body.push(html`<section id="${s.id}"><h2>${s.title}</h2>\n${joinMarkup(blocks, '\n')}\n</section>`);
  }
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${r.title}</title><style>${new Markup(CSS)}</style></head>
<body><header><h1>${r.title}</h1>${r.subtitle !== undefined ? html`<div>${r.subtitle}</div>` : ''}</header>
<nav class="toc" id="contents"><strong>Contents</strong><ol>${toc}</ol></nav>
${joinMarkup(body, '\n')}
</body></html>
`.toString();
}
