// SPDX-License-Identifier: GPL-2.0-only
/**
 * Custom profiles: rules turned on and off one by one. Random rule
 * combinations over random alloc/free workloads keep the hints within the
 * staleness their rules allow (the checker's allowances follow the rules);
 * a base version with the other version's rules places exactly like it; and
 * combinations the engine cannot honour are refused with the dependency named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createAllocator, defineProfile, profileRules, RULE_NAMES, RULE_REQUIRES, PROFILE_4_14, PROFILE_7_0, RuleConflictError, UnsupportedError, ALLOC_ATOMIC, NULL_PTR, formatProblem, type BitmapRules, type RuleName } from '../src/index.js';
import { HintedBitmapAllocator } from '../src/engine/allocator.js';

type Op = { kind: 'a'; size: number; align: number; atomic: boolean } | { kind: 'f'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('a' as const),
      size: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 4096 }), fc.integer({ min: 4097, max: 9000 })),
      align: fc.constantFrom(1, 4, 8, 16, 64, 256, 1024, 4096),
      atomic: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('f' as const), pick: fc.nat() }) },
);

/** Any assignment of the rules, then every rule whose prerequisites are off turned off too: a combination the engine honours. */
const rulesArb: fc.Arbitrary<Partial<BitmapRules>> = fc.tuple(...RULE_NAMES.map(() => fc.boolean())).map((bits) => {
  const r = {} as Record<RuleName, boolean>;
  RULE_NAMES.forEach((name, i) => (r[name] = bits[i]!));
  for (let changed = true; changed; ) {
    changed = false;
    for (const name of RULE_NAMES) {
      if (r[name] && RULE_REQUIRES[name].some((need) => !r[need])) {
        r[name] = false;
        changed = true;
      }
    }
  }
  return r;
});

const ALLOCATOR_GEOMETRY = { unitSize: 32768, staticSize: 4104, dynSize: 24568 };

/** Runs `ops`, freeing a live pointer for each `f`; returns every placement (NULL included), checking the hints after each op. */
function run(a: HintedBitmapAllocator, ops: Op[], check: boolean): number[] {
  const live: number[] = [];
  const placed: number[] = [];
  for (const op of ops) {
    if (op.kind === 'a') {
      const ptr = a.alloc(op.size, op.align, op.atomic ? ALLOC_ATOMIC : 0);
      placed.push(ptr);
      if (ptr !== NULL_PTR) live.push(ptr);
    } else if (live.length > 0) {
      const k = op.pick % live.length;
      a.free(live[k]!);
      live[k] = live[live.length - 1]!;
      live.pop();
    }
    if (check) assert.deepEqual(a.check().map(formatProblem), [], `rules ${JSON.stringify(profileRules(a.profile))}`);
  }
  for (const p of live) a.free(p);
  if (check) assert.deepEqual(a.check().map(formatProblem), []);
  return placed;
}

for (const base of ['4.14', '7.0'] as const) {
  test(`${base} + random rules, chunk mode: hints stay within what the active rules allow`, () => {
    fc.assert(
      fc.property(rulesArb, fc.constantFrom(1, 2, 4), fc.array(opArb, { minLength: 30, maxLength: 200 }), (rules, pages, ops) => {
        const a = new HintedBitmapAllocator({ kernel: base, geometry: { unitSize: 4096 * pages }, mode: 'chunk', backend: 'km', rules });
        run(a, ops, true);
      }),
      { numRuns: 200 },
    );
  });
  test(`${base} + random rules, whole allocator: hints and slot lists stay consistent`, () => {
    fc.assert(
      fc.property(rulesArb, fc.constantFrom('vm' as const, 'km' as const), fc.array(opArb, { minLength: 40, maxLength: 200 }), (rules, backend, ops) => {
        const a = new HintedBitmapAllocator({ kernel: base, geometry: ALLOCATOR_GEOMETRY, backend, rules });
        run(a, ops, true);
      }),
      { numRuns: 100 },
    );
  });
}

