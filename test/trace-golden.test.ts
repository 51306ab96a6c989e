// SPDX-License-Identifier: GPL-2.0-only
/**
 * The 77 per-chunk histories recorded from a running Linux 6.18 kernel
 * (fixtures/traces/golden, copied from the shared traces): every one replays
 * through the newest profile with every placement matching — 2,359,613
 * placements in all, the README's count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replayGolden } from '../src/tools/replay/golden.js';
import { listFixtures, loadGolden } from '../test-support/fixtures.js';

test('every per-chunk history of the real traces replays with all placements matching', () => {
  const files = listFixtures('traces', 'golden');
  assert.equal(files.length, 77);
  let placements = 0;
  let matched = 0;
  const failed: string[] = [];
  for (const path of files) {
    const g = loadGolden(path);
    assert.equal(g.header.source, 'kernel-trace', path);
    assert.equal(g.header.mode, 'chunk', path);
    const r = replayGolden(g);
    assert.equal(r.kernel, '7.0', path);
    placements += r.placements;
    matched += r.placementsMatched;
    if (r.firstMismatch !== undefined) failed.push(`${path}: line ${r.firstMismatch.line}: expected ${r.firstMismatch.expected} got ${r.firstMismatch.got}`);
  }
  assert.deepEqual(failed, []);
  assert.equal(placements, 2_359_613);
  assert.equal(matched, placements);
});
