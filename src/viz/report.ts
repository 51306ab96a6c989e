/**
 * The HTML report: one self-contained file (inline CSS and SVG, no scripts, no
 * network) with a story, tables, percpu_stats texts, chunk maps and charts.
 * Sections are given by the caller; this module only lays them out.
 */

export type ReportBlock =
  | { kind: 'text'; html: string }
  | { kind: 'table'; head: string[]; rows: (string | number)[][]; caption?: string }
  | { kind: 'pre'; text: string; caption?: string }
  | { kind: 'svg'; svg: string; caption?: string; className?: string }
  | { kind: 'columns'; blocks: ReportBlock[] };

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

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #222; background: #fbfaf7; }
header { padding: 20px 32px; background: #1f3558; color: #fff; }
header h1 { margin: 0 0 4px; font-size: 22px; }
nav { padding: 8px 32px; background: #e9e5dc; position: sticky; top: 0; z-index: 1; }
nav a { margin-right: 16px; color: #1f3558; }
section { padding: 8px 32px 24px; border-bottom: 1px solid #e2ddd2; }
h2 { font-size: 18px; margin: 20px 0 8px; }
table { border-collapse: collapse; margin: 8px 0; background: #fff; }
th, td { border: 1px solid #d9d3c7; padding: 3px 8px; text-align: right; }
th { background: #f0ece3; }
td:first-child, th:first-child { text-align: left; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 4px 0; }
pre { background: #fff; border: 1px solid #d9d3c7; padding: 8px; font-size: 12px; overflow-x: auto; }
figure { margin: 8px 0; overflow-x: auto; }
figcaption { font-weight: 600; margin-bottom: 4px; }
.columns { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
.columns > * { flex: 1 1 0; min-width: 320px; }
`;

function block(b: ReportBlock): string {
  switch (b.kind) {
    case 'text':
      return `<div class="text">${b.html}</div>`;
    case 'table': {
      const head = `<tr>${b.head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
      const rows = b.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(String(c))}</td>`).join('')}</tr>`).join('\n');
      return `<table>${b.caption ? `<caption>${escapeHtml(b.caption)}</caption>` : ''}${head}\n${rows}</table>`;
    }
    case 'pre':
      return `<figure>${b.caption ? `<figcaption>${escapeHtml(b.caption)}</figcaption>` : ''}<pre>${escapeHtml(b.text)}</pre></figure>`;
    case 'svg':
      return `<figure class="${b.className ?? 'svg'}">${b.caption ? `<figcaption>${escapeHtml(b.caption)}</figcaption>` : ''}${b.svg.replace(/^<\?xml[^>]*>/, '')}</figure>`;
    case 'columns':
      return `<div class="columns">${b.blocks.map((x) => `<div>${block(x)}</div>`).join('')}</div>`;
  }
}

export function renderReport(r: Report): string {
  const nav = r.sections.map((s) => `<a href="#${escapeHtml(s.id)}">${escapeHtml(s.title)}</a>`).join('');
  const body = r.sections.map((s) => `<section id="${escapeHtml(s.id)}"><h2>${escapeHtml(s.title)}</h2>\n${s.blocks.map(block).join('\n')}\n</section>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(r.title)}</title><style>${CSS}</style></head>
<body><header><h1>${escapeHtml(r.title)}</h1>${r.subtitle ? `<div>${escapeHtml(r.subtitle)}</div>` : ''}</header>
<nav>${nav}</nav>
${body}
</body></html>
`;
}
