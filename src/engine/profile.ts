// SPDX-License-Identifier: GPL-2.0-only
/**
 * Kernel profiles: which of the allocator's rules to follow.
 *
 * A hinted-bitmap profile is a base version (4.14 or 7.0: the first chunk's
 * minimum dynamic size, the name it reports) plus a set of rules
 * (`BitmapRules`, declared in api.ts). Each rule is one upstream change between
 * 4.14 and 7.0, named for what it does; the engine reads each rule only where
 * that rule acts, and reads nothing else to tell the versions apart.
 * `docs/PROFILES.md` gives each rule's commit and effect.
 *
 * Invariant: every profile this module hands out has passed `checkRules`, so
 * the engine never meets a combination it cannot honour (a rule on whose
 * prerequisite is off).
 */
import { RuleConflictError, UnsupportedError } from '../errors.js';
import { type BitmapProfile, type BitmapRules, type KernelVersion, type RuleName } from './api.js';
// Declared in api.ts (the engine's one place for types, flags and layouts); re-exported for existing imports.
export type { KernelVersion, BitmapProfile, BitmapRules, RuleName } from './api.js';

/** Names accepted on the command line and in golden headers, with their profile. */
export const KERNEL_ALIASES: Readonly<Record<string, KernelVersion>> = {
  '4.13': '4.13',
  '4.14': '4.14',
  '7.0': '7.0',
  '6.x': '7.0',
  '6.18': '7.0',
  '6.19': '7.0',
  newest: '7.0',
};

/** The profile of a kernel name or alias (`KERNEL_ALIASES`); throws `UnsupportedError` for an unknown one. */
export function parseKernelVersion(name: string): KernelVersion {
  const v = KERNEL_ALIASES[name];
  if (v === undefined) throw new UnsupportedError(`unknown kernel version "${name}" (known: ${Object.keys(KERNEL_ALIASES).join(', ')})`);
  return v;
}

/** The rules of 4.14 as merged: every rule off. */
const RULES_4_14: BitmapRules = Object.freeze({
  correctFreeRegion: false,
  slotByContig: false,
  relegateOnFail: false,
  emptyPagesInHints: false,
  blockScanHint: false,
  rememberSkipped: false,
  blockScanForward: false,
  chunkHintsAsBlock: false,
  chunkScanHint: false,
  depopulation: false,
  fixFreeCoordinates: false,
});

/** The rules of 7.0: every upstream rule on; the 7.0 free-path slip kept. */
const RULES_7_0: BitmapRules = Object.freeze({
  correctFreeRegion: true,
  slotByContig: true,
  relegateOnFail: true,
  emptyPagesInHints: true,
  blockScanHint: true,
  rememberSkipped: true,
  blockScanForward: true,
  chunkHintsAsBlock: true,
  chunkScanHint: true,
  depopulation: true,
  fixFreeCoordinates: false,
});

/** Every rule name, in the order upstream introduced them (docs/PROFILES.md's order). */
export const RULE_NAMES: readonly RuleName[] = Object.freeze(Object.keys(RULES_4_14) as RuleName[]);

/**
 * What each rule builds on: a rule is honoured only with these on. Upstream
 * introduced them in this order, and the engine's code for a rule assumes the
 * state its prerequisites keep (a scan hint to skip, a chunk record kept like a
 * block's, exact per-chunk empty-page counts).
 */
export const RULE_REQUIRES: Readonly<Record<RuleName, readonly RuleName[]>> = Object.freeze({
  correctFreeRegion: [],
  slotByContig: [],
  relegateOnFail: [],
  emptyPagesInHints: [],
  blockScanHint: [],
  rememberSkipped: ['blockScanHint'],
  blockScanForward: ['blockScanHint'],
  chunkHintsAsBlock: ['correctFreeRegion'],
  chunkScanHint: ['chunkHintsAsBlock', 'blockScanHint'],
  depopulation: ['emptyPagesInHints'],
  fixFreeCoordinates: ['chunkHintsAsBlock'],
});

