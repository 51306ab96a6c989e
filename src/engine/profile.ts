// SPDX-License-Identifier: GPL-2.0-only
/**
 * Kernel profiles: which version of the allocator's rules to follow.
 *
 * This file is the one place where every behavioural difference between the
 * hinted-bitmap versions is named. The engine branches on these flags and on
 * nothing else; `docs/PROFILES.md` explains each with its commit and effect.
 */
import { UnsupportedError } from '../errors.js';
import { type BitmapProfile, type KernelVersion } from './api.js';
// Declared in api.ts (the engine's one place for types, flags and layouts); re-exported for existing imports.
export type { KernelVersion, BitmapProfile } from './api.js';

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

/** The rules of Linux 4.14's hinted bitmap allocator, as merged. */
export const PROFILE_4_14: BitmapProfile = Object.freeze({
  kernel: '4.14',
  scanHints: false,
  slotByContig: false,
  relegateOnFail: false,
  depopulation: false,
  emptyPagesInHints: false,
  doubleFreeCheck: false,
  statsIsolationHeaders: false,
  dynamicEarlySize: 12 << 10,
  fixedFreePath: false,
});

/** The rules of today's kernels (7.0; the Linux 6.x kernels place the same way). */
export const PROFILE_7_0: BitmapProfile = Object.freeze({
  kernel: '7.0',
  scanHints: true,
  slotByContig: true,
  relegateOnFail: true,
  depopulation: true,
  emptyPagesInHints: true,
  doubleFreeCheck: true,
  statsIsolationHeaders: true,
  dynamicEarlySize: 20 << 10,
  fixedFreePath: false,
});

/** The rules of 4.14 or 7.0, with `fixed` the free-path slip corrected. */
export function bitmapProfile(kernel: '4.14' | '7.0', options: { fixed?: boolean } = {}): BitmapProfile {
  const base = kernel === '4.14' ? PROFILE_4_14 : PROFILE_7_0;
  return options.fixed ? Object.freeze({ ...base, fixedFreePath: true }) : base;
}
