// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu bench`: the quick run as a user starts it (table structure, a row for
 * every allocator and workload, --json that parses, metadata flat for the
 * bitmap profiles and growing for the 4.13 area map), the metadata sampler
 * against the oracle's §5 byte counts at full size, and the two outsider
 * allocators' contracts. Asserts on bytes and structure, never on times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';
import { ALL_WORKLOADS, FULL_N } from '../bench/workloads.js';
import { ALL_ALLOCATORS, BumpAllocator, ThingPoolAllocator } from '../bench/allocators.js';
import { sampleMetadata, type SuiteFile } from '../bench/suite.js';
import { NULL_PTR } from '../src/engine/pointer.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const UNIT = 2 ** 32;

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CI: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Main-table rows as [workload, allocator], the workload carried down over its continuation rows. */
function mainTableRows(out: string): { head: string; rows: [string, string][] } {
  const lines = out.split('\n');
  const h = lines.findIndex((l) => l.startsWith('workload  allocator'));
  assert.ok(h >= 0, 'the main table header is printed');
  assert.match(lines[h + 1]!, /^-+( +-+)+$/, 'a dashed rule under the header');
  const rows: [string, string][] = [];
  let workload = '';
  for (let i = h + 2; i < lines.length && lines[i]!.trim() !== ''; i++) {
    const l = lines[i]!;
    const first = l.slice(0, 8).trim();
    if (first !== '') workload = first;
    const name = l.slice(10).trim().split(/\s+/)[0]!;
    rows.push([workload, name]);
  }
  return { head: lines[h]!, rows };
}

test('percpu bench --quick: every allocator on every workload, ratios in the header, JSON that parses, metadata flat for the bitmaps', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-bench-'));
  const json = join(dir, 'quick.json');
  const r = run(['bench', '--quick', '--out', json, '--svg', dir]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '', 'no progress bar when not on a terminal');

  const { head, rows } = mainTableRows(r.out);
  for (const col of ['alloc ms', 'free ms', 'C alloc', 'C free', 'ours/C alloc', 'ours/C free', '4.13/this alloc', '4.13/this free']) assert.ok(head.includes(col), `column ${col}`);
  assert.equal(rows.length, ALL_WORKLOADS.length * ALL_ALLOCATORS.length);
  for (const w of ALL_WORKLOADS) {
    for (const a of ALL_ALLOCATORS) assert.ok(rows.some(([rw, ra]) => rw === w && ra === a), `row ${w} ${a}`);
  }
  assert.match(r.out, /^Half-filled pages and the aligned case/m);
  assert.match(r.out, /^Metadata after the allocation phase/m);

  // --from renders the saved run; --json of it parses and carries every row.
  const j = run(['bench', '--from', json, '--json']);
  assert.equal(j.code, 0, j.err);
  const file = JSON.parse(j.out) as SuiteFile;
  assert.equal(file.quick, true);
  assert.equal(file.results.length, ALL_WORKLOADS.length * ALL_ALLOCATORS.length);
  for (const row of file.results) {
    if (row.kernel === '@thi.ng/malloc' && /^W[1-5]h$/.test(row.workload)) {
      assert.equal(row.allocMs, null);
      assert.match(row.note ?? '', /not run/);
    } else {
      assert.equal(typeof row.allocMs, 'number', `${row.workload} ${row.kernel}`);
      assert.equal(typeof row.freeMs, 'number', `${row.workload} ${row.kernel}`);
    }
    assert.equal(row.cAllocMs, null, 'no C numbers at quick sizes');
  }
  assert.deepEqual(JSON.parse(readFileSync(json, 'utf8')), file);

  // Metadata: 3 workloads × 5 allocators, sampled from the empty allocator to N = 16384.
  assert.equal(file.metadata.length, 15);
  const series = (w: string, k: string) => file.metadata.find((m) => m.workload === w && m.kernel === k)!;
  for (const k of ['4.14', '7.0']) {
    for (const w of ['W1a', 'W3a', 'W5a']) assert.equal(series(w, k).growsPerChunk, false, `${w} ${k} flat`);
  }
  // oracle-timings §5: a first chunk of 8 pages costs 2,216 B (4.14) / 2,312 B (7.0), a full 1 MiB chunk 70,664 / 73,736 B.
  for (const [k, first, full] of [
    ['4.14', 2216, 70664],
    ['7.0', 2312, 73736],
  ] as const) {
    for (const s of series('W1a', k).samples) assert.equal(s.bytes, s.chunks === 1 ? first : first + (s.chunks - 1) * full, `W1a ${k} at ${s.objects} objects`);
  }
  const map = series('W1a', '4.13');
  assert.equal(map.growsPerChunk, true);
  const twoChunks = map.samples.filter((s) => s.chunks === 2);
  assert.ok(twoChunks.length >= 2);
  assert.ok(twoChunks.at(-1)!.bytes > twoChunks[0]!.bytes, '4.13 metadata grows with objects at a constant chunk count');
  assert.ok(map.samples.at(-1)!.maxChunkBytes >= 4 * 8192, 'a 4.13 chunk of 8190+ four-byte objects needs a map of at least 8192 ints');
  assert.equal(series('W1a', '@thi.ng/malloc').growsPerChunk, true);
  assert.equal(series('W1a', 'bump').growsPerChunk, false);

  const svgs = readdirSync(dir).filter((f) => f.endsWith('.svg')).sort();
  assert.deepEqual(svgs, ['bench-alloc-by-size.svg', 'bench-free-by-size.svg', 'bench-metadata-W1a.svg', 'bench-metadata-W3a.svg', 'bench-metadata-W5a.svg', 'bench-other-alloc.svg', 'bench-other-free.svg']);
  for (const f of svgs) assert.match(readFileSync(join(dir, f), 'utf8'), /^<svg [^]*<\/svg>\n$/);
});