/** Throws `RuleConflictError` for an unknown rule name, a non-boolean value, or a rule on whose prerequisite is off (the first such, in `RULE_NAMES` order). */
export function checkRules(rules: Readonly<Record<string, unknown>>): void {
  checkRulesShape(rules);
  checkRuleDependencies(rules);
}

function checkRuleDependencies(rules: Readonly<Record<string, unknown>>): void {
  for (const name of RULE_NAMES) {
    if (rules[name] !== true) continue;
    for (const need of RULE_REQUIRES[name]) {
      if (rules[need] !== true) {
        throw new RuleConflictError(name, need, `rule "${name}" requires rule "${need}"`, `turn "${need}" on too, or "${name}" off`);
      }
    }
  }
}

/** Options of `defineProfile` besides the rules. */
export interface DefineProfileOptions {
  /**
   * Correct the upstream free-path slip of the resulting rules instead of
   * reproducing it: with `chunkHintsAsBlock` this sets `fixFreeCoordinates`
   * (not upstream), without it `correctFreeRegion` (the 5.2 fix).
   */
  fixed?: boolean;
}

/**
 * A profile: the base version's rules with `overrides` applied, checked
 * (`RuleConflictError` names the rule and the one it requires). The base gives
 * the reported kernel version and the first chunk's minimum dynamic size.
 * Example: `defineProfile('4.14', { slotByContig: true })` is 4.14 with 5.2's
 * contig-based slots.
 */
export function defineProfile(base: '4.14' | '7.0', overrides: Partial<BitmapRules> = {}, options: DefineProfileOptions = {}): BitmapProfile {
  if (base !== '4.14' && base !== '7.0') throw new UnsupportedError(`rules apply to the hinted-bitmap profiles 4.14 and 7.0, not "${String(base)}"`);
  checkRulesShape(overrides);
  const rules: Record<RuleName, boolean> = { ...(base === '4.14' ? RULES_4_14 : RULES_7_0), ...overrides };
  if (options.fixed) {
    if (rules.chunkHintsAsBlock) rules.fixFreeCoordinates = true;
    else rules.correctFreeRegion = true;
  }
  checkRuleDependencies(rules);
  return Object.freeze({ kernel: base, dynamicEarlySize: base === '4.14' ? 12 << 10 : 20 << 10, ...rules });
}

/** Unknown names and non-boolean values are refused (before a merge would hide them). */
function checkRulesShape(overrides: Readonly<Record<string, unknown>>): void {
  for (const name of Object.keys(overrides)) {
    if (!(name in RULE_REQUIRES)) throw new RuleConflictError(name, '', `unknown rule "${name}"`, `known rules: ${RULE_NAMES.join(', ')}`);
    if (typeof overrides[name] !== 'boolean') throw new RuleConflictError(name, '', `rule "${name}" must be true or false, not ${String(overrides[name])}`);
  }
}

/** The rules of Linux 4.14's hinted bitmap allocator, as merged. */
export const PROFILE_4_14: BitmapProfile = defineProfile('4.14');

/** The rules of today's kernels (7.0; the Linux 6.x kernels place the same way). */
export const PROFILE_7_0: BitmapProfile = defineProfile('7.0');

/** The rules of 4.14 or 7.0, with `fixed` the free-path slip corrected, and `rules` overriding single rules. */
export function bitmapProfile(kernel: '4.14' | '7.0', options: { fixed?: boolean; rules?: Partial<BitmapRules> } = {}): BitmapProfile {
  if (!options.fixed && options.rules === undefined) return kernel === '4.14' ? PROFILE_4_14 : PROFILE_7_0;
  return defineProfile(kernel, options.rules ?? {}, { fixed: options.fixed ?? false });
}

/** The rules of a profile alone (without `kernel` and `dynamicEarlySize`), e.g. to print or compare them. */
export function profileRules(profile: BitmapProfile): BitmapRules {
  const out = {} as Record<RuleName, boolean>;
  for (const name of RULE_NAMES) out[name] = profile[name];
  return out;
}
