// SPDX-License-Identifier: GPL-2.0-only
/**
 * The percpu_stats parser: byte-exact round trips of every real Linux 6.18
 * snapshot and of the engine's own 4.13 / 4.14 / 7.0 output, the 4.13 layout
 * written out by hand from its printf formats, the chunk header kinds, errors
 * that name their line, and the live snapshot's impossible state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { createAllocator } from '../src/engine/allocator.js';
import '../src/engine/area-map.js';
import { ParseError } from '../src/errors.js';
import { formatPercpuStats, geometryFromStats, parsePercpuStats, statsInconsistencies } from '../src/formats/stats-parse.js';
import { fixturePath, listFixtures } from '../test-support/fixtures.js';

const STATS = listFixtures('traces', 'stats').filter((p) => /percpu_stats/.test(p));

test('every real snapshot parses and prints back byte for byte', () => {
  assert.equal(STATS.length, 35);
  for (const path of STATS) {
    const text = readFileSync(path, 'utf8');
    const s = parsePercpuStats(text, basename(path));
    assert.equal(s.layout, '4.14', path);
    assert.equal(formatPercpuStats(s), text, path);
    // The file's own count of chunks matches the sections found.
    assert.equal(s.chunks.length, s.global.nrChunks, path);
  }
});

test('values land in the right fields (b_single2 after the workload)', () => {
  const s = parsePercpuStats(readFileSync(fixturePath('traces', 'stats', 'b_single2.after.percpu_stats.txt'), 'utf8'));
  assert.deepEqual(s.allocInfo, { unitSize: 1048576, staticSize: 185560, reservedSize: 0, dynSize: 31528, atomSize: 2097152, allocSize: 2097152 });
  assert.deepEqual(s.global, {
    nrAlloc: 81234576,
    nrDealloc: 81233138,
    nrCurAlloc: 1438,
    nrMaxAlloc: 1001614,
    nrChunks: 7,
    nrMaxChunks: 63,
    minAllocSize: 4,
    maxAllocSize: 32768,
    emptyPopPages: 111,
  });
  assert.deepEqual(
    s.chunks.map((c) => c.kind),
    ['first', 'chunk', 'sidelined', 'sidelined', 'sidelined', 'sidelined', 'chunk'],
  );
  const fifth = s.chunks[4]!;
  assert.deepEqual(
    [fifth.nrAlloc, fifth.maxAllocSize, fifth.emptyPopPages, fifth.firstBit, fifth.freeBytes, fifth.contigBytes, fifth.sumFrag, fifth.maxFrag, fifth.curMinAlloc, fifth.curMedAlloc, fifth.curMaxAlloc],
    [860, 32768, 0, 6196, 952312, 790208, 162104, 62664, 4, 24, 2288],
  );
  assert.equal(fifth.line, 77);
  assert.deepEqual(geometryFromStats(s), {
    pageSize: 4096,
    unitSize: 1048576,
    nrUnits: 2,
    staticSize: 185560,
    reservedSize: 0,
    dynSize: 31528,
    atomSize: 2097152,
    allocSize: 2097152,
  });
});

test('the live snapshot: a first chunk with 16 free bytes and no free run is flagged; consistent files are not', () => {
  const live = parsePercpuStats(readFileSync(fixturePath('traces', 'stats', 'live-2026-11-25.percpu_stats'), 'utf8'));
  const problems = statsInconsistencies(live);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /Chunk: <- First Chunk, line 25\): free_bytes 16 but contig_bytes 0/);
  const ok = parsePercpuStats(readFileSync(fixturePath('traces', 'stats', 'a_phash_v8.before.percpu_stats.txt'), 'utf8'));
  // That kernel state recurs in every snapshot of the same boot, so only check a count that must hold.
  assert.equal(statsInconsistencies(ok).filter((p) => /nr_alloc values/.test(p)).length, 0);
});

test('the engine\'s own percpu_stats (4.13, 4.14, 7.0) parse and print back byte for byte', () => {
  for (const kernel of ['4.13', '4.14', '7.0']) {
    const a = createAllocator({ kernel, geometry: { unitSize: 65536, staticSize: 9000, reservedSize: 8192, dynSize: 20480 }, backend: 'vm' });
    const ptrs: number[] = [];
    for (let i = 0; i < 3000; i++) ptrs.push(a.alloc(4 + (i % 13) * 4, 4 << (i % 3)));
    for (let i = 0; i < ptrs.length; i += 3) a.free(ptrs[i]!);
    const text = a.formatStats();
    const s = parsePercpuStats(text, kernel);
    assert.equal(s.layout, kernel === '4.13' ? '4.13' : '4.14', kernel);
    assert.equal(formatPercpuStats(s), text, kernel);
    assert.equal(s.chunks[0]!.kind, 'reserved', kernel);
    assert.equal(s.global.nrCurAlloc, 2000, kernel);
    assert.equal(s.global.emptyPopPages === undefined, kernel === '4.13', kernel);
  }
});

/** A 4.13 file written from the kernel's printf formats: "  %-24s: %8lld" and, for globals, "  %-18s: %14llu". */
function text413(): string {
  const L = (n: string, v: number) => `  ${n}${' '.repeat(24 - n.length)}: ${' '.repeat(8 - String(v).length)}${v}\n`;
  const G = (n: string, v: number) => `  ${n}${' '.repeat(18 - n.length)}: ${' '.repeat(14 - String(v).length)}${v}\n`;
  const dashes = '----------------------------------------';
  let t = `Percpu Memory Statistics\nAllocation Info:\n${dashes}\n`;
  t += L('unit_size', 32768) + L('static_size', 4104) + L('reserved_size', 8192) + L('dyn_size', 20472) + L('atom_size', 4096) + L('alloc_size', 32768);
  t += `\nGlobal Stats:\n${dashes}\n`;
  t += G('nr_alloc', 10) + G('nr_dealloc', 3) + G('nr_cur_alloc', 7) + G('nr_max_alloc', 9) + G('nr_chunks', 2) + G('nr_max_chunks', 2) + G('min_alloc_size', 2) + G('max_alloc_size', 400);
  t += `\nPer Chunk Stats:\n${dashes}\n`;
  t += 'Chunk: <- Reserved Chunk\n';
  t += L('nr_alloc', 1) + L('max_alloc_size', 64) + L('free_size', 8128) + L('contig_hint', 8128) + L('sum_frag', 0) + L('max_frag', 0) + L('cur_min_alloc', 64) + L('cur_med_alloc', 64) + L('cur_max_alloc', 64) + '\n';
  t += 'Chunk: <- First Chunk\n';
  t += L('nr_alloc', 6) + L('max_alloc_size', 400) + L('free_size', 19000) + L('contig_hint', 18000) + L('sum_frag', 1000) + L('max_frag', 600) + L('cur_min_alloc', 2) + L('cur_med_alloc', 16) + L('cur_max_alloc', 400) + '\n';
  return t;
}

