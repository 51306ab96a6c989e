// SPDX-License-Identifier: GPL-2.0-only
/**
 * The tracefs text parser on real Linux 6.18 trace excerpts (both alloc-event
 * layouts, with and without ptr=), on text split at arbitrary points, and on
 * corrupted input: every malformed line is a ParseError naming its line, and
 * every lost-event marker is reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { ParseError } from '../src/errors.js';
import { lostEventWarnings, parseTraceFile, parseTraceText, TraceEventKind, TraceParser, type ParsedTrace } from '../src/formats/trace.js';
import { fixturePath } from '../test-support/fixtures.js';

const EXCERPT = fixturePath('traces', 'raw', 'a_phash_v1024.chunk2.excerpt.trace.gz');
const FULL = fixturePath('traces', 'raw', 'bpf50k-netns.full.head3000.trace.gz');
const text = (path: string) => gunzipSync(readFileSync(path)).toString('utf8');

/** Fields of the percpu event lines, read with a plain split (independent of the parser). */
function naiveEvents(t: string): { line: number; name: string; fields: Record<string, string> }[] {
  const out: { line: number; name: string; fields: Record<string, string> }[] = [];
  t.split('\n').forEach((l, i) => {
    const m = / (percpu_[a-z_]+): (.*)$/.exec(l);
    if (!m || l.startsWith('#')) return;
    const fields: Record<string, string> = {};
    for (const kv of m[2]!.split(' ')) {
      const [k, v] = kv.split('=');
      fields[k!] = v!;
    }
    out.push({ line: i + 1, name: m[1]!, fields });
  });
  return out;
}

function assertSameEvents(a: ParsedTrace, b: ParsedTrace): void {
  const ea = a.events;
  const eb = b.events;
  assert.equal(ea.length, eb.length);
  for (const key of ['kind', 'cpu', 'pid', 'time', 'off', 'size', 'align', 'flags', 'line'] as const) {
    assert.deepEqual(Array.from(ea[key]), Array.from(eb[key]), key);
  }
  assert.deepEqual(Array.from(ea.addr, (i) => a.addrs[i] ?? null), Array.from(eb.addr, (i) => b.addrs[i] ?? null));
}

test('real 6.18 excerpt: every percpu line becomes one event with its fields, other events are counted', () => {
  const t = text(EXCERPT);
  const p = parseTraceText(t, 'excerpt');
  const naive = naiveEvents(t);
  assert.equal(p.events.length, naive.length);
  const names = ['percpu_alloc_percpu', 'percpu_free_percpu', 'percpu_alloc_percpu_fail', 'percpu_create_chunk', 'percpu_destroy_chunk'];
  naive.forEach((n, seq) => {
    assert.equal(names[p.events.kind[seq]!], n.name, `seq ${seq}`);
    assert.equal(p.events.line[seq], n.line);
    assert.equal(p.addrs[p.events.addr[seq]!], n.fields.base_addr);
    if (n.fields.off !== undefined) assert.equal(p.events.off[seq], Number(n.fields.off));
    if (n.fields.size !== undefined) assert.equal(p.events.size[seq], Number(n.fields.size));
    if (n.fields.align !== undefined) assert.equal(p.events.align[seq], Number(n.fields.align));
  });
  assert.equal(p.format, 'full');
  assert.equal(p.hasPtr, false);
  assert.equal(p.otherEvents.get('tracing_mark_write'), t.split('\n').filter((l) => l.includes('tracing_mark_write:')).length);
  assert.equal(p.counts[TraceEventKind.CreateChunk], 1);
  assert.equal(p.counts[TraceEventKind.DestroyChunk], 1);
  assert.equal(p.preamble.tracer, 'nop');
  assert.equal(p.preamble.nrCpus, 2);
  assert.deepEqual(p.lost, []);
  // Interned: two chunks, a handful of tasks, not one string per event.
  assert.equal(p.addrs.length, 2);
  assert.ok(p.tasks.length < 10);
  assert.equal(p.callSites[p.events.callSite[0]!], 'tracing_mark_open+0x106/0x230');
});

test('per-CPU interleaving: events of both CPUs, kept in the order the kernel merged them', async () => {
  const p = await parseTraceFile(fixturePath('traces', 'raw', 'b_single.chunk5.excerpt.trace.gz'));
  const cpus = Array.from(p.events.cpu);
  assert.deepEqual([...new Set(cpus)].sort(), [0, 1]);
  let switches = 0;
  for (let i = 1; i < cpus.length; i++) {
    if (cpus[i] !== cpus[i - 1]) switches++;
    assert.ok(p.events.line[i]! > p.events.line[i - 1]!);
  }
  assert.ok(switches > 100, `only ${switches} CPU switches`);
});

test('the full 6.18 format with ptr= parses, and the file reader (gzip, streaming) agrees with the text parser', async () => {
  const viaFile = await parseTraceFile(FULL);
  const viaText = parseTraceText(text(FULL), FULL);
  assertSameEvents(viaFile, viaText);
  assert.equal(viaFile.hasPtr, true);
  assert.equal(viaFile.format, 'full');
  assert.equal(viaFile.events.length, naiveEvents(text(FULL)).length);
});

