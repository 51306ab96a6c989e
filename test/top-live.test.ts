// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu top` on live events. Against a fake tracefs (no kernel needed): the
 * private instance's settings applied while it reads `trace_pipe` and put back
 * afterwards; the refusals that touch nothing. On the real kernel (root and
 * tracefs; skipped with the reason elsewhere, and run when CI is set and they
 * are available): a one-shot JSON session while processes start and exit, and
 * an interrupted session (SIGINT), each leaving tracing and the mounts as they
 * were.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLiveSource } from '../src/tools/top/live-source.js';
import { runTop } from '../src/tools/top/run.js';
import { TRACE_EVENT_NAMES } from '../src/formats/trace.js';
import { CaptureError } from '../src/tools/capture/capture.js';
import { ParseError } from '../src/errors.js';
import { ROOT } from '../test-support/fixtures.js';
import { alloc, free, traceText } from '../test-support/synthetic-trace.js';

const SETTINGS: Record<string, string> = {
  tracing_on: '0\n',
  buffer_size_kb: '7 (expanded: 1408)\n',
  trace_clock: '[local] global counter uptime perf mono mono_raw boot\n',
};

/** A tracing root whose `instances/` gets a fake instance from our factory. */
function fakeTracefs(pipeText: string) {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-top-fake-'));
  const root = join(dir, 'tracing');
  const populate = (d: string) => {
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'trace'), '');
    for (const [f, v] of Object.entries(SETTINGS)) writeFileSync(join(d, f), v);
    for (const e of TRACE_EVENT_NAMES) {
      mkdirSync(join(d, 'events', 'percpu', e), { recursive: true });
      writeFileSync(join(d, 'events', 'percpu', e, 'enable'), '0\n');
    }
    mkdirSync(join(d, 'per_cpu', 'cpu0'), { recursive: true });
    writeFileSync(join(d, 'per_cpu', 'cpu0', 'stats'), 'entries: 0\noverrun: 7\n');
  };
  populate(root);
  mkdirSync(join(root, 'instances'));
  const inst = join(root, 'instances', 'fake');
  const makeInstance = () => {
    populate(inst);
    writeFileSync(join(inst, 'trace_pipe'), pipeText);
    return inst;
  };
  const read = (d: string) => Object.fromEntries([...Object.keys(SETTINGS), ...TRACE_EVENT_NAMES.map((e) => `events/percpu/${e}/enable`)].map((f) => [f, readFileSync(join(d, f), 'utf8')]));
  return { root, inst, makeInstance, read };
}

test('live source (fake tracefs): reads trace_pipe in a private instance, every setting put back on close', () => {
  const B = '00000000000000f1';
  const text = traceText([alloc(1, B, 0, 64), free(1.5, B, 0)]);
  const fake = fakeTracefs(text);
  const top = fake.read(fake.root);
  const src = openLiveSource({ tracefs: [fake.root], isRoot: () => true, makeInstance: fake.makeInstance });
  assert.equal(src.root, fake.inst);
  assert.equal(src.clock, 'mono');
  const during = fake.read(fake.inst);
  assert.equal(during.tracing_on, '1\n');
  assert.equal(during.trace_clock, 'mono\n');
  assert.equal(during.buffer_size_kb, '4096\n');
  for (const e of TRACE_EVENT_NAMES) assert.equal(during[`events/percpu/${e}/enable`], '1\n');
  assert.equal(src.read(), text);
  assert.equal(src.read(), '', 'drained');
  assert.equal(src.overrun(), 7);
  const failures = src.close();
  // A fake instance is a plain directory, which rmdir cannot remove; on tracefs rmdir removes it.
  assert.ok(failures.every((f) => /could not remove the tracing instance/.test(f)), failures.join('\n'));
  const after = fake.read(fake.inst);
  assert.equal(after.tracing_on, '0\n');
  assert.equal(after.trace_clock, 'local\n');
  assert.equal(after.buffer_size_kb, '1408\n');
  for (const e of TRACE_EVENT_NAMES) assert.equal(after[`events/percpu/${e}/enable`], '0\n');
  assert.deepEqual(fake.read(fake.root), top, 'the top-level tracing settings are never touched');
  assert.deepEqual(src.close(), [], 'close runs once');
});

