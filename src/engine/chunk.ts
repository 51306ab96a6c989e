// SPDX-License-Identifier: GPL-2.0-only
/**
 * A chunk of the hinted bitmap allocator, held entirely in typed arrays.
 *
 * One chunk owns one contiguous region of a buffer (its own `ArrayBuffer`, or
 * a piece of a shared arena — see `store.ts`) carved into:
 *
 *   hdr        Int32 × HDR_WORDS      scalar fields (free bytes, counters, offsets, flags)
 *   md         Int32 × (blocks + 1) × MD_STRIDE
 *                                      one metadata record per block (= page), then the
 *                                      chunk's own record: the chunk hints live in the same
 *                                      layout, as in 7.0's `chunk_md` (4.14 uses its contig,
 *                                      contig start and first free fields only)
 *   allocMap   Uint32 × ceil(mapBits / 32)        1 = allocated
 *   boundMap   Uint32 × ceil((mapBits + 1) / 32)  1 = first bit of an allocation, or bit
 *                                                  right after one (stale after a free)
 *   populated  Uint32 × ceil(nrPages / 32)        1 = page populated
 *   freeBlocks Uint32 × ceil(nrPages / 32)        1 = block entirely free (its left_free is
 *                                                  the whole block): a summary of the md
 *                                                  records that lets region walks step over
 *                                                  runs of free blocks a word at a time
 *   contigBlocks Uint32 × ceil(nrPages / 32)      1 = block's contig hint non-zero: a summary
 *                                                  that lets region walks step over runs of
 *                                                  full blocks a word at a time
 *
 * Invariants: every bit of a live allocation is set in allocMap; its first bit is
 * set in boundMap and its interior bits are clear there; the hidden head and tail
 * of a first chunk are allocated and never freed; `freeBytes` counts only usable,
 * unallocated bytes. The hint fields may be stale exactly where the kernel's are.
 *
 * Units (units.ts): the typed arrays hold plain numbers (bits in `md`, bytes in
 * most of `hdr`); the named reads below hand them out branded.
 */
import { type BufferFactory } from './api.js';
import { Md, MD_STRIDE, Hdr, HDR_WORDS } from './layout.js';
import { asBits, asBlocks, asBytes, asChunkId, asPages, bytesToBits, offsetToBit, type Bits, type Blocks, type Bytes, type ChunkId, type Pages } from './units.js';
// Declared in api.ts (the engine's one place for types, flags and layouts); re-exported for existing imports.
export { Md, MD_STRIDE, Hdr, HDR_WORDS } from './layout.js';
export type { BufferFactory } from './api.js';

export const plainBuffer: BufferFactory = (bytes) => new ArrayBuffer(bytes);

/** Words of each part of a chunk of `nrPages` pages. */
function layout(nrPages: number, blockBits: number) {
  const mapBits = nrPages * blockBits;
  const mdWords = (nrPages + 1) * MD_STRIDE;
  const allocWords = (mapBits + 31) >>> 5;
  const boundWords = (mapBits + 1 + 31) >>> 5;
  const popWords = (nrPages + 31) >>> 5;
  return { mapBits, mdWords, allocWords, boundWords, popWords, bytes: 4 * (HDR_WORDS + mdWords + allocWords + boundWords + 3 * popWords) };
}

/** Typed-array views over one chunk of the bitmap allocator (see the module comment for the layout); read its fields with `hdr[Hdr.X]` and `md[record * MD_STRIDE + Md.X]`. */
export class Chunk {
  readonly hdr: Int32Array;
  readonly md: Int32Array;
  readonly allocMap: Uint32Array;
  readonly boundMap: Uint32Array;
  readonly populated: Uint32Array;
  /** Bit b set exactly when block b's `LeftFree` is the whole block (kept by the allocator at every alloc and free). */
  readonly freeBlocks: Uint32Array;
  /**
   * Bit b set exactly when block b's `Contig` is non-zero (kept by the allocator
   * wherever a block's contig hint is written). With the hint rule `RightFree <=
   * Contig`, a clear bit is a block a region walk with no region open passes over.
   */
  readonly contigBlocks: Uint32Array;
  readonly nrPages: Pages;
  /** Bits of the allocation map: nrPages × blockBits (hidden head and tail included). */
  readonly mapBits: Bits;
  /** Metadata blocks: one per page. */
  readonly nrBlocks: Blocks;
  /** Index of the chunk's own record in `md`. */
  readonly chunkMd: number;
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** Arena location of the chunk's region (see `StateStore`). */
  readonly loc: number;

  /** Bytes of metadata a chunk of `nrPages` pages needs. */
  static bytesFor(nrPages: number, blockBits: number): Bytes {
    return asBytes(layout(nrPages, blockBits).bytes);
  }

