// SPDX-License-Identifier: GPL-2.0-only
/**
 * The hint checker: recomputes every block and chunk hint of a bitmap allocator
 * by brute force from the allocation bitmap, and reports each hint that is wrong
 * in a way the staleness of the allocator's active rules does not allow
 * (spec §2.1–§2.3). The allowances follow the rules (`BitmapRules`), not the
 * kernel version, so a custom profile is checked by what its rules do:
 *
 * - blocks: left_free and the free-block summary exact; the contig-block
 *   summary exactly "contig hint non-zero", and right_free never above the
 *   contig hint (the region walk's skip over full blocks rests on both);
 *   first_free a lower bound of the first free bit; the contig run free. Without `blockScanHint`
 *   contig and right_free are exact and the contig run maximal; with it
 *   (scan-hint promotion) both may be too small, never too large, and the scan
 *   run must be free and no larger than the contig hint.
 * - chunks: free bytes exact. Without `chunkHintsAsBlock` the first free bit is
 *   exact and the contig hint is not checked: that record is refreshed only when
 *   an allocation *starts* inside the hinted run, so one starting just before
 *   it and reaching into it leaves a stale, too-large hint (the 4.14 free-path
 *   slip can also point it at the wrong run). With `chunkHintsAsBlock` the first
 *   free bit is a lower bound (the free-path slip moves it alone), the contig
 *   hint is never larger than the truth and its run is free, and so is the
 *   chunk's scan run when `blockScanHint` keeps one.
 * - lists: every chunk on the slot list its header names, exactly once.
 *
 * An empty result means "consistent as far as the kernel guarantees".
 */
import { findNextBit, findNextZeroBit, weight } from './bitmap.js';
import type { BitmapAllocator } from './bitmap-allocator.js';
import { type Chunk } from './chunk.js';
import { MIN_ALLOC_SIZE } from './constants.js';
import { type HintProblem } from './api.js';
import { Md, MD_STRIDE, Hdr } from './layout.js';
// Declared in api.ts (the engine's one place for types, flags and layouts); re-exported for existing imports.
export type { HintProblem } from './api.js';

interface Truth {
  contig: number;
  left: number;
  right: number;
  firstFree: number;
}

/** Free-run summary of bits [from, to) of a map, by scanning. */
function scanTruth(map: Uint32Array, from: number, to: number): Truth {
  const len = to - from;
  let contig = 0;
  let firstFree = len;
  let left = 0;
  let right = 0;
  let rs = findNextZeroBit(map, to, from);
  if (rs < to) firstFree = rs - from;
  while (rs < to) {
    const re = findNextBit(map, to, rs + 1);
    const run = re - rs;
    if (run > contig) contig = run;
    if (rs === from) left = run;
    if (re === to) right = run;
    rs = findNextZeroBit(map, to, re + 1);
  }
  return { contig, left, right, firstFree };
}

function isFree(map: Uint32Array, from: number, len: number): boolean {
  return len <= 0 || findNextBit(map, from + len, from) >= from + len;
}