test("4.14 with all of 7.0's rules places exactly like 7.0, and 7.0 with none exactly like 4.14", () => {
  const all = profileRules(PROFILE_7_0);
  const none = profileRules(PROFILE_4_14);
  fc.assert(
    fc.property(fc.constantFrom('chunk' as const, 'allocator' as const), fc.array(opArb, { minLength: 40, maxLength: 300 }), (mode, ops) => {
      const geometry = mode === 'chunk' ? { unitSize: 4096 * 4 } : ALLOCATOR_GEOMETRY;
      const seven = run(new HintedBitmapAllocator({ kernel: '7.0', geometry, mode }), ops, false);
      const custom7 = run(new HintedBitmapAllocator({ kernel: '4.14', geometry, mode, rules: all }), ops, false);
      assert.deepEqual(custom7, seven);
      const four = run(new HintedBitmapAllocator({ kernel: '4.14', geometry, mode }), ops, false);
      const custom4 = run(new HintedBitmapAllocator({ kernel: '7.0', geometry, mode, rules: none }), ops, false);
      assert.deepEqual(custom4, four);
    }),
    { numRuns: 60 },
  );
});

test('a single rule changes placement on its own: 4.14 + slotByContig differs from 4.14 on GV-B-like input only through slots', () => {
  const p = defineProfile('4.14', { slotByContig: true });
  assert.equal(p.kernel, '4.14');
  assert.equal(p.slotByContig, true);
  assert.equal(p.blockScanHint, false);
  const a = createAllocator({ kernel: '4.14', geometry: ALLOCATOR_GEOMETRY, rules: { slotByContig: true } }) as HintedBitmapAllocator;
  assert.equal(a.profile.slotByContig, true);
  assert.equal(a.kernel, '4.14');
  // The scan-hint rules act in the area search: GV-B's last request lands at byte 32 in 4.14, 4096 in 7.0.
  const gvb = (rules: Partial<BitmapRules>) => {
    const c = new HintedBitmapAllocator({ kernel: '4.14', geometry: { unitSize: 4096 * 8 }, mode: 'chunk', rules });
    c.alloc(24, 4);
    const b = c.alloc(512, 4);
    c.free(b);
    c.free(c.alloc(4, 64));
    return c.unitOffset(c.alloc(6000, 16));
  };
  assert.equal(gvb({}), 32);
  assert.equal(gvb({ slotByContig: true }), 32);
  assert.equal(gvb({ correctFreeRegion: true, chunkHintsAsBlock: true, blockScanHint: true, chunkScanHint: true }), 4096);
});

test('combinations the engine cannot honour are refused with the dependency named', () => {
  for (const name of RULE_NAMES) {
    for (const need of RULE_REQUIRES[name]) {
      const rules: Partial<BitmapRules> = { ...profileRules(PROFILE_7_0), [need]: false };
      assert.throws(
        () => defineProfile('7.0', rules),
        (e: unknown) => e instanceof RuleConflictError && e.code === 'ERULES' && e.message.includes(`"${need}"`),
        `${name} without ${need}`,
      );
    }
  }
  assert.throws(
    () => createAllocator({ kernel: '4.14', geometry: ALLOCATOR_GEOMETRY, rules: { chunkScanHint: true } }),
    (e: unknown) => e instanceof RuleConflictError && e.rule === 'chunkScanHint' && e.requires === 'chunkHintsAsBlock',
  );
  assert.throws(() => defineProfile('4.14', { scanHints: true } as unknown as Partial<BitmapRules>), (e: unknown) => e instanceof RuleConflictError && e.rule === 'scanHints' && e.requires === '');
  assert.throws(() => createAllocator({ kernel: '4.13', geometry: ALLOCATOR_GEOMETRY, rules: { slotByContig: true } }), UnsupportedError);
});

test('fixed corrects the slip of the active rules', () => {
  assert.equal(defineProfile('4.14', {}, { fixed: true }).correctFreeRegion, true);
  assert.equal(defineProfile('4.14', {}, { fixed: true }).fixFreeCoordinates, false);
  assert.equal(defineProfile('7.0', {}, { fixed: true }).fixFreeCoordinates, true);
  // A shared allocator's handle carries its rules to the threads that attach.
  const a = new HintedBitmapAllocator({ kernel: '4.14', geometry: ALLOCATOR_GEOMETRY, shared: true, rules: { slotByContig: true } });
  assert.equal(HintedBitmapAllocator.attach(a.handle()!).profile.slotByContig, true);
});
