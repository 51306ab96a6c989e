// SPDX-License-Identifier: GPL-2.0-only
/**
 * Constants of the kernel's percpu allocator (spec §1) and the slot function
 * shared by every version (§1.1).
 */

/** Allocation granularity of the bitmap allocator: one bit is 4 bytes. */
export const MIN_ALLOC_SHIFT = 2;
/** Smallest allocation, in bytes (one bit of the bitmap). */
export const MIN_ALLOC_SIZE = 1 << MIN_ALLOC_SHIFT;

/** Slots are log2 buckets starting at this shift. */
export const SLOT_BASE_SHIFT = 5;

/** 7.0: a chunk failing a request while in a slot below this is relegated to slot 0. */
export const SLOT_FAIL_THRESHOLD = 3;

/** The balance work keeps the number of empty populated pages between these marks. */
export const EMPTY_POP_PAGES_LOW = 2;
/** See `EMPTY_POP_PAGES_LOW`. */
export const EMPTY_POP_PAGES_HIGH = 4;

/** Largest allocation and smallest unit: PFN_ALIGN(32 KiB). */
export const MIN_UNIT_SIZE = 32 << 10;

/** Bytes kept for modules' static percpu variables when CONFIG_MODULES is set. */
export const MODULE_RESERVE = 8 << 10;

/** 64-bit default dynamic reserve passed by x86-64's first-chunk setup. */
export const DYNAMIC_RESERVE = 28 << 10;

/** `fls`-based slot of a size, before the "fully free" special case. */
export function sizeToSlotRaw(size: number): number {
  const slot = 32 - Math.clz32(size) - SLOT_BASE_SHIFT + 2;
  return slot > 1 ? slot : 1;
}