test('the 4.13-5.18 layout (no call_site, bytes_alloc, gfp_flags) gives the same events', () => {
  const t = text(EXCERPT);
  const legacy = t.replace(/call_site=\S+ /g, '').replace(/ bytes_alloc=\d+ gfp_flags=\S+/g, '');
  assert.notEqual(legacy, t);
  const a = parseTraceText(t);
  const b = parseTraceText(legacy);
  assertSameEvents(a, b);
  assert.equal(b.format, 'legacy');
  assert.equal(b.events.callSite.every((c) => c === -1), true);
});

test('header variants: no irq-info column, a TGID column, comm with spaces and dashes, clocks without a dot', () => {
  const lines = [
    '# tracer: nop',
    '          <idle>-0       [001]  12.500000: percpu_create_chunk: base_addr=00000000deadbeef',
    '   Web Content-1234  (   1200) [000] d..1.  12.500001: percpu_alloc_percpu: reserved=0 is_atomic=1 size=8 align=8 base_addr=00000000deadbeef off=16 ptr=0000000012345678',
    '  kworker/u8:0-12      [001] d..11  12500002: percpu_free_percpu: base_addr=00000000deadbeef off=16',
    '  my-task-name-77 [001] ....  12.600000: percpu_alloc_percpu_fail: reserved=1 is_atomic=0 size=32768 align=4096',
  ];
  const p = parseTraceText(lines.join('\n') + '\n');
  assert.equal(p.events.length, 4);
  assert.deepEqual(p.tasks, ['<idle>', 'Web Content', 'kworker/u8:0', 'my-task-name']);
  assert.deepEqual(Array.from(p.events.pid), [0, 1234, 12, 77]);
  assert.equal(p.events.flags[1], 2);
  assert.equal(p.events.flags[3], 1);
  assert.equal(p.events.addr[3], -1);
  assert.equal(p.events.time[2], 12500002);
  assert.equal(p.format, 'legacy');
});

test('Linux 6.18: alloc events with call_site= and alloc-fail events without it parse as one trace', () => {
  // Lines as a 6.18.44 kernel printed them (see fixtures/traces/README.md): the fail event kept the old layout.
  const lines = [
    '# tracer: nop',
    '            node-12318   [001] .....   646.108787: percpu_alloc_percpu: call_site=mm_init+0x2e7/0x4f0 reserved=0 is_atomic=0 size=16 align=8 base_addr=000000005f42c7a5 off=36472 ptr=00000000958c815f bytes_alloc=64 gfp_flags=GFP_KERNEL',
    '         python3-12353   [000] d.h11   646.475010: percpu_alloc_percpu_fail: reserved=0 is_atomic=1 size=16384 align=8',
    '         python3-12353   [000] d..1.   646.475011: percpu_alloc_percpu_fail: reserved=1 is_atomic=0 size=32 align=4',
    '            node-12318   [001] .....   646.475020: percpu_alloc_percpu: call_site=mm_init+0x2e7/0x4f0 reserved=0 is_atomic=1 size=16 align=8 base_addr=000000005f42c7a5 off=36488 ptr=00000000958c8160 bytes_alloc=64 gfp_flags=GFP_NOWAIT',
  ];
  const p = parseTraceText(lines.join('\n') + '\n', '6.18');
  assert.equal(p.format, 'full');
  assert.deepEqual(Array.from(p.events.kind), [TraceEventKind.Alloc, TraceEventKind.AllocFail, TraceEventKind.AllocFail, TraceEventKind.Alloc]);
  assert.deepEqual(p.counts, [2, 0, 2, 0, 0]);
  assert.deepEqual([p.events.size[1], p.events.align[1], p.events.flags[1], p.events.addr[1], p.events.off[1], p.events.callSite[1]], [16384, 8, 2, -1, -1, -1]);
  assert.deepEqual([p.events.size[2], p.events.align[2], p.events.flags[2]], [32, 4, 1]);
  assert.equal(p.callSites[p.events.callSite[3]!], 'mm_init+0x2e7/0x4f0');
  // The same fail lines next to 4.13-5.18 alloc events, and on their own.
  const legacy = lines.map((l) => l.replace(/call_site=\S+ /, '').replace(/ bytes_alloc=\d+ gfp_flags=\S+/, ''));
  assert.equal(parseTraceText(legacy.join('\n')).format, 'legacy');
  const failsOnly = parseTraceText([lines[0], lines[2], lines[3]].join('\n'));
  assert.equal(failsOnly.format, 'unknown');
  assert.equal(failsOnly.counts[TraceEventKind.AllocFail], 2);
  // Alloc events still may not mix layouts.
  assert.throws(() => parseTraceText([lines[1], lines[2], legacy[4]].join('\n'), 'mixed'), /mixed:3: alloc event lacks call_site=, unlike the one on line 1/);
});

