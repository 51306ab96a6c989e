// SPDX-License-Identifier: GPL-2.0-only
/**
 * The profiling driver (bench/profile-phase.ts): a run does the ops it says
 * (all of them, or all but the skipped kind), refuses to skip the frees of a
 * stream whose allocations follow frees, writes one window per measured phase,
 * and the summary places each sample of a profile by the window its time falls
 * in, counting leaf, stack and line ticks there; the callgrind join counts a
 * function's calls and its checks by deoptimisation reason. Asserts on counts
 * and attribution, never on times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';
import { freesAreLast, joinFunction, parseCallgrindInstr, parseOptCode, profileRun, summarize } from '../bench/profile-phase.js';
import { buildWorkload } from '../bench/workloads.js';

const DRIVER = join(ROOT, 'dist', 'bench', 'profile-phase.js');

test('a run does every op of its repetitions, or all but the skipped kind, and records one window per measured phase', () => {
  const windows: number[] = [];
  const all = profileRun('W6b', '4.14', 2, 'none', windows);
  assert.equal(all.allocs, 200_000);
  assert.equal(all.frees, 200_000);
  // W6b: one alloc phase and one free phase per repetition, as [start, end, kind].
  assert.equal(windows.length, 2 * 2 * 3);
  assert.deepEqual([windows[2], windows[5], windows[8], windows[11]], [0, 1, 0, 1]);
  for (let i = 0; i < windows.length; i += 3) assert.ok(windows[i]! <= windows[i + 1]!);
  const noFrees = profileRun('W6b', '7.0', 1, 'free');
  assert.deepEqual([noFrees.allocs, noFrees.frees], [100_000, 0]);
  const nothing = profileRun('W6b', '7.0', 1, 'all');
  assert.deepEqual([nothing.allocs, nothing.frees], [0, 0]);
});

test('frees can be left out only where no allocation follows them', () => {
  assert.equal(freesAreLast(buildWorkload('W1a', { n: 64 })), true);
  assert.equal(freesAreLast(buildWorkload('W8')), false);
  const r = spawnSync(process.execPath, [DRIVER, '--workload', 'W8', '--ver', '4.14', '--reps', '1', '--skip', 'free'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^profile-phase: W8: allocations follow frees/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('the summary places samples by time: leaf, inclusive and line ticks per phase kind', () => {
  const frame = (functionName: string) => ({ functionName, url: 'file:///x/y.js', lineNumber: 0 });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 4] },
      { id: 2, callFrame: frame('runFrees'), children: [3] },
      { id: 3, callFrame: frame('freeArea'), positionTicks: [{ line: 7, ticks: 2 }] },
      { id: 4, callFrame: frame('(garbage collector)') },
    ],
    startTime: 1000,
    // Samples at 1010, 1020, 1030 (free window), 1040 (GC, still in it), 1100 (alloc window), 1300 (outside).
    samples: [3, 3, 2, 4, 2, 2],
    timeDeltas: [10, 10, 10, 10, 60, 200],
  };
  const windows = [1005, 1050, 1, 1090, 1200, 0];
  const [alloc, free, outside] = summarize(profile, windows, ['freeArea']);
  assert.equal(free!.samples, 4);
  assert.equal(free!.self.get('freeArea y.js'), 2);
  assert.equal(free!.self.get('runFrees y.js'), 1);
  assert.equal(free!.self.get('(garbage collector) y.js'), 1);
  assert.equal(free!.inclusive.get('runFrees y.js'), 3);
  assert.equal(free!.lines.get('freeArea:7'), 2);
  assert.equal(alloc!.samples, 1);
  assert.equal(outside!.samples, 1);
});

test('the callgrind join: calls from the first instruction, checks by the reason of the exit they jump to', () => {
  // Three instructions run 10 times (entry, a map check's compare and jump), one 30 times; calls= costs are inclusive and skipped.
  const cg = ['fn=(1) 0x0000000000001000', '0x1000 0 10', '+4 0 10', '+3 0 10', '+6 0 30', 'calls=10 0x2000', '+2 0 999', ''].join('\n');
  const listing = [
    'optimization_id = 7',
    'name = freeArea',
    'Instructions (size = 32)',
    '0x1000     0  488b59f8             REX.W movq rbx,[rcx-0x8]',
    '0x1004     4  4d3948ff             REX.W cmpq [r8-0x1],r9',
    '0x1007     7  0f8566170000         jnz 0x1020  <+0x20>',
    '0x100d     d  4d8b5817             REX.W movq r11,[rbp-0x28]',
    "                                                             ;; debug: deopt reason 'wrong map'",
    '0x1020    20  41ff55c8             call [r13-0x38]',
    'Inlined functions (count = 0)',
  ].join('\n');
  const ir = parseCallgrindInstr(cg);
  assert.deepEqual([ir.get(0x1000), ir.get(0x1004), ir.get(0x1007), ir.get(0x100d), ir.get(0x100f)], [10, 10, 10, 30, undefined]);
  const j = joinFunction(ir, parseOptCode(listing), 'freeArea')!;
  assert.equal(j.calls, 10);
  assert.equal(j.ir, 60);
  assert.deepEqual([...j.checks], [['wrong map', 20]]);
  assert.equal(j.other.get('stack spill/reload'), 30);
});
