// SPDX-License-Identifier: GPL-2.0-only
/**
 * What fragmentation costs, checked against chunk states computed by hand from
 * small synthetic traces (page 4096 B, unit 16384 B = 4 pages, 2 units, a page
 * is pinned at ≤ 1024 live bytes), and on a recorded Linux 6.18 trace against
 * the ledger's independent bookkeeping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BatchReader, readTraceBatch } from '../src/tools/top/feed.js';
import { analyzeFragmentation, compactBytes } from '../src/tools/top/fragmentation.js';
import { SiteLedger } from '../src/tools/top/ledger.js';
import { SiteNamer } from '../src/tools/top/sites.js';
import { fixturePath } from '../test-support/fixtures.js';
import { alloc, create, destroy, free, traceText } from '../test-support/synthetic-trace.js';

function batchOf(text: string) {
  const r = new BatchReader('<synthetic>');
  r.push(text);
  return r.take(true);
}

const OPTS = { pageSize: 4096, unitSize: 16384, nrUnits: 2, sparseBytes: 1024 };
const C1 = '00000000000000c1';
const C2 = '00000000000000c2';
const C3 = '00000000000000c3';
const C4 = '00000000000000c4';
const PRE = '0000000000000a00';

const big = 'big_alloc+0x1/0x10';
const sx = 'small_x+0x2/0x10';
const sy = 'small_y+0x3/0x10';

/** The hand-computed scenario of the test below. */
const scenario = traceText([
  // An old chunk: one new object, one free of an object older than the trace.
  alloc(0.5, PRE, 500, 32, { site: 'pre_site+0x1/0x2' }),
  free(0.6, PRE, 1000),
  // C1: two big objects fill pages 0 and 1, small ones sit between big ones on pages 2 and 3.
  create(1.0, C1),
  alloc(1.1, C1, 0, 4096, { site: big }),
  alloc(1.2, C1, 4096, 4096, { site: big }),
  alloc(1.3, C1, 8192, 8, { site: sx }),
  alloc(1.4, C1, 8200, 3000, { site: big }),
  alloc(1.5, C1, 11200, 16, { site: sy }),
  alloc(1.6, C1, 12288, 100, { site: sx, align: 4 }),
  alloc(1.7, C1, 12388, 2000, { site: big, align: 4 }),
  free(2.1, C1, 0),
  free(2.2, C1, 4096),
  free(2.3, C1, 8200),
  free(2.4, C1, 12388),
  // C2: one 40-byte object alone keeps the chunk once its big neighbour is gone.
  create(3.0, C2),
  alloc(3.1, C2, 0, 40, { site: 'solo+0x5/0x10' }),
  alloc(3.2, C2, 64, 8000, { site: big }),
  free(3.3, C2, 64),
  // C3: created, emptied and destroyed: costs nothing.
  create(4.0, C3),
  alloc(4.1, C3, 0, 64, { site: big }),
  free(4.2, C3, 0),
  destroy(4.3, C3),
  // C4: a page filled by four 1 KiB objects is not pinned.
  create(5.0, C4),
  alloc(5.1, C4, 0, 1024, { site: 'dense+0x1/0x2' }),
  alloc(5.2, C4, 1024, 1024, { site: 'dense+0x1/0x2' }),
  alloc(5.3, C4, 2048, 1024, { site: 'dense+0x1/0x2' }),
  alloc(5.4, C4, 3072, 1024, { site: 'dense+0x1/0x2' }),
]);

