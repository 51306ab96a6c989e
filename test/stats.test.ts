// SPDX-License-Identifier: GPL-2.0-only
/**
 * percpu_stats text: the numbers the spec's vectors give (GV-A, GV-F), the
 * exact line layout of a real Linux 6.18 debugfs file, and the chunk ordering
 * and headers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { HintedBitmapAllocator } from '../src/engine/allocator.js';
import { fixturePath, listFixtures, loadGolden } from '../test-support/fixtures.js';
import { replayGolden } from '../src/tools/replay/golden.js';
import { NULL_PTR } from '../src/engine/pointer.js';
import { Md } from '../src/engine/chunk.js';

/** Fields of one per-chunk section of percpu_stats text, in the order printed. */
function chunkSections(text: string): { header: string; fields: Record<string, number> }[] {
  const out: { header: string; fields: Record<string, number> }[] = [];
  const body = text.split('Per Chunk Stats:\n----------------------------------------\n')[1] ?? '';
  for (const block of body.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l !== '');
    if (lines.length === 0) continue;
    const fields: Record<string, number> = {};
    for (const l of lines.slice(1)) {
      const m = /^  (\S+)\s*: +(-?\d+)$/.exec(l);
      assert.ok(m, `bad line "${l}"`);
      fields[m[1]!] = Number(m[2]);
    }
    out.push({ header: lines[0]!, fields });
  }
  return out;
}

for (const kernel of ['4.14', '7.0']) {
  test(`${kernel}: GV-A ends with the chunk statistics the spec gives`, () => {
    const file = listFixtures('golden', 'spec', kernel).find((p) => p.includes('GV-A.'))!;
    const r = replayGolden(loadGolden(file));
    const [chunk] = chunkSections(r.allocator!.formatStats());
    assert.ok(chunk);
    assert.deepEqual(
      {
        nr_alloc: chunk.fields.nr_alloc,
        first_bit: chunk.fields.first_bit,
        free_bytes: chunk.fields.free_bytes,
        contig_bytes: chunk.fields.contig_bytes,
        sum_frag: chunk.fields.sum_frag,
        max_frag: chunk.fields.max_frag,
        cur_min_alloc: chunk.fields.cur_min_alloc,
        cur_med_alloc: chunk.fields.cur_med_alloc,
        cur_max_alloc: chunk.fields.cur_max_alloc,
      },
      { nr_alloc: 11, first_bit: 14, free_bytes: 30892, contig_bytes: 28656, sum_frag: 2236, max_frag: 1048, cur_min_alloc: 12, cur_med_alloc: 48, cur_max_alloc: 512 },
    );
  });
}

test('4.14: GV-F first chunk boots as the spec says and ends with its statistics', () => {
  const a = new HintedBitmapAllocator({ kernel: '4.14', geometry: { unitSize: 32768, staticSize: 1000, dynSize: 20000 }, backend: 'km' });
  const first = a.first!;
  // Hidden bits [0,250) and [5250,6144): 6 pages, chunk contig 5000@250, block0 774@250, block5 130@0.
  assert.equal(first.nrPages, 6);
  assert.equal(first.mdField(first.nrBlocks, Md.Contig), 5000);
  assert.equal(first.mdField(first.nrBlocks, Md.ContigStart), 250);
  assert.deepEqual([first.mdField(0, Md.Contig), first.mdField(0, Md.ContigStart)], [774, 250]);
  assert.deepEqual([first.mdField(5, Md.Contig), first.mdField(5, Md.ContigStart)], [130, 0]);
  assert.equal(a.emptyPopPages, 4);
  const offs = [
    [4, 4],
    [64, 64],
    [4096, 4096],
    [8, 4],
  ].map(([s, al]) => a.unitOffset(a.alloc(s!, al!)));
  assert.deepEqual(offs, [1000, 1024, 4096, 1004]);
  const [chunk] = chunkSections(a.formatStats());
  assert.equal(chunk!.header, 'Chunk: <- First Chunk');
  assert.deepEqual(
    [chunk!.fields.first_bit, chunk!.fields.free_bytes, chunk!.fields.contig_bytes, chunk!.fields.sum_frag, chunk!.fields.max_frag, chunk!.fields.cur_min_alloc, chunk!.fields.cur_med_alloc, chunk!.fields.cur_max_alloc],
    [253, 15828, 12808, 3020, 3008, 4, 8, 4096],
  );
});

test('7.0 refuses a first chunk below PERCPU_DYNAMIC_EARLY_SIZE (why GV-F has no 7.0 file)', () => {
  assert.throws(() => new HintedBitmapAllocator({ kernel: '7.0', geometry: { unitSize: 32768, staticSize: 1000, dynSize: 20000 } }), { code: 'EINVAL_GEOMETRY' });
});

test('the allocation-info and global sections have the exact layout of a real Linux 6.18 percpu_stats', () => {
  // The machine the real traces come from: unit 1 MiB, static 185560, dyn 31528, atom = alloc = 2 MiB, 2 units.
  const real = readFileSync(fixturePath('stats', 'live-2026-11-25.percpu_stats'), 'utf8');
  const a = new HintedBitmapAllocator({
    kernel: '7.0',
    geometry: { unitSize: 1048576, nrUnits: 2, staticSize: 185560, reservedSize: 0, dynSize: 31528, atomSize: 2097152, allocSize: 2097152 },
  });
  const ours = a.formatStats();
  const realHead = real.split('Global Stats:')[0];
  assert.equal(ours.split('Global Stats:')[0], realHead);
  // Every value line, ours and the kernel's alike: two spaces, name padded to 20, ": ", value right-aligned in 12.
  const valueLine = /^  [a-z_]{1,20} *: [ \d-]{12}$/;
  const realValues = real.split('\n').filter((l) => l.startsWith('  '));
  assert.ok(realValues.length > 20 && realValues.every((l) => valueLine.test(l) && l.length === 36));
  const ourValues = ours.split('\n').filter((l) => l.startsWith('  '));
  for (const l of ourValues) assert.ok(valueLine.test(l) && l.length === 36, `unexpected line shape: "${l}"`);
  // Same field names in the same order in the global section.
  const names = (t: string) => t.split('Global Stats:')[1]!.split('Per Chunk')[0]!.split('\n').filter((l) => l.startsWith('  ')).map((l) => l.split(':')[0]);
  assert.deepEqual(names(ours), names(real));
  assert.equal(chunkSections(ours)[0]!.header, 'Chunk: <- First Chunk');
});

test('the reserved chunk comes first, then the chunks in slot order', () => {
  const a = new HintedBitmapAllocator({ kernel: '7.0', geometry: { unitSize: 65536, staticSize: 8192, reservedSize: 8192, dynSize: 20480 }, backend: 'km', balance: 'none' });
  const text = a.formatStats();
  const headers = chunkSections(text).map((s) => s.header);
  assert.deepEqual(headers, ['Chunk: <- Reserved Chunk', 'Chunk: <- First Chunk']);
  // Fill the first chunk with 16 B objects so a new chunk is needed; it sits in a slot above the first chunk.
  let p = 0;
  while ((p = a.alloc(16, 16)) !== NULL_PTR && a.liveChunks().length < 3);
  const after = chunkSections(a.formatStats()).map((s) => s.header);
  assert.equal(after[0], 'Chunk: <- Reserved Chunk');
  assert.ok(after.includes('Chunk: <- First Chunk'));
  assert.ok(after.includes('Chunk:'));
});
