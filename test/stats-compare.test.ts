// SPDX-License-Identifier: GPL-2.0-only
/**
 * percpu_stats side by side: identical texts shown once, differing lines (and
 * only those) highlighted, alignment differences ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareStats, statsColumnsMarkup } from '../src/tools/viz/stats-compare.js';

test('identical texts form one column; an extra line and a changed value are the only lines marked', () => {
  const base = ['Global Stats:', '  nr_alloc   :   10', '  nr_chunks  :    2', 'Chunk:', '  free_bytes :  100'];
  const other = ['Global Stats:', '  nr_alloc :  10', '  nr_chunks :  3', '  empty_pop_pages : 1', 'Chunk:', '  free_bytes : 100'];
  const cols = compareStats([
    { label: 'a', text: base.join('\n') + '\n' },
    { label: 'b', text: other.join('\n') + '\n' },
    { label: 'c', text: base.join('\n') + '\n' },
  ]);
  assert.deepEqual(
    cols.map((c) => c.labels),
    [['a', 'c'], ['b']],
  );
  assert.deepEqual(cols[0]!.differs, [false, false, true, false, false]);
  assert.deepEqual(cols[1]!.differs, [false, false, true, true, false, false]);
  const html = statsColumnsMarkup(cols).toString();
  assert.match(html, /a, c \(identical\) — 1 line differ/);
  assert.equal((html.match(/<mark>/g) ?? []).length, 3);
  assert.equal(compareStats([{ label: 'x', text: 'same' }, { label: 'y', text: 'same' }]).length, 1);
});
