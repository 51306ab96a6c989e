// SPDX-License-Identifier: GPL-2.0-only
/**
 * Kernel profiles: which version of the allocator's rules to follow.
 *
 * This file is the one place where every behavioural difference between the
 * hinted-bitmap versions is named. The engine branches on these flags and on
 * nothing else; `docs/PROFILES.md` explains each with its commit and effect.
 */
import { UnsupportedError } from '../errors.js';

export type KernelVersion = '4.13' | '4.14' | '7.0';

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

export function parseKernelVersion(name: string): KernelVersion {
  const v = KERNEL_ALIASES[name];
  if (v === undefined) throw new UnsupportedError(`unknown kernel version "${name}" (known: ${Object.keys(KERNEL_ALIASES).join(', ')})`);
  return v;
}

/** The differences between 4.14 (Dennis Zhou's 2017 series) and 7.0 (today's kernels). */
export interface BitmapProfile {
  readonly kernel: '4.14' | '7.0';
  /**
   * 5.2 "add block level scan_hint" / "use block scan_hint to only scan forward" /
   * "remember largest area skipped during allocation": blocks and the chunk keep a
   * scan hint, searches may start after it, rescans promote it.
   */
  readonly scanHints: boolean;
  /**
   * 5.2 "manage chunks based on contig_bits instead of free_bytes": a chunk's slot
   * comes from its largest free run, not its total free bytes.
   */
  readonly slotByContig: boolean;
  /** 5.2 "relegate chunks unusable when failing small allocations" (slot < 3 → head of slot 0). */
  readonly relegateOnFail: boolean;
  /**
   * 5.14 partial depopulation: sidelined and to-depopulate slots, chunk isolation,
   * reintegration, four-step balance work.
   */
  readonly depopulation: boolean;
  /**
   * 5.2 "set PCPU_BITMAP_BLOCK_SIZE to PAGE_SIZE": empty populated pages are counted
   * in the hint updates (and a fresh first chunk starts with all pages empty) instead
   * of being recounted on every full chunk refresh.
   */
  readonly emptyPagesInHints: boolean;
  /** 7.0 a4818a8beb15 "add double free check": an invalid free is ignored (WARN) instead of corrupting. */
  readonly doubleFreeCheck: boolean;
  /** percpu_stats: 7.0 adds the sidelined / to_depopulate chunk headers. */
  readonly statsIsolationHeaders: boolean;
  /** `PERCPU_DYNAMIC_EARLY_SIZE`: the smallest dynamic region the first chunk may have. */
  readonly dynamicEarlySize: number;
  /**
   * Correct the upstream free-path slip instead of reproducing it:
   * 4.14 passes the block's contig size to the chunk update (spec §4.1);
   * 7.0 mixes a chunk-relative start with a block-relative end (spec §4.2).
   */
  readonly fixedFreePath: boolean;
}

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

export function bitmapProfile(kernel: '4.14' | '7.0', options: { fixed?: boolean } = {}): BitmapProfile {
  const base = kernel === '4.14' ? PROFILE_4_14 : PROFILE_7_0;
  return options.fixed ? Object.freeze({ ...base, fixedFreePath: true }) : base;
}
