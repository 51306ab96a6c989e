// SPDX-License-Identifier: GPL-2.0-only
/**
 * The ledger of `percpu top` and `percpu leaks` on synthetic traces: live bytes
 * per call site, rates over a window, failed and atomic allocations (Linux
 * 6.18's fail event without call_site= included), frees of older objects, lost
 * frees, traces without call sites, symbolisation; the leak report's ages and
 * histogram; live batches joined back into one trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchReader, TraceAccumulator } from '../src/tools/top/feed.js';
import { SiteLedger } from '../src/tools/top/ledger.js';
import { bucketBounds, findLeaks } from '../src/tools/top/leaks.js';
import { functionOf, KernelSymbols, SiteNamer } from '../src/tools/top/sites.js';
import { parseTraceText } from '../src/formats/trace.js';
import { ParseError } from '../src/errors.js';
import { alloc, create, destroy, fail618, free, traceText } from '../test-support/synthetic-trace.js';

const B = '00000000000000b1';

function ledgerOf(text: string, grouping: 'function' | 'site' | 'task' = 'function', options: { sampleStep?: number } = {}) {
  const r = new BatchReader('<synthetic>');
  r.push(text);
  const l = new SiteLedger(new SiteNamer(grouping, false), options);
  l.ingest(r.take(true));
  return l;
}

test('ledger: live bytes and objects per call site, frees of older objects, failed and atomic allocations', () => {
  const l = ledgerOf(
    traceText([
      alloc(1, B, 0, 64, { site: 'a_fn+0x1/0x10' }),
      alloc(1.1, B, 64, 32, { site: 'a_fn+0x7/0x10', atomic: true }),
      alloc(1.2, B, 128, 16, { site: 'b_fn+0x1/0x10 [mod]' }),
      free(1.3, B, 0),
      free(1.4, B, 4000),
      fail618(1.5, 128, { task: 'bpftool' }),
      alloc(1.6, B, 0, 8, { site: 'a_fn+0x1/0x10' }),
    ]),
  );
  const a = l.sites.find((s) => s.name === 'a_fn')!;
  assert.deepEqual([a.liveBytes, a.liveObjects, a.allocs, a.frees, a.atomic, a.allocBytes], [40, 2, 3, 1, 1, 104]);
  const b = l.sites.find((s) => s.name === 'b_fn [mod]')!;
  assert.deepEqual([b.liveBytes, b.liveObjects], [16, 1]);
  assert.equal(l.olderFrees, 1, 'a free of an offset never seen allocated is an object older than the observation');
  assert.equal(l.fails, 1);
  assert.equal(l.sites.find((s) => s.name === 'task:bpftool')!.fails, 1, "6.18's fail event names no call site: it is shown under its task");
  assert.equal(l.liveBytes, 56);
  assert.equal(l.events, 7);
  assert.equal(l.lostFrees, 0);
});

test('ledger: grouping by site keeps offsets apart; by task uses the task', () => {
  const text = traceText([alloc(1, B, 0, 64, { site: 'a_fn+0x1/0x10' }), alloc(1.1, B, 64, 32, { site: 'a_fn+0x7/0x10', task: 'other' })]);
  assert.deepEqual(ledgerOf(text, 'site').sites.map((s) => s.name), ['a_fn+0x1/0x10', 'a_fn+0x7/0x10']);
  assert.deepEqual(ledgerOf(text, 'task').sites.map((s) => s.name), ['task:task', 'task:other']);
});

test('ledger: a trace without call sites (4.13–5.18 format) is grouped by task', () => {
  const legacy = '# tracer: nop\n' + '      kworker-7 [000] ..... 1.000000: percpu_alloc_percpu: reserved=0 is_atomic=0 size=8 align=8 base_addr=00000000000000b1 off=0\n';
  const l = ledgerOf(legacy);
  assert.deepEqual(l.sites.map((s) => [s.name, s.liveBytes]), [['task:kworker', 8]]);
});

test('ledger: growth and rates over a window, from samples of trace time', () => {
  // a_fn grows by 100 B every second for 10 s; b_fn allocates and frees 4 objects a second.
  const lines: string[] = [];
  for (let t = 0; t <= 10; t++) {
    lines.push(alloc(t, B, t * 128, 100, { site: 'a_fn+0x1/0x2' }));
    for (let k = 0; k < 4; k++) {
      lines.push(alloc(t + 0.1 + k * 0.2, B, 8192, 16, { site: 'b_fn+0x1/0x2' }));
      lines.push(free(t + 0.2 + k * 0.2, B, 8192));
    }
  }
  const l = ledgerOf(traceText(lines), 'function', { sampleStep: 0.5 });
  assert.ok(Math.abs(l.duration - 10.8) < 1e-9, String(l.duration));
  const all = l.rates();
  const a = all[l.sites.findIndex((s) => s.name === 'a_fn')]!;
  // 1100 B live at 10.8 s, from 0 at the start.
  assert.ok(Math.abs(a.growthBytesPerSec - 1100 / 10.8) < 1e-6, String(a.growthBytesPerSec));
  const w = l.rates(4);
  const aw = w[l.sites.findIndex((s) => s.name === 'a_fn')]!;
  const bw = w[l.sites.findIndex((s) => s.name === 'b_fn')]!;
  // The window starts at the sample at 6.5 s (700 B of a_fn live, 26 b_fn allocs so far): 400 B and 18 allocs in 4.3 s.
  assert.ok(Math.abs(aw.growthBytesPerSec - 400 / 4.3) < 1e-6, String(aw.growthBytesPerSec));
  assert.ok(Math.abs(bw.allocsPerSec - 18 / 4.3) < 1e-6, String(bw.allocsPerSec));
  assert.equal(bw.growthBytesPerSec, 0);
  // A live clock moving on without events makes rates decay.
  l.advanceTo(30.8);
  const later = l.rates(4)[l.sites.findIndex((s) => s.name === 'a_fn')]!;
  assert.equal(later.growthBytesPerSec, 0);
  assert.ok(l.samples.length < 100, 'a quiet gap adds few samples');
});

test('ledger: reused bytes and destroyed chunks prove lost frees', () => {
  const l = ledgerOf(traceText([create(1, B), alloc(1.1, B, 0, 64), alloc(1.2, B, 0, 64), alloc(1.3, B, 128, 8), destroy(1.4, B)]));
  assert.equal(l.lostFrees, 3);
  assert.equal(l.liveObjects, 0);
  assert.equal(l.chunksCreated, 1);
  assert.equal(l.chunksDestroyed, 1);
});

test('leaks: outstanding allocations older than the threshold, grouped, with doubling age buckets', () => {
  const l = ledgerOf(
    traceText([
      alloc(0, B, 0, 64, { site: 'old_fn+0x1/0x2' }),
      alloc(0.5, B, 64, 64, { site: 'old_fn+0x1/0x2' }),
      alloc(5, B, 128, 32, { site: 'mid_fn+0x1/0x2' }),
      alloc(9.9, B, 256, 8, { site: 'young_fn+0x1/0x2' }),
      alloc(9.95, B, 512, 8, { site: 'freed_fn+0x1/0x2' }),
      free(10, B, 512),
    ]),
  );
  const r = findLeaks(l, 1);
  assert.equal(r.now, 10);
  assert.equal(r.younger, 1);
  assert.deepEqual(
    r.groups.map((g) => [g.site, g.objects, g.bytes, g.oldestSec, g.newestSec]),
    [
      ['old_fn', 2, 128, 10, 9.5],
      ['mid_fn', 1, 32, 5, 5],
    ],
  );
  // Buckets [1,2) [2,4) [4,8) [8,16) …: ages 10 and 9.5 in bucket 3, age 5 in bucket 2.
  assert.deepEqual(bucketBounds(1).slice(0, 4), [1, 2, 4, 8]);
  assert.deepEqual(r.groups[0]!.ages.slice(0, 4), [0, 0, 0, 2]);
  assert.deepEqual(r.groups[1]!.ages.slice(0, 4), [0, 0, 1, 0]);
  assert.deepEqual(r.groups[0]!.sizes, [[64, 2]]);
  assert.equal(r.bytes, 160);
  assert.equal(findLeaks(l, 0).objects, 4, 'threshold 0: every live object');
});

test('feed: a malformed line names its file and line — the line of the whole text, after earlier batches too', () => {
  const r = new BatchReader('x.trace');
  r.push(traceText([alloc(1, B, 0, 8)]));
  const first = r.take();
  assert.equal(first.trace.events.length, 1);
  assert.equal(first.lineOffset, 0);
  r.push(traceText([fail618(1.1, 64, { atomic: true })]));
  const second = r.take();
  assert.equal(second.lineOffset, 3, 'the first batch had three lines');
  assert.equal(second.trace.counts[2], 1, "6.18's fail event without call_site= is read by the parser");
  assert.throws(
    () => {
      r.push('garbage line\n');
      r.take(true);
    },
    (e: unknown) => e instanceof ParseError && /x\.trace:7: not a trace event line: "garbage line"/.test((e as Error).message),
  );
});

test('feed: batches read in pieces and joined are the same trace as one parse', () => {
  const lines: string[] = [create(0.5, B)];
  for (let i = 0; i < 300; i++) lines.push(i % 3 === 2 ? free(1 + i / 100, B, (i - 2) * 16) : alloc(1 + i / 100, B, i * 16, 8, { site: `f${i % 7}+0x1/0x2`, task: `t${i % 5}` }));
  const text = traceText(lines);
  const whole = parseTraceText(text, 'w');
  const acc = new TraceAccumulator('w');
  const r = new BatchReader('w');
  for (let at = 0; at < text.length; at += 977) {
    r.push(text.slice(at, at + 977));
    acc.append(r.take().trace);
  }
  acc.append(r.take(true).trace);
  const joined = acc.snapshot();
  assert.equal(joined.events.length, whole.events.length);
  for (const col of ['kind', 'time', 'off', 'size', 'line'] as const) assert.deepEqual([...joined.events[col]], [...whole.events[col]], col);
  const names = (t: typeof whole, col: 'callSite' | 'addr' | 'task', table: string[]) => [...t.events[col]].map((i) => (i < 0 ? '' : table[i]));
  assert.deepEqual(names(joined, 'callSite', joined.callSites), names(whole, 'callSite', whole.callSites));
  assert.deepEqual(names(joined, 'task', joined.tasks), names(whole, 'task', whole.tasks));
  assert.deepEqual(names(joined, 'addr', joined.addrs), names(whole, 'addr', whole.addrs));
});

test('sites: %pS names are grouped by function; raw addresses are symbolised from kallsyms, or left raw', () => {
  assert.equal(functionOf('mm_init+0x2bf/0x4d0'), 'mm_init');
  assert.equal(functionOf('nf_ct_alloc+0x10/0x20 [nf_conntrack]'), 'nf_ct_alloc [nf_conntrack]');
  const dir = mkdtempSync(join(tmpdir(), 'percpu-kallsyms-'));
  const ks = join(dir, 'kallsyms');
  writeFileSync(ks, 'ffffffff81000000 T _text\nffffffff8135c360 t mm_init\nffffffff8135c900 T next_fn\nffffffffc0a00000 t nf_ct_alloc\t[nf_conntrack]\n');
  const sym = KernelSymbols.load(ks)!;
  assert.equal(sym.lookup(0xffffffff8135c61fn), 'mm_init+0x2bf');
  assert.equal(sym.lookup(0xffffffffc0a00010n), 'nf_ct_alloc+0x10 [nf_conntrack]');
  const n = new SiteNamer('function', ks);
  assert.equal(n.callSite('0xffffffff8135c61f'), 'mm_init');
  assert.equal(new SiteNamer('site', ks).callSite('ffffffff8135c905'), 'next_fn+0x5');
  // kptr_restrict hides the addresses (all zero): nothing to symbolise with.
  writeFileSync(ks, '0000000000000000 T _text\n0000000000000000 t mm_init\n');
  assert.equal(KernelSymbols.load(ks), undefined);
  assert.equal(new SiteNamer('function', ks).callSite('0xffffffff8135c61f'), '0xffffffff8135c61f');
});