  /**
   * Views over a zeroed region. With `id` given the chunk is initialised as a
   * fresh, fully free chunk; without, the views attach to a chunk some other
   * thread built (its header says how big it is).
   */
  constructor(buf: ArrayBuffer | SharedArrayBuffer, byteOffset: number, loc: number, blockBits: number, init?: { id: number; nrPages: number }) {
    const nrPages = init ? init.nrPages : new Int32Array(buf, byteOffset, HDR_WORDS)[Hdr.NrPages]!;
    const { mapBits, mdWords, allocWords, boundWords, popWords } = layout(nrPages, blockBits);
    let at = byteOffset;
    this.buffer = buf;
    this.loc = loc;
    this.hdr = new Int32Array(buf, at, HDR_WORDS);
    at += 4 * HDR_WORDS;
    this.md = new Int32Array(buf, at, mdWords);
    at += 4 * mdWords;
    this.allocMap = new Uint32Array(buf, at, allocWords);
    at += 4 * allocWords;
    this.boundMap = new Uint32Array(buf, at, boundWords);
    at += 4 * boundWords;
    this.populated = new Uint32Array(buf, at, popWords);
    at += 4 * popWords;
    this.freeBlocks = new Uint32Array(buf, at, popWords);
    at += 4 * popWords;
    this.contigBlocks = new Uint32Array(buf, at, popWords);
    this.nrPages = asPages(nrPages);
    this.mapBits = asBits(mapBits);
    this.nrBlocks = asBlocks(nrPages);
    this.chunkMd = nrPages * MD_STRIDE;
    if (!init) return;
    const id = init.id;
    const h = this.hdr;
    h[Hdr.Id] = id;
    h[Hdr.NrPages] = nrPages;
    h[Hdr.MapBits] = mapBits;
    h[Hdr.FreeBytes] = mapBits * 4;
    h[Hdr.Slot] = -1;
    // pcpu_init_md_blocks: every block and the chunk record fully free.
    for (let i = 0; i < nrPages; i++) initMd(this.md, i * MD_STRIDE, blockBits);
    initMd(this.md, this.chunkMd, mapBits);
    for (let i = 0; i < nrPages; i++) {
      this.freeBlocks[i >>> 5] = this.freeBlocks[i >>> 5]! | (1 << (i & 31));
      this.contigBlocks[i >>> 5] = this.contigBlocks[i >>> 5]! | (1 << (i & 31));
    }
  }

  /** The chunk's id (`RESERVED_CHUNK_ID` for the reserved chunk). */
  get id(): ChunkId {
    return asChunkId(this.hdr[Hdr.Id]!);
  }

  // Named reads of the header and metadata records, for tools and tests; the
  // engine's hot paths index `hdr` and `md` directly.

  /** Usable bytes not allocated (`free_bytes`). */
  get freeBytes(): Bytes {
    return asBytes(this.hdr[Hdr.FreeBytes]!);
  }

  /** Bytes hidden at the start of the map (`start_offset`: a first chunk's region before its dynamic part). */
  get startOffset(): Bytes {
    return asBytes(this.hdr[Hdr.StartOffset]!);
  }

  /** The first usable bit: `startOffset` in bits (the bits before it are the hidden head). */
  get startBit(): Bits {
    return offsetToBit(this.hdr[Hdr.StartOffset]!);
  }

  /** One past the last usable bit: `mapBits` less the hidden tail (`endOffset` in bits). */
  get endBit(): Bits {
    return asBits(this.mapBits - bytesToBits(this.hdr[Hdr.EndOffset]!));
  }

  /** Bytes hidden at the end of the map (`end_offset`). */
  get endOffset(): Bytes {
    return asBytes(this.hdr[Hdr.EndOffset]!);
  }

  /** Field `field` (`Md.X`) of metadata record `record`: a block index, or `nrBlocks` for the chunk's own record. */
  mdField(record: number, field: number): number {
    return this.md[record * MD_STRIDE + field]!;
  }

  /** Sets field `field` (`Md.X`) of metadata record `record` (tests corrupt hints through it, to see the checker catch them). */
  setMdField(record: number, field: number, value: number): void {
    this.md[record * MD_STRIDE + field] = value;
  }

  /** Bytes of metadata this chunk costs (what the kernel would kzalloc for it). */
  get metadataBytes(): Bytes {
    return asBytes(layout(this.nrPages, this.mapBits / this.nrPages).bytes);
  }
}

function initMd(md: Int32Array, at: number, nrBits: number): void {
  md[at + Md.Contig] = nrBits;
  md[at + Md.ContigStart] = 0;
  md[at + Md.LeftFree] = nrBits;
  md[at + Md.RightFree] = nrBits;
  md[at + Md.FirstFree] = 0;
  md[at + Md.ScanHint] = 0;
  md[at + Md.ScanHintStart] = 0;
  md[at + Md.NrBits] = nrBits;
}
