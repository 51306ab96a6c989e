// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu capture` against a fake tracefs directory: the settings it applies
 * while the command runs, and their restoration after success, after a failing
 * or missing command, after a setting it cannot read, and on SIGINT; the
 * refusals (not root, no tracefs, no percpu tracepoints) that touch nothing.
 * No test needs a real tracefs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { capture, CaptureError, restorableValue, SettingsJournal, type CaptureOptions } from '../src/tools/capture/capture.js';
import { TRACE_EVENT_NAMES, parseTraceText } from '../src/formats/trace.js';
import { fixturePath } from '../test-support/fixtures.js';

const ORIGINAL: Record<string, string> = {
  tracing_on: '1\n',
  buffer_size_kb: '7 (expanded: 1408)\n',
  trace_clock: '[local] global counter uptime perf mono mono_raw boot x86-tsc\n',
  current_tracer: 'function\n',
  trace: 'old buffer contents\n',
};

interface Fake {
  dir: string;
  root: string;
  stats: string;
  /** Every file's content, for before/after comparisons. */
  snapshot(): Record<string, string>;
}

function fakeTracefs(options: { instances?: boolean } = {}): Fake {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-fake-tracefs-'));
  const root = join(dir, 'tracing');
  mkdirSync(root);
  for (const [f, v] of Object.entries(ORIGINAL)) writeFileSync(join(root, f), v);
  for (const e of TRACE_EVENT_NAMES) {
    mkdirSync(join(root, 'events', 'percpu', e), { recursive: true });
    writeFileSync(join(root, 'events', 'percpu', e, 'enable'), '0\n');
  }
  for (const cpu of ['cpu0', 'cpu1']) {
    mkdirSync(join(root, 'per_cpu', cpu), { recursive: true });
    writeFileSync(join(root, 'per_cpu', cpu, 'stats'), 'entries: 0\noverrun: 0\ncommit overrun: 0\n');
    writeFileSync(join(root, 'per_cpu', cpu, 'buffer_size_kb'), cpu === 'cpu0' ? '1408\n' : '2816\n');
  }
  if (options.instances) mkdirSync(join(root, 'instances'));
  const stats = join(dir, 'percpu_stats');
  writeFileSync(stats, readFileSync(fixturePath('traces', 'stats', 'b_single.before.percpu_stats.txt')));
  const snapshot = () => {
    const out: Record<string, string> = {};
    const walk = (d: string, rel: string) => {
      for (const ent of readdirSync(d, { withFileTypes: true })) {
        const r = rel ? `${rel}/${ent.name}` : ent.name;
        if (ent.isDirectory()) walk(join(d, ent.name), r);
        else out[r] = readFileSync(join(d, ent.name), 'utf8');
      }
    };
    walk(root, '');
    return out;
  };
  return { dir, root, stats, snapshot };
}

function options(f: Fake, command: string[], extra: Partial<CaptureOptions> = {}): CaptureOptions {
  return { out: join(f.dir, 'out.trace'), command, tracefs: [f.root], statsPath: f.stats, bufferKb: 4096, settleMs: 20, maxWaitMs: 500, isRoot: () => true, ...extra };
}

/** The settings as a kernel would report them, after a capture. */
function assertRestored(f: Fake): void {
  const read = (rel: string) => readFileSync(join(f.root, rel), 'utf8');
  assert.equal(read('tracing_on').trim(), '1');
  assert.equal(read('buffer_size_kb').trim(), '1408');
  assert.equal(restorableValue('trace_clock', read('trace_clock')), 'local');
  assert.equal(read('current_tracer').trim(), 'function');
  for (const e of TRACE_EVENT_NAMES) assert.equal(read(`events/percpu/${e}/enable`).trim(), '0', e);
}

test('restorableValue reads back what tracefs files show', () => {
  assert.equal(restorableValue('trace_clock', '[local] global counter\n'), 'local');
  assert.equal(restorableValue('trace_clock', 'local [global] counter\n'), 'global');
  assert.equal(restorableValue('buffer_size_kb', '7 (expanded: 1408)\n'), '1408');
  assert.equal(restorableValue('buffer_size_kb', '1408\n'), '1408');
  assert.equal(restorableValue('events/percpu/x/enable', '1\n'), '1');
});

