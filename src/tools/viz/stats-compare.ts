// SPDX-License-Identifier: GPL-2.0-only
/**
 * percpu_stats of several profiles side by side: profiles whose text is
 * identical are shown once (one column naming all of them), and in each column
 * the lines that another column does not share are highlighted.
 *
 * "Shares" is a line diff: the longest common subsequence of the two texts'
 * lines, so one extra chunk in one text highlights that chunk's lines, not every
 * line after it. Lines compare with their runs of spaces collapsed (4.13 aligns
 * its columns differently from 4.14 and later). The texts are a few hundred
 * lines; the quadratic table is small.
 */
import { html, type Markup } from './markup.js';

export interface StatsText {
  label: string;
  text: string;
}

export interface StatsColumn {
  labels: string[];
  lines: string[];
  /** Per line: true where some other column lacks it. */
  differs: boolean[];
}

/** Lines of `a` that are part of a longest common subsequence with `b`. */
function commonLines(a: string[], b: string[]): boolean[] {
  const n = a.length;
  const m = b.length;
  const len = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      len[i * (m + 1) + j] = a[i] === b[j] ? len[(i + 1) * (m + 1) + j + 1]! + 1 : Math.max(len[(i + 1) * (m + 1) + j]!, len[i * (m + 1) + j + 1]!);
    }
  }
  const inCommon = new Array<boolean>(n).fill(false);
  for (let i = 0, j = 0; i < n && j < m; ) {
    if (a[i] === b[j]) {
      inCommon[i] = true;
      i++;
      j++;
    } else if (len[(i + 1) * (m + 1) + j]! >= len[i * (m + 1) + j + 1]!) i++;
    else j++;
  }
  return inCommon;
}

/** Group identical texts, then mark each column's lines that another column does not share. */
export function compareStats(texts: StatsText[]): StatsColumn[] {
  const groups: { labels: string[]; text: string }[] = [];
  for (const t of texts) {
    const g = groups.find((x) => x.text === t.text);
    if (g) g.labels.push(t.label);
    else groups.push({ labels: [t.label], text: t.text });
  }
  const split = groups.map((g) => g.text.replace(/\n+$/, '').split('\n'));
  const keys = split.map((lines) => lines.map((l) => l.trim().replace(/\s+/g, ' ')));
  return groups.map((g, gi) => {
    const lines = split[gi]!;
    const differs = new Array<boolean>(lines.length).fill(false);
    for (let o = 0; o < groups.length; o++) {
      if (o === gi) continue;
      const common = commonLines(keys[gi]!, keys[o]!);
      for (let i = 0; i < lines.length; i++) if (!common[i]) differs[i] = true;
    }
    return { labels: g.labels, lines, differs };
  });
}

/** The columns as markup: one `<pre>` per distinct text, differing lines in `<mark>`. */
export function statsColumnsMarkup(columns: StatsColumn[]): Markup {
  const col = (c: StatsColumn) => {
    const n = c.differs.filter(Boolean).length;
    const head = `${c.labels.join(', ')}${c.labels.length > 1 ? ' (identical)' : ''}${columns.length > 1 ? ` — ${n} line${n === 1 ? '' : 's'} differ` : ''}`;
    const body = c.lines.map((l, i) => (c.differs[i] ? html`<mark>${l}</mark>\n` : html`${l}\n`));
    return html`<div class="stats-column"><div class="stats-head"><strong>${head}</strong></div><pre>${body}</pre></div>`;
  };
  return html`<div class="columns">${columns.map(col)}</div>`;
}