test('percpu bench: bad options fail before anything runs', () => {
  const r = run(['bench', '--allocators', '4.14,jemalloc']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown allocator "jemalloc"/);
  assert.match(run(['bench', '--only', 'W9']).err, /unknown workload "W9"/);
  assert.match(run(['bench', '--runs', '0']).err, /--runs takes a positive integer/);
});

test('metadata after the full allocation phase equals oracle-timings §5 for every kernel profile', () => {
  const oracle: [string, string, number, number][] = [
    ['W1a', '4.13', 5, 7_405_568],
    ['W1a', '4.14', 5, 284_872],
    ['W1a', '7.0', 5, 297_256],
    ['W3a', '4.13', 65, 8_327_168],
    ['W3a', '4.14', 65, 4_524_712],
    ['W3a', '7.0', 65, 4_721_416],
    ['W5a', '4.13', 1025, 8_389_120],
    ['W5a', '4.14', 1025, 72_362_152],
    ['W5a', '7.0', 1025, 75_507_976],
  ];
  for (const [w, k, chunks, bytes] of oracle) {
    const s = sampleMetadata(k as '4.13', w, FULL_N);
    const last = s.samples.at(-1)!;
    assert.equal(last.objects, FULL_N);
    assert.equal(last.chunks, chunks, `${w} ${k} chunks`);
    assert.equal(last.bytes, bytes, `${w} ${k} bytes`);
    assert.equal(s.growsPerChunk, k === '4.13', `${w} ${k}: a chunk's metadata ${k === '4.13' ? 'grows' : 'stays flat'}`);
  }
});

test('the MemPool wrapper honours every alignment, never overlaps, and frees back to empty units', () => {
  const a = new ThingPoolAllocator(1 << 16);
  /** [pointer as returned, unit base + byte address, size] */
  const live: [number, number, number][] = [];
  const sizes = [4, 12, 100, 3000, 64, 8, 1000, 2, 24, 512];
  const aligns = [4, 8, 16, 32, 64, 128, 256, 4096];
  for (let i = 0; i < 400; i++) {
    const size = sizes[i % sizes.length]!;
    const align = aligns[(i * 7) % aligns.length]!;
    const p = a.alloc(size, align);
    assert.notEqual(p, NULL_PTR);
    // Bit 31 of the offset marks the over-aligned path; the address is below it.
    const addr = (p % UNIT) % 2 ** 31;
    assert.equal(addr % align, 0, `request ${i}: ${size} B align ${align} at ${addr}`);
    assert.ok(addr + size <= 1 << 16, 'inside its unit');
    live.push([p, Math.floor(p / UNIT) * UNIT + addr, size]);
    if (i % 3 === 2) a.free(live.splice(live.length >> 1, 1)[0]![0]);
  }
  const sorted = [...live].sort((x, y) => x[1] - y[1]);
  for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i - 1]![1] + sorted[i - 1]![2] <= sorted[i]![1], 'live objects do not overlap');
  assert.ok(a.pools.length > 1, 'units open as they fill');
  assert.equal(a.alloc(1 << 16, 8), NULL_PTR, 'a request larger than a unit fails');
  for (const [p] of live) a.free(p);
  for (const pool of a.pools) assert.equal(pool.stats().used.count, 0, 'every block went back');
});

test('the bump floor only moves forward, aligned, and opens a unit when one is full', () => {
  const b = new BumpAllocator(4096);
  const p1 = b.alloc(4, 4);
  const p2 = b.alloc(8, 8);
  assert.equal(p1, UNIT + 0);
  assert.equal(p2, UNIT + 8);
  b.free(p1);
  assert.equal(b.alloc(4, 4), UNIT + 16, 'a freed object is never reused');
  assert.equal(b.alloc(4080, 8), 2 * UNIT, 'a request past the unit end opens the next unit');
  assert.equal(b.units, 2);
  assert.equal(b.alloc(8192, 8), NULL_PTR);
  assert.equal(b.live, 3);
});