test('the 4.13 layout: fields, widths, free_size / contig_hint, no empty_pop_pages', () => {
  const t = text413();
  const s = parsePercpuStats(t);
  assert.equal(s.layout, '4.13');
  assert.equal(s.allocInfo.dynSize, 20472);
  assert.equal(s.global.maxAllocSize, 400);
  assert.equal(s.global.emptyPopPages, undefined);
  assert.deepEqual(
    s.chunks.map((c) => [c.kind, c.freeBytes, c.contigBytes, c.firstBit, c.emptyPopPages]),
    [
      ['reserved', 8128, 8128, undefined, undefined],
      ['first', 19000, 18000, undefined, undefined],
    ],
  );
  assert.equal(formatPercpuStats(s), t);
});

test('malformed snapshots are ParseErrors naming the line', () => {
  const good = readFileSync(fixturePath('traces', 'stats', 'b_single.after.percpu_stats.txt'), 'utf8').split('\n');
  const cases: [string, (l: string[]) => void, number, RegExp][] = [
    ['bad title', (l) => (l[0] = 'Percpu Stats'), 1, /expected "Percpu Memory Statistics"/],
    ['field renamed', (l) => (l[5] = l[5]!.replace('reserved_size', 'reservd_size ')), 6, /expected field "reserved_size"/],
    ['value not a number', (l) => (l[14] = l[14]!.replace(/\d+$/, 'x12')), 15, /expected a "nr_cur_alloc" value line/],
    ['padding of another layout', (l) => (l[4] = '  static_size             :   185560'), 5, /padded for the 4.13 layout/],
    ['unknown chunk header', (l) => (l[24] = 'Chunk: <- Second Chunk'), 25, /expected a chunk header/],
    ['truncated', (l) => l.splice(30), 31, /unexpected end of file/],
    ['missing blank line', (l) => l.splice(36, 1), 37, /expected ""/],
  ];
  for (const [what, edit, line, re] of cases) {
    const lines = good.slice();
    edit(lines);
    try {
      parsePercpuStats(lines.join('\n'), 'snap');
      assert.fail(`${what}: no error`);
    } catch (e) {
      assert.ok(e instanceof ParseError, `${what}: ${e}`);
      assert.equal(e.line, line, `${what}: ${e.message}`);
      assert.match(e.message, re, what);
    }
  }
});