test('live source: refuses without root, without instances, or without the percpu events — and changes nothing', () => {
  const fake = fakeTracefs('');
  const before = fake.read(fake.root);
  assert.throws(() => openLiveSource({ tracefs: [fake.root], isRoot: () => false }), (e: unknown) => e instanceof CaptureError && /need root/.test((e as Error).message));
  assert.throws(() => openLiveSource({ tracefs: [fake.root], isRoot: () => true, makeInstance: () => undefined }), /cannot make a private tracing instance/);
  assert.throws(() => openLiveSource({ tracefs: [join(fake.root, 'nope')], isRoot: () => true }), /tracefs not found .* --mount/);
  assert.deepEqual(fake.read(fake.root), before);
  assert.deepEqual(readdirSync(join(fake.root, 'instances')), []);
});

test('runTop live (fake tracefs): the events of trace_pipe reach the one-shot JSON, with the overrun counters', async () => {
  const B = '00000000000000f2';
  const fake = fakeTracefs(traceText([alloc(1, B, 0, 64, { site: 'live_fn+0x1/0x2' }), alloc(1.1, B, 64, 32, { site: 'live_fn+0x1/0x2' }), free(1.2, B, 0)]));
  let printed = '';
  const code = await runTop({
    command: 'top',
    live: { tracefs: [fake.root], isRoot: () => true, makeInstance: fake.makeInstance },
    interval: 0.1,
    duration: 0.4,
    sort: 'bytes',
    once: true,
    json: true,
    group: 'function',
    pageSize: 4096,
    olderSec: 0.5,
    out: { write: (s: string) => ((printed += s), true), isTTY: false },
    log: () => {},
  });
  assert.equal(code, 1, 'exit 1: the fake instance could not be removed (a restore failure is reported, as capture does)');
  const j = JSON.parse(printed);
  assert.equal(j.events, 3);
  assert.deepEqual(j.sites.map((s: { name: string; liveBytes: number }) => [s.name, s.liveBytes]), [['live_fn', 32]]);
  assert.equal(j.lost.kernelOverrun, 7);
  assert.ok(j.self.cpuPercent >= 0);
});

test('runTop live (fake tracefs): a malformed line from the pipe ends the session with its error, tracing restored', async () => {
  const fake = fakeTracefs(traceText([alloc(1, '00000000000000f3', 0, 8), 'not an event line']));
  await assert.rejects(
    runTop({
      command: 'top',
      live: { tracefs: [fake.root], isRoot: () => true, makeInstance: fake.makeInstance },
      interval: 0.1,
      duration: 5,
      sort: 'bytes',
      once: true,
      json: false,
      group: 'function',
      pageSize: 4096,
      olderSec: 0.5,
      out: { write: () => true, isTTY: false },
      log: () => {},
    }),
    (e: unknown) => e instanceof ParseError && /trace_pipe:4: not a trace event line/.test((e as Error).message),
  );
  const after = fake.read(fake.inst);
  assert.equal(after.tracing_on, '0\n');
  for (const e of TRACE_EVENT_NAMES) assert.equal(after[`events/percpu/${e}/enable`], '0\n');
});

// ---------------------------------------------------------------------------
// The real kernel.

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

function liveUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (!readFileSync('/proc/filesystems', 'utf8').includes('tracefs')) return 'the kernel has no tracefs';
  if (!existsSync('/sys/kernel/tracing')) return '/sys/kernel/tracing does not exist';
  return undefined;
}