test('fragmentation: chunk states, pinned pages and their call sites match the hand computation', () => {
  const b = batchOf(scenario);
  const f = analyzeFragmentation(b.trace, new SiteNamer('function', false), OPTS);
  const byBase = new Map(f.chunks.map((c) => [c.base, c]));
  const c1 = byBase.get(C1)!;
  // Live: 8 B (small_x) and 16 B (small_y) on page 2, 100 B (small_x) on page 3.
  assert.deepEqual([...c1.pageBytes], [0, 0, 24, 100]);
  assert.equal(c1.liveObjects, 3);
  assert.equal(c1.liveBytes, 124);
  assert.equal(c1.pagesInUse, 2);
  assert.equal(c1.pagesTouched, 4);
  assert.equal(c1.pinnedPages, 2);
  assert.equal(c1.keptAliveByFew, true);
  assert.equal(c1.exact, true);
  const c2 = byBase.get(C2)!;
  assert.deepEqual([c2.liveObjects, c2.liveBytes, c2.pagesInUse, c2.pagesTouched, c2.pinnedPages, c2.keptAliveByFew], [1, 40, 1, 2, 1, true]);
  const c3 = byBase.get(C3)!;
  assert.equal(c3.destroyed, true);
  const c4 = byBase.get(C4)!;
  assert.deepEqual([c4.liveObjects, c4.liveBytes, c4.pagesInUse, c4.pinnedPages, c4.keptAliveByFew], [4, 4096, 1, 0, false]);

  const site = (n: string) => f.sites.find((s) => s.name === n);
  // small_x: alone on page 3, shares page 2 with small_y; C1 holds two sites, so its chunk is shared.
  assert.deepEqual(site('small_x'), { name: 'small_x', objects: 2, bytes: 108, objectsOnPinned: 2, bytesOnPinned: 108, pinnedPagesAlone: 1, pinnedPagesShared: 1, chunksAlone: 0, chunksShared: 1 });
  assert.deepEqual(site('small_y'), { name: 'small_y', objects: 1, bytes: 16, objectsOnPinned: 1, bytesOnPinned: 16, pinnedPagesAlone: 0, pinnedPagesShared: 1, chunksAlone: 0, chunksShared: 1 });
  assert.deepEqual(site('solo'), { name: 'solo', objects: 1, bytes: 40, objectsOnPinned: 1, bytesOnPinned: 40, pinnedPagesAlone: 1, pinnedPagesShared: 0, chunksAlone: 1, chunksShared: 0 });
  assert.deepEqual(site('dense'), { name: 'dense', objects: 4, bytes: 4096, objectsOnPinned: 0, bytesOnPinned: 0, pinnedPagesAlone: 0, pinnedPagesShared: 0, chunksAlone: 0, chunksShared: 0 });
  assert.equal(site('big_alloc'), undefined, 'a site with no live object in a created chunk costs nothing');
  assert.equal(f.sites[0]!.name, 'solo', 'sorted by chunks kept alive alone first');
  assert.equal(f.sites[1]!.name, 'small_x', 'then by pages kept alive alone');

  assert.deepEqual(f.totals, { chunksAlive: 3, chunksInUse: 3, chunksKeptAliveByFew: 2, liveObjects: 8, liveBytes: 4260, pagesInUse: 4, pagesTouched: 4 + 2 + 1, pinnedPages: 3 });
  // Packed: 4 × 1024 (align 8), 40, 16, 8 (align 8), then 100 (align 4) = 4260 B: 2 pages, 1 chunk.
  assert.deepEqual(f.compacted, { bytes: 4260, pages: 2, chunks: 1 });
  assert.equal(f.bytesPerPage, 8192);
  assert.deepEqual(f.preexisting, { chunks: 1, allocsSeen: 1, liveSeen: 1, liveBytesSeen: 32, freesOfOlder: 1 });
  assert.ok(f.notes.some((n) => /existed before the observation/.test(n) && /cannot be computed/.test(n)));
});

test('fragmentation: a lost free makes the chunk approximate and says where', () => {
  const text = traceText([create(1, C1), alloc(1.1, C1, 0, 64, { site: sx }), alloc(1.2, C1, 0, 64, { site: sy }), alloc(1.3, C1, 64, 64, { site: sy })]);
  const b = batchOf(text);
  const f = analyzeFragmentation(b.trace, new SiteNamer('function', false), OPTS);
  const c = f.chunks[0]!;
  assert.equal(c.exact, false);
  assert.equal(c.cutLine, 4, 'the object whose free is missing, on line 4 of the text');
  // Known state: the first object only; the two later allocations are left out.
  assert.equal(c.liveObjects, 1);
  assert.ok(f.notes.some((n) => /free event was lost \(line 4\).*2 later allocation/.test(n)), f.notes.join('\n'));
  const ledger = new SiteLedger(new SiteNamer('function', false));
  ledger.ingest(b);
  assert.equal(ledger.lostFrees, 1);
});