test('a capture applies the settings while the command runs, writes trace and stats, and restores everything', async () => {
  const f = fakeTracefs();
  const excerpt = gunzipSync(readFileSync(fixturePath('traces', 'raw', 'a_phash_v1024.chunk2.excerpt.trace.gz')));
  const events = join(f.dir, 'events.txt');
  writeFileSync(events, excerpt);
  const during = join(f.dir, 'during.txt');
  // The "kernel" appends events; the command records the settings it sees.
  const script = `cat ${f.root}/tracing_on ${f.root}/buffer_size_kb ${f.root}/trace_clock ${f.root}/current_tracer ${f.root}/events/percpu/*/enable > ${during}; cat ${events} >> ${f.root}/trace`;
  const r = await capture(options(f, ['sh', '-c', script]));
  assert.equal(r.exitCode, 0);
  assert.equal(r.interrupted, false);
  assert.equal(r.usedInstance, false);
  assert.deepEqual(r.restoreFailures, []);
  assert.deepEqual(readFileSync(during, 'utf8').split('\n').filter(Boolean), ['1', '4096', 'global', 'nop', '1', '1', '1', '1', '1']);
  // The old buffer contents were cleared; exactly the new events were saved.
  assert.deepEqual(readFileSync(r.out), excerpt);
  assert.equal(parseTraceText(readFileSync(r.out, 'utf8')).events.length, 2108);
  assert.equal(readFileSync(r.statsBefore!, 'utf8'), readFileSync(f.stats, 'utf8'));
  assert.equal(readFileSync(r.statsAfter!, 'utf8'), readFileSync(f.stats, 'utf8'));
  assertRestored(f);
});