test('text pushed in arbitrary pieces parses exactly as in one piece', () => {
  const all = text(EXCERPT);
  const t = all.slice(0, all.indexOf('\n', 60_000) + 1);
  const whole = parseTraceText(t);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 40 }), (cuts) => {
      const p = new TraceParser();
      let at = 0;
      for (const c of cuts) {
        p.push(t.slice(at, at + c));
        at += c;
      }
      p.push(t.slice(at));
      assertSameEvents(p.finish(), whole);
    }),
    { numRuns: 30 },
  );
});

test('lost-event markers are reported with their line, CPU, count and position, never dropped', () => {
  const lines = text(EXCERPT).split('\n');
  lines.splice(100, 0, 'CPU:1 [LOST 42 EVENTS]');
  lines.splice(200, 0, '##### CPU 0 buffer started ####');
  const p = parseTraceText(lines.join('\n'), 'lossy');
  assert.equal(p.lost.length, 2);
  assert.deepEqual(
    { line: p.lost[0]!.line, cpu: p.lost[0]!.cpu, count: p.lost[0]!.count },
    { line: 101, cpu: 1, count: 42 },
  );
  // The marker sits before the first event that follows it.
  assert.equal(p.events.line[p.lost[0]!.beforeSeq], 102);
  assert.deepEqual({ line: p.lost[1]!.line, cpu: p.lost[1]!.cpu, count: p.lost[1]!.count }, { line: 201, cpu: 0, count: -1 });
  const warnings = lostEventWarnings(p);
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /line 101: CPU 1 lost 42 events/);
});

test('an overwritten buffer announced by the preamble is reported', () => {
  const t = text(EXCERPT).replace(/entries-written: \d+\/\d+/, 'entries-written: 2000/2500');
  const w = lostEventWarnings(parseTraceText(t));
  assert.equal(w.length, 1);
  assert.match(w[0]!, /500 of 2500 written entries/);
});

/** Parse text expected to fail and return the error. */
function parseError(t: string): ParseError {
  try {
    parseTraceText(t, 'bad.trace');
  } catch (e) {
    assert.ok(e instanceof ParseError, String(e));
    return e;
  }
  assert.fail('expected a ParseError');
}

test('malformed lines are ParseErrors naming the line', () => {
  const base = text(EXCERPT).split('\n');
  const at = 500; // a 0-based index of an alloc line
  assert.match(base[at]!, /percpu_alloc_percpu:/);
  const corrupt = (f: (l: string) => string) => {
    const lines = base.slice();
    lines[at] = f(lines[at]!);
    return parseError(lines.join('\n'));
  };
  const cases: [string, (l: string) => string, RegExp][] = [
    ['value cut off', (l) => l.replace(/ off=\d+/, ' off='), /off= is not a non-negative integer/],
    ['non-numeric size', (l) => l.replace(/ size=\d+/, ' size=12k'), /size= is not a non-negative integer/],
    ['missing base_addr', (l) => l.replace(/ base_addr=\S+/, ''), /missing field base_addr=/],
    ['bad is_atomic', (l) => l.replace(/is_atomic=0/, 'is_atomic=7'), /must be 0 or 1/],
    ['line truncated in the header', (l) => l.slice(0, 30), /not a trace event line/],
    ['garbage', () => 'this is not ftrace output', /not a trace event line/],
    ['format switch', (l) => l.replace(/call_site=\S+ /, ''), /cannot mix tracepoint formats/],
    ['bad lost marker', () => 'CPU:1 [LOST many EVENTS]', /malformed lost-event marker/],
  ];
  for (const [what, f, re] of cases) {
    const e = corrupt(f);
    assert.equal(e.line, at + 1, what);
    assert.match(e.message, new RegExp(`^bad\\.trace:${at + 1}: `), what);
    assert.match(e.message, re, what);
  }
  // A free event too.
  const freeAt = base.findIndex((l) => l.includes('percpu_free_percpu:'));
  const lines = base.slice();
  lines[freeAt] = lines[freeAt]!.replace(/ off=\d+/, ' off=-8');
  assert.equal(parseError(lines.join('\n')).line, freeAt + 1);
});

test('events of other subsystems and unknown percpu events are skipped and counted, blank lines ignored', () => {
  const t = [
    '# tracer: nop',
    '',
    '  bash-1 [000] .....  1.000001: sched_switch: prev_comm=bash prev_pid=1 ==> next_comm=x next_pid=2',
    '  bash-1 [000] .....  1.000002: percpu_frobnicate: whatever',
    '  bash-1 [000] .....  1.000003: sched_switch: prev_comm=x prev_pid=2 ==> next_comm=bash next_pid=1',
    '  bash-1 [000] .....  1.000004: percpu_create_chunk: base_addr=0000000011111111',
    '   ',
  ].join('\n');
  const p = parseTraceText(t);
  assert.equal(p.events.length, 1);
  assert.deepEqual([...p.otherEvents], [
    ['sched_switch', 2],
    ['percpu_frobnicate', 1],
  ]);
  assert.equal(p.lines, 7);
});

test('a missing file is a clear error, not a stack trace', async () => {
  await assert.rejects(parseTraceFile('/nonexistent/x.trace'), /\/nonexistent\/x\.trace: cannot read: no such file/);
});