/** One chunk's hint problems: each block and chunk hint recomputed from the allocation bitmap. */
export function checkChunk(a: BitmapAllocator, chunk: Chunk): HintProblem[] {
  const out: HintProblem[] = [];
  const id = chunk.hdr[Hdr.Id]!;
  const md = chunk.md;
  const map = chunk.allocMap;
  const blockBits = a.geometry.blockBits;
  // Scan-hint promotion lets block hints be smaller than the truth.
  const fuzzyBlocks = a.profile.blockScanHint;
  const asBlock = a.profile.chunkHintsAsBlock;
  const report = (block: number, field: string, expected: string, actual: number, rule: string) =>
    out.push({ chunk: id, block, field, expected, actual, rule });

  for (let b = 0; b < chunk.nrBlocks; b++) {
    const at = b * MD_STRIDE;
    const base = b * blockBits;
    const t = scanTruth(map, base, base + blockBits);
    const contig = md[at + Md.Contig]!;
    const cStart = md[at + Md.ContigStart]!;
    if (fuzzyBlocks ? contig > t.contig : contig !== t.contig) report(b, 'contig_hint', fuzzyBlocks ? `<= ${t.contig}` : `${t.contig}`, contig, fuzzyBlocks ? 'with blockScanHint a block contig may be stale-small, never too large' : 'without blockScanHint a block contig hint is exact');
    if (contig > 0 && !isFree(map, base + cStart, contig)) report(b, 'contig_hint_start', `a free run of ${contig} bits`, cStart, 'the hinted contig run must be free');
    if (!fuzzyBlocks && contig > 0 && contig === t.contig) {
      const before = cStart === 0 || !isFree(map, base + cStart - 1, 1);
      const after = cStart + contig === blockBits || !isFree(map, base + cStart + contig, 1);
      if (!before || !after) report(b, 'contig_hint_start', 'the start of a maximal free run', cStart, 'without blockScanHint a contig run is maximal');
    }
    if (md[at + Md.LeftFree] !== t.left) report(b, 'left_free', `${t.left}`, md[at + Md.LeftFree]!, 'left_free is exact');
    const summary = (chunk.freeBlocks[b >>> 5]! >>> (b & 31)) & 1;
    if (summary !== (t.left === blockBits ? 1 : 0)) report(b, 'free_blocks', `${t.left === blockBits ? 1 : 0}`, summary, 'the free-block summary bit says exactly whether the block is entirely free');
    const hinted = (chunk.contigBlocks[b >>> 5]! >>> (b & 31)) & 1;
    if (hinted !== (contig !== 0 ? 1 : 0)) report(b, 'contig_blocks', `${contig !== 0 ? 1 : 0}`, hinted, 'the contig-block summary bit says exactly whether the block contig hint is non-zero');
    const right = md[at + Md.RightFree]!;
    if (right > contig) report(b, 'right_free', `<= contig_hint ${contig}`, right, 'right_free is one of the block runs the contig hint covers (region walks pass blocks with a zero contig hint)');
    if (fuzzyBlocks ? right > t.right : right !== t.right) report(b, 'right_free', fuzzyBlocks ? `<= ${t.right}` : `${t.right}`, right, fuzzyBlocks ? 'with blockScanHint right_free may be stale at 0, never too large' : 'without blockScanHint right_free is exact');
    if (md[at + Md.FirstFree]! > t.firstFree) report(b, 'first_free', `<= ${t.firstFree}`, md[at + Md.FirstFree]!, 'first_free is a lower bound of the first free bit');
    if (fuzzyBlocks) {
      const scan = md[at + Md.ScanHint]!;
      if (scan > 0 && !isFree(map, base + md[at + Md.ScanHintStart]!, scan)) report(b, 'scan_hint', `a free run of ${scan} bits`, md[at + Md.ScanHintStart]!, 'the scan hint run must be free');
      if (scan > contig) report(b, 'scan_hint', `<= contig_hint ${contig}`, scan, 'the scan hint is never larger than the contig hint');
    }
  }

  // Chunk level, over the usable region only.
  const h = chunk.hdr;
  const startBit = chunk.startBit;
  const endBit = chunk.endBit;
  const usable = endBit - startBit;
  const freeBytes = (usable - (weight(map, endBit) - weight(map, startBit))) * MIN_ALLOC_SIZE;
  if (h[Hdr.FreeBytes] !== freeBytes) report(-1, 'free_bytes', `${freeBytes}`, h[Hdr.FreeBytes]!, 'free_bytes is exact');
  const t = scanTruth(map, 0, chunk.mapBits);
  const cm = chunk.chunkMd;
  const firstFree = md[cm + Md.FirstFree]!;
  if (asBlock ? firstFree > t.firstFree : firstFree !== t.firstFree) report(-1, 'first_bit', asBlock ? `<= ${t.firstFree}` : `${t.firstFree}`, firstFree, asBlock ? 'with chunkHintsAsBlock the chunk first free bit is a lower bound' : 'without chunkHintsAsBlock the chunk first free bit is exact');
  const contig = md[cm + Md.Contig]!;
  if (asBlock) {
    if (contig > t.contig) report(-1, 'contig_bits', `<= ${t.contig}`, contig, 'with chunkHintsAsBlock the chunk contig hint may be stale-small, never too large');
    if (contig > 0 && !isFree(map, md[cm + Md.ContigStart]!, contig)) report(-1, 'contig_bits_start', `a free run of ${contig} bits`, md[cm + Md.ContigStart]!, 'the chunk contig run must be free');
    const scan = md[cm + Md.ScanHint]!;
    if (fuzzyBlocks && scan > 0 && !isFree(map, md[cm + Md.ScanHintStart]!, scan)) report(-1, 'scan_hint', `a free run of ${scan} bits`, md[cm + Md.ScanHintStart]!, 'the chunk scan hint run must be free');
  }
  return out;
}

function checkLists(a: BitmapAllocator): HintProblem[] {
  const out: HintProblem[] = [];
  const seen = new Set<number>();
  for (const { chunk, slot } of a.chunksInSlotOrder()) {
    const id = chunk.hdr[Hdr.Id]!;
    if (seen.has(id)) out.push({ chunk: id, block: -1, field: 'slot', expected: 'on one list once', actual: slot, rule: 'slot lists' });
    seen.add(id);
    if (chunk.hdr[Hdr.Slot] !== slot) out.push({ chunk: id, block: -1, field: 'slot', expected: `${slot}`, actual: chunk.hdr[Hdr.Slot]!, rule: 'the header names the list the chunk is on' });
  }
  for (const c of a.liveChunks()) {
    const id = c.hdr[Hdr.Id]!;
    if (c !== a.reserved && !seen.has(id)) out.push({ chunk: id, block: -1, field: 'slot', expected: 'on a slot list', actual: -1, rule: 'every chunk but the reserved one is on a slot list' });
  }
  return out;
}

/** Every hint problem of every chunk of a bitmap allocator (empty when all hints are within the documented staleness). */
export function checkBitmapAllocator(a: BitmapAllocator): HintProblem[] {
  const out = checkLists(a);
  for (const c of a.liveChunks()) out.push(...checkChunk(a, c));
  return out;
}

/** A hint problem as one line: where, which field, what it holds and what the rule allows. */
export function formatProblem(p: HintProblem): string {
  const where = p.block < 0 ? `chunk ${p.chunk}` : `chunk ${p.chunk} block ${p.block}`;
  return `${where}: ${p.field} = ${p.actual}, expected ${p.expected} (${p.rule})`;
}