test('compactBytes: alignment first, 4-byte granules', () => {
  assert.equal(compactBytes([]), 0);
  assert.equal(compactBytes([[1, 1]]), 4);
  assert.equal(compactBytes([[4, 4], [8, 8]]), 12);
  assert.equal(compactBytes([[4, 4], [4, 4], [8, 16]]), 16);
  assert.equal(compactBytes([[3, 4], [64, 64], [5, 8]]), 64 + 8 + 4);
});

test('property: per call site, fragmentation and the ledger agree on the live objects of created chunks', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ free: fc.boolean(), size: fc.integer({ min: 1, max: 3000 }), site: fc.integer({ min: 0, max: 3 }), chunk: fc.integer({ min: 0, max: 1 }) }), { maxLength: 60 }), (ops) => {
      const bases = ['00000000000000d0', '00000000000000d1'];
      const lines = [create(0, bases[0]!), create(0, bases[1]!)];
      const cursor = [0, 0];
      const live: [number, number][][] = [[], []];
      let t = 1;
      for (const op of ops) {
        t += 0.01;
        const c = op.chunk;
        if (op.free && live[c]!.length > 0) {
          const [off] = live[c]!.splice(op.size % live[c]!.length, 1)[0]!;
          lines.push(free(t, bases[c]!, off));
        } else if (cursor[c]! + op.size < 16384) {
          lines.push(alloc(t, bases[c]!, cursor[c]!, op.size, { site: `s${op.site}+0x1/0x2`, align: 4 }));
          live[c]!.push([cursor[c]!, op.size]);
          cursor[c] = cursor[c]! + ((op.size + 3) & ~3);
        }
      }
      const b = batchOf(traceText(lines));
      const namer = new SiteNamer('function', false);
      const ledger = new SiteLedger(namer);
      ledger.ingest(b);
      const f = analyzeFragmentation(b.trace, namer, OPTS);
      for (const s of ledger.sites) {
        const cost = f.sites.find((x) => x.name === s.name);
        assert.equal(cost?.bytes ?? 0, s.liveBytes, s.name);
        assert.equal(cost?.objects ?? 0, s.liveObjects, s.name);
      }
      const expectBytes = live.flat().reduce((a, [, size]) => a + size, 0);
      assert.equal(f.totals.liveBytes, expectBytes);
    }),
    { numRuns: 60 },
  );
});

test('a recorded Linux 6.18 trace: the created chunk plus what was seen in older chunks is what the ledger holds live', async () => {
  const b = await readTraceBatch(fixturePath('top', 'mixed.trace.xz'));
  const namer = new SiteNamer('function', false);
  const ledger = new SiteLedger(namer);
  ledger.ingest(b);
  const f = analyzeFragmentation(b.trace, namer, OPTS);
  assert.ok(f.chunks.length >= 1, 'the workload made the kernel create a chunk');
  // Object by object, in the created chunk: the ledger's own bookkeeping finds the same live objects.
  for (const c of f.chunks.filter((x) => !x.destroyed)) {
    const bySite = new Map<string, number>();
    ledger.forEachLive((site, size, _t, chunk) => {
      if (ledger.chunkBase(chunk) === c.base) bySite.set(ledger.sites[site]!.name, (bySite.get(ledger.sites[site]!.name) ?? 0) + size);
    });
    const expected = new Map<string, number>();
    c.objectSite.forEach((s, k) => expected.set(f.siteNames[s]!, (expected.get(f.siteNames[s]!) ?? 0) + c.objectSizes[k]!));
    assert.deepEqual(bySite, expected);
  }
  assert.equal(f.totals.liveBytes + f.preexisting.liveBytesSeen, ledger.liveBytes);
  assert.equal(f.totals.liveObjects + f.preexisting.liveSeen, ledger.liveObjects);
  for (const c of f.chunks) {
    let sum = 0;
    for (const x of c.pageBytes) sum += x;
    assert.ok(sum >= c.liveBytes && sum < c.liveBytes + 4 * c.liveObjects, 'page bytes are the objects in 4-byte granules');
    assert.ok(c.pinnedPages <= c.pagesInUse && c.pagesInUse <= c.pagesTouched);
  }
  assert.ok(f.compacted.pages <= f.totals.pagesInUse);
});