/** What must be the same before and after: tracefs/debugfs mounts and any percpu-top instance on them. */
function tracingState(): string {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => / (tracefs|debugfs) /.test(l));
  const instances = mounts.flatMap((l) => {
    const dir = join(l.split(' ')[1]!, 'instances');
    return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('percpu-top-')) : [];
  });
  return JSON.stringify({ mounts: mounts.sort(), instances });
}

function workload(n: number): void {
  // Every new process allocates percpu counters for its mm (call site mm_init).
  for (let i = 0; i < n; i++) spawnSync('/bin/true');
}

test('live smoke (real kernel): top --mount --json while processes start, tracing left as it was', async (t) => {
  const why = liveUnavailable();
  if (why) {
    t.skip(`live percpu events unavailable: ${why}`);
    return;
  }
  const before = tracingState();
  const child = spawn(process.execPath, [CLI, 'top', '--mount', '--json', '--duration', '3', '--interval', '0.5'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  await new Promise((r) => setTimeout(r, 1200));
  workload(30);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0, err);
  const j = JSON.parse(out);
  assert.ok(j.events > 0, 'events were read');
  assert.ok(j.allocs >= 30, `${j.allocs} allocs for 30 new processes`);
  assert.ok(j.sites.length > 0);
  assert.equal(typeof j.lost.kernelOverrun, 'number');
  assert.equal(tracingState(), before, 'mounts and instances as they were');
});

test('live smoke (real kernel): SIGINT ends the session cleanly and restores tracing', async (t) => {
  const why = liveUnavailable();
  if (why) {
    t.skip(`live percpu events unavailable: ${why}`);
    return;
  }
  const before = tracingState();
  const child = spawn(process.execPath, [CLI, 'top', '--mount', '--interval', '0.3'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  for (let i = 0; i < 50 && !/CALL SITE/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
  workload(10);
  await new Promise((r) => setTimeout(r, 700));
  const during = tracingState();
  assert.match(during, /percpu-top-/, 'a private instance while it runs');
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0, err);
  assert.match(out, /percpu top — live/);
  assert.equal(tracingState(), before);
});

test('live smoke (real kernel, tmux): the screen updates in place while processes start; q restores tracing', async (t) => {
  const why = liveUnavailable() ?? (spawnSync('tmux', ['-V']).status === 0 ? undefined : 'tmux is not installed');
  if (why) {
    t.skip(`live screen test unavailable: ${why}`);
    return;
  }
  const before = tracingState();
  const name = `percpu-top-live-${process.pid}`;
  const tmux = (...args: string[]) => spawnSync('tmux', args, { encoding: 'utf8' });
  assert.equal(tmux('new-session', '-d', '-s', name, '-x', '140', '-y', '30', `${process.execPath} ${CLI} top --mount --interval 0.5; echo EXITED:$?; sleep 10`).status, 0);
  const screen = () => tmux('capture-pane', '-p', '-t', name).stdout;
  const eventsShown = () => Number(/(\d+) events \(/.exec(screen())?.[1] ?? -1);
  try {
    for (let i = 0; i < 100 && !/CALL SITE/.test(screen()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(screen(), /percpu top — live \(.*instances\/percpu-top-\d+\)/);
    const first = eventsShown();
    workload(20);
    let later = first;
    for (let i = 0; i < 50 && later <= first; i++) {
      await new Promise((r) => setTimeout(r, 100));
      later = eventsShown();
    }
    assert.ok(later > first, `the event count moved on screen (${first} → ${later})`);
    assert.match(screen(), /mm_init/, 'new processes show up under their call site');
    assert.equal(screen().match(/CALL SITE/g)?.length, 1, 'redrawn in place, not appended');
    tmux('send-keys', '-t', name, 'q');
    for (let i = 0; i < 100 && !/EXITED:/.test(screen()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(screen(), /EXITED:0/);
  } finally {
    tmux('kill-session', '-t', name);
  }
  assert.equal(tracingState(), before);
});