test('the "after" percpu_stats snapshot is taken before the trace is copied, and the copy is timed', async () => {
  const f = fakeTracefs();
  const original = readFileSync(f.stats, 'utf8');
  // Copying the trace does percpu work of its own: here it bumps nr_alloc / nr_dealloc as a real copy could.
  const duringCopy = original.replace(/nr_alloc\s*:\s*(\d+)/, (_m, n: string) => `nr_alloc            : ${Number(n) + 7}`);
  assert.notEqual(duringCopy, original);
  const phases: string[] = [];
  const logs: string[] = [];
  const r = await capture(
    options(f, ['sh', '-c', `echo '  x-1 [000] ..... 1.000000: percpu_create_chunk: base_addr=0000000012345678' >> ${f.root}/trace`], {
      log: (l) => logs.push(l),
      onPhase: (p) => {
        phases.push(p);
        if (p === 'copy-trace') writeFileSync(f.stats, duringCopy);
      },
    }),
  );
  assert.deepEqual(phases, ['stats-before', 'command', 'settle', 'stats-after', 'copy-trace', 'restore']);
  assert.equal(readFileSync(r.statsAfter!, 'utf8'), original, 'the copy\'s activity must not reach the after snapshot');
  assert.equal(readFileSync(r.out, 'utf8').split('\n').filter(Boolean).length, 1);
  assert.ok(r.copyMs >= 0 && Number.isFinite(r.copyMs));
  assert.ok(logs.some((l) => /^copied \d+ bytes of trace to .* in [\d.]+ m?s \(after the percpu_stats snapshot/.test(l)), logs.join('\n'));
  assertRestored(f);
});

test('a failing command still yields a trace, its exit code, and restored settings', async () => {
  const f = fakeTracefs();
  const r = await capture(options(f, ['sh', '-c', 'exit 3']));
  assert.equal(r.exitCode, 3);
  assert.ok(existsSync(r.out));
  assertRestored(f);
});

test('a command that cannot start: CaptureError, settings restored', async () => {
  const f = fakeTracefs();
  await assert.rejects(capture(options(f, ['/nonexistent/command'])), (e: unknown) => e instanceof CaptureError && /command not found/.test(e.message));
  assertRestored(f);
});

test('a setting that cannot be read mid-way: the ones already changed are put back', async () => {
  const f = fakeTracefs();
  const bad = join(f.root, 'events', 'percpu', 'percpu_free_percpu', 'enable');
  rmSync(bad);
  mkdirSync(bad);
  await assert.rejects(capture(options(f, ['true'])), (e: unknown) => e instanceof CaptureError && /cannot read .*percpu_free_percpu/.test(e.message));
  assert.equal(readFileSync(join(f.root, 'events/percpu/percpu_alloc_percpu/enable'), 'utf8').trim(), '0');
  assert.equal(readFileSync(join(f.root, 'tracing_on'), 'utf8').trim(), '1');
  assert.equal(restorableValue('trace_clock', readFileSync(join(f.root, 'trace_clock'), 'utf8')), 'local');
  assert.equal(readFileSync(join(f.root, 'current_tracer'), 'utf8').trim(), 'function');
});

test('SIGINT during the command: the command is stopped, the capture finishes and restores', async () => {
  const f = fakeTracefs();
  const listeners = process.listenerCount('SIGINT');
  const r = await capture(options(f, ['sh', '-c', `kill -INT ${process.pid}; exec sleep 20`]));
  assert.equal(r.interrupted, true);
  assert.equal(r.exitCode, 130);
  assertRestored(f);
  assert.equal(process.listenerCount('SIGINT'), listeners);
});

test('a failure after the command (the trace cannot be read) is a CaptureError and still restores', async () => {
  const f = fakeTracefs();
  await assert.rejects(capture(options(f, ['rm', join(f.root, 'trace')])), (e: unknown) => e instanceof CaptureError && /cannot copy .*trace/.test(e.message));
  assertRestored(f);
});

test('refusals touch nothing: not root, no tracefs, no percpu tracepoints, no place for the output', async () => {
  const f = fakeTracefs();
  const before = f.snapshot();
  await assert.rejects(capture(options(f, ['true'], { isRoot: () => false })), /needs root/);
  await assert.rejects(capture(options(f, ['true'], { tracefs: [join(f.dir, 'nowhere')] })), /tracefs not found .*mount -t tracefs nodev/);
  await assert.rejects(capture(options(f, ['true'], { out: join(f.dir, 'missing-dir', 'x.trace') })), /cannot write .*missing-dir does not exist/);
  assert.deepEqual(f.snapshot(), before);
  rmSync(join(f.root, 'events', 'percpu', 'percpu_destroy_chunk'), { recursive: true });
  const without = f.snapshot();
  await assert.rejects(capture(options(f, ['true'])), /no percpu_destroy_chunk tracepoint/);
  assert.deepEqual(f.snapshot(), without);
  delete before['events/percpu/percpu_destroy_chunk/enable'];
  assert.deepEqual(without, before);
  assert.equal(existsSync(join(f.dir, 'out.trace')), false);
});

test('an instances/ directory that stays empty (not a real tracefs instance) falls back to the top level and is cleaned up', async () => {
  const f = fakeTracefs({ instances: true });
  const logs: string[] = [];
  const r = await capture(options(f, ['true'], { log: (l) => logs.push(l) }));
  assert.equal(r.usedInstance, false);
  assert.deepEqual(readdirSync(join(f.root, 'instances')), []);
  assert.ok(logs.some((l) => /top-level buffer; it is cleared first/.test(l)));
  assertRestored(f);
});

test('per-CPU buffer sizes ("X" at the top level) are remembered and restored one by one', async () => {
  const f = fakeTracefs();
  writeFileSync(join(f.root, 'buffer_size_kb'), 'X\n');
  // Writing the top-level size resizes every CPU's buffer; the command plays that part.
  const resize = `echo 4096 > ${f.root}/per_cpu/cpu0/buffer_size_kb; echo 4096 > ${f.root}/per_cpu/cpu1/buffer_size_kb`;
  await capture(options(f, ['sh', '-c', resize]));
  assert.equal(readFileSync(join(f.root, 'per_cpu/cpu0/buffer_size_kb'), 'utf8').trim(), '1408');
  assert.equal(readFileSync(join(f.root, 'per_cpu/cpu1/buffer_size_kb'), 'utf8').trim(), '2816');
});

test('the journal restores each file once, in reverse order, to its first value', () => {
  const f = fakeTracefs();
  const j = new SettingsJournal(f.root);
  j.set('tracing_on', '0');
  j.set('tracing_on', '1');
  j.set('trace_clock', 'global');
  assert.deepEqual(
    j.changes.map((c) => c.original),
    ['1', 'local'],
  );
  writeFileSync(join(f.root, 'tracing_on'), '0\n');
  assert.deepEqual(j.restore(), []);
  assert.equal(readFileSync(join(f.root, 'tracing_on'), 'utf8'), '1\n');
  writeFileSync(join(f.root, 'tracing_on'), '0\n');
  assert.deepEqual(j.restore(), []);
  assert.equal(readFileSync(join(f.root, 'tracing_on'), 'utf8'), '0\n', 'a second restore does nothing');
});
