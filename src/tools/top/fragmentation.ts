// SPDX-License-Identifier: GPL-2.0-only
/**
 * What fragmentation costs: the state, at the end of an observation, of every
 * chunk created during it, and which call sites keep pages and chunks alive.
 *
 * The chunk instances, the allocation each free releases and the point where a
 * lost free makes a chunk's history uncertain come from the trace engine
 * (`indexChunks`, `chunkHistory`); a chunk created during the trace has its whole
 * history there, and the events give every object's exact offset (base_addr +
 * off), so its occupancy is known exactly — no allocator model is needed to say
 * which bytes are live.
 *
 * Definitions (docs/TOOLS.md repeats them):
 * - an object occupies `[off, off + size rounded up to 4)` (the allocator's
 *   4-byte granule); a page is *in use* when it holds a byte of a live object;
 * - a page is *pinned* when it is in use but holds at most `sparseBytes` of live
 *   objects (default a quarter page): a few small objects keep a whole page
 *   populated, on every unit (CPU);
 * - a chunk is *kept alive by a few small allocations* when every page it uses
 *   is pinned: the kernel frees only empty chunks, so those objects hold it;
 * - a call site keeps a pinned page (chunk) alive *alone* when all the live
 *   objects on it are that site's; otherwise it *shares* it;
 * - the compacted layout packs the live objects of the created chunks densely
 *   (largest alignment first, each object aligned): the pages and chunks the
 *   same objects would need without fragmentation.
 * - populated pages: the trace does not show population directly. The kernel
 *   populates the pages an allocation spans and depopulates only in its
 *   background balance work, so the populated pages of a chunk lie between its
 *   pages in use and the pages any allocation ever touched (`pagesTouched`).
 *
 * For chunks that existed before the observation, only what the observation
 * saw is reported (allocations into them, those still live, frees of older
 * objects); their earlier objects, and so their pages in use, are unknown.
 */
import { chunkHistory, indexChunks, opsByInstance, type TraceChunks } from '../replay/chunks.js';
import { TraceEventKind, type ParsedTrace } from '../../formats/trace.js';
import type { SiteNamer } from './sites.js';

export interface FragmentationOptions {
  pageSize?: number;
  /** Unit size (bytes of one CPU's share of a chunk); when unknown, chunk counts of the compacted layout are not given. */
  unitSize?: number;
  /** Units per chunk (CPUs): a page of a chunk costs pageSize × nrUnits bytes of memory. */
  nrUnits?: number;
  /** A page holding at most this many live bytes is pinned (default pageSize / 4). */
  sparseBytes?: number;
}

export interface ChunkOccupancy {
  number: number;
  base: string;
  creator: string;
  /** Line of its create event. */
  createdLine: number;
  destroyed: boolean;
  /** False when a lost free cut its history: the state is the one at the cut. */
  exact: boolean;
  cutLine: number;
  /** Pages per unit (the unit size's, or the highest page touched + 1 when unknown). */
  pages: number;
  liveObjects: number;
  liveBytes: number;
  pagesInUse: number;
  pagesTouched: number;
  pinnedPages: number;
  keptAliveByFew: boolean;
  /** Live bytes (4-byte granules) per page. */
  pageBytes: Float64Array;
  /** Live objects (alloc sequence numbers) and their site index in `Fragmentation.sites`. */
  objects: Int32Array;
  objectSite: Int32Array;
  objectOffsets: Int32Array;
  objectSizes: Int32Array;
}

export interface SiteCost {
  name: string;
  /** Live objects / bytes of this site in chunks created during the observation. */
  objects: number;
  bytes: number;
  objectsOnPinned: number;
  bytesOnPinned: number;
  pinnedPagesAlone: number;
  pinnedPagesShared: number;
  chunksAlone: number;
  chunksShared: number;
}

export interface Fragmentation {
  pageSize: number;
  unitSize: number | undefined;
  nrUnits: number;
  sparseBytes: number;
  chunks: ChunkOccupancy[];
  /** Sorted by chunks kept alive alone, pinned pages kept alone, pages shared, then bytes on pinned pages. */
  sites: SiteCost[];
  /** Site names by the index `ChunkOccupancy.objectSite` uses. */
  siteNames: string[];
  totals: {
    chunksAlive: number;
    /** Alive and holding at least one live object (an empty chunk is the kernel's spare, not fragmentation). */
    chunksInUse: number;
    chunksKeptAliveByFew: number;
    liveObjects: number;
    liveBytes: number;
    pagesInUse: number;
    pagesTouched: number;
    pinnedPages: number;
  };
  compacted: { bytes: number; pages: number; chunks: number | undefined };
  /** Memory one page of every unit costs: pageSize × nrUnits. */
  bytesPerPage: number;
  preexisting: { chunks: number; allocsSeen: number; liveSeen: number; liveBytesSeen: number; freesOfOlder: number };
  /** Sentences on what the trace does not show (lost frees, pre-existing chunks). */
  notes: string[];
}

/** Per allocation event: the index of its site name, through the namer the ledger uses too. */
export function siteIndexer(trace: ParsedTrace, namer: SiteNamer): { names: string[]; siteOf: (seq: number) => number } {
  const names: string[] = [];
  const ids = new Map<string, number>();
  const id = (name: string) => {
    let i = ids.get(name);
    if (i === undefined) {
      i = names.length;
      ids.set(name, i);
      names.push(name);
    }
    return i;
  };
  const byTask = namer.grouping === 'task' || trace.format !== 'full';
  const ofCall = trace.callSites.map((c) => id(namer.callSite(c)));
  const ofTask = trace.tasks.map((t) => id(namer.task(t)));
  const ev = trace.events;
  return { names, siteOf: (seq) => (byTask || ev.callSite[seq]! < 0 ? ofTask[ev.task[seq]!]! : ofCall[ev.callSite[seq]!]!) };
}

const granule = (size: number) => Math.max(4, (size + 3) & ~3);

export function analyzeFragmentation(trace: ParsedTrace, namer: SiteNamer, options: FragmentationOptions = {}, chunks?: TraceChunks): Fragmentation {
  const pageSize = options.pageSize ?? 4096;
  const nrUnits = options.nrUnits ?? trace.preamble.nrCpus ?? 1;
  const sparseBytes = options.sparseBytes ?? pageSize / 4;
  const tc = chunks ?? indexChunks(trace);
  const ev = trace.events;
  const { names, siteOf } = siteIndexer(trace, namer);
  const costs: SiteCost[] = names.map((name) => ({ name, objects: 0, bytes: 0, objectsOnPinned: 0, bytesOnPinned: 0, pinnedPagesAlone: 0, pinnedPagesShared: 0, chunksAlone: 0, chunksShared: 0 }));
  const live = new Uint8Array(ev.length);
  const ops = opsByInstance(tc);
  const out: ChunkOccupancy[] = [];
  const notes: string[] = [];
  const pre = { chunks: 0, allocsSeen: 0, liveSeen: 0, liveBytesSeen: 0, freesOfOlder: 0 };
  const compactObjects: number[] = [];

  for (const ci of tc.instances) {
    if (ci.createdSeq < 0) {
      pre.chunks++;
      pre.allocsSeen += ci.allocs;
      pre.freesOfOlder += ci.freesOfOlder;
      // An object whose bytes were handed out again lost its free: it is not live.
      const lost = new Set(ci.lostFrees.map((l) => l.liveSeq));
      for (const s of ops[ci.number]!) {
        if (ev.kind[s] === TraceEventKind.Alloc && tc.freedBy[s]! < 0 && !lost.has(s)) {
          pre.liveSeen++;
          pre.liveBytesSeen += ev.size[s]!;
        }
      }
      continue;
    }
    const h = chunkHistory(tc, ci.number, ops[ci.number]);
    for (const s of h.ops) {
      if (ev.kind[s] === TraceEventKind.Alloc) live[s] = 1;
      else live[tc.freeTarget[s]!] = 0;
    }
    const objs: number[] = [];
    let maxPage = 0;
    for (const s of h.ops) {
      if (ev.kind[s] !== TraceEventKind.Alloc) continue;
      const last = (ev.off[s]! + granule(ev.size[s]!) - 1) / pageSize;
      if (last > maxPage) maxPage = Math.floor(last);
      if (live[s]) objs.push(s);
    }
    const pages = options.unitSize !== undefined ? Math.max(Math.ceil(options.unitSize / pageSize), maxPage + 1) : maxPage + 1;
    const touched = new Uint8Array(pages);
    for (const s of h.ops) {
      if (ev.kind[s] !== TraceEventKind.Alloc) continue;
      const a = ev.off[s]!;
      const b = a + granule(ev.size[s]!);
      for (let p = Math.floor(a / pageSize); p * pageSize < b; p++) touched[p] = 1;
    }
    const pageBytes = new Float64Array(pages);
    // Which site holds each page: its index, or -2 once two sites share it.
    const pageOwner = new Int32Array(pages).fill(-1);
    const objectSite = new Int32Array(objs.length);
    let liveBytes = 0;
    objs.forEach((s, k) => {
      const site = siteOf(s);
      objectSite[k] = site;
      liveBytes += ev.size[s]!;
      const a = ev.off[s]!;
      const b = a + granule(ev.size[s]!);
      for (let p = Math.floor(a / pageSize); p * pageSize < b; p++) {
        pageBytes[p] = pageBytes[p]! + Math.min(b, (p + 1) * pageSize) - Math.max(a, p * pageSize);
        pageOwner[p] = pageOwner[p] === -1 || pageOwner[p] === site ? site : -2;
      }
    });
    let inUse = 0;
    let pinned = 0;
    let touchedCount = 0;
    for (let p = 0; p < pages; p++) {
      touchedCount += touched[p]!;
      if (pageBytes[p]! === 0) continue;
      inUse++;
      if (pageBytes[p]! <= sparseBytes) pinned++;
    }
    const destroyed = ci.destroyedSeq >= 0;
    const keptByFew = !destroyed && inUse > 0 && pinned === inUse;
    if (!destroyed) {
      // Pages: a pinned page is charged to its one owner, or as shared to each site on it.
      const sharedSites = new Set<number>();
      for (let p = 0; p < pages; p++) {
        const b = pageBytes[p]!;
        if (b === 0 || b > sparseBytes) continue;
        if (pageOwner[p]! >= 0) costs[pageOwner[p]!]!.pinnedPagesAlone++;
      }
      const sitesOnPage = new Map<number, Set<number>>();
      objs.forEach((s, k) => {
        const site = objectSite[k]!;
        const c = costs[site]!;
        c.objects++;
        c.bytes += ev.size[s]!;
        compactObjects.push(s);
        const a = ev.off[s]!;
        const b = a + granule(ev.size[s]!);
        let onPinned = false;
        for (let p = Math.floor(a / pageSize); p * pageSize < b; p++) {
          if (pageBytes[p]! > sparseBytes) continue;
          onPinned = true;
          if (pageOwner[p] === -2) {
            let set = sitesOnPage.get(p);
            if (!set) sitesOnPage.set(p, (set = new Set()));
            set.add(site);
          }
        }
        if (onPinned) {
          c.objectsOnPinned++;
          c.bytesOnPinned += ev.size[s]!;
        }
        sharedSites.add(site);
      });
      for (const set of sitesOnPage.values()) for (const site of set) costs[site]!.pinnedPagesShared++;
      if (keptByFew) {
        if (sharedSites.size === 1) costs[[...sharedSites][0]!]!.chunksAlone++;
        else for (const site of sharedSites) costs[site]!.chunksShared++;
      }
    }
    if (h.cut >= 0) notes.push(`chunk #${ci.number} (${ci.base}): a free event was lost (line ${ev.line[h.cut]}); its state is the one before that object was allocated, and ${h.allocsDropped} later allocation(s) are left out`);
    out.push({
      number: ci.number,
      base: ci.base,
      creator: ci.creator,
      createdLine: ev.line[ci.createdSeq]!,
      destroyed,
      exact: h.cut < 0,
      cutLine: h.cut >= 0 ? ev.line[h.cut]! : -1,
      pages,
      liveObjects: objs.length,
      liveBytes,
      pagesInUse: inUse,
      pagesTouched: touchedCount,
      pinnedPages: pinned,
      keptAliveByFew: keptByFew,
      pageBytes,
      objects: Int32Array.from(objs),
      objectSite,
      objectOffsets: Int32Array.from(objs, (s) => ev.off[s]!),
      objectSizes: Int32Array.from(objs, (s) => ev.size[s]!),
    });
  }

  const alive = out.filter((c) => !c.destroyed);
  const totals = {
    chunksAlive: alive.length,
    chunksInUse: alive.filter((c) => c.liveObjects > 0).length,
    chunksKeptAliveByFew: alive.filter((c) => c.keptAliveByFew).length,
    liveObjects: sum(alive, (c) => c.liveObjects),
    liveBytes: sum(alive, (c) => c.liveBytes),
    pagesInUse: sum(alive, (c) => c.pagesInUse),
    pagesTouched: sum(alive, (c) => c.pagesTouched),
    pinnedPages: sum(alive, (c) => c.pinnedPages),
  };
  const packed = compactBytes(compactObjects.map((s) => [ev.size[s]!, ev.align[s]!] as const));
  const compacted = {
    bytes: packed,
    pages: Math.ceil(packed / pageSize),
    chunks: options.unitSize !== undefined ? Math.ceil(packed / options.unitSize) : undefined,
  };
  if (pre.chunks > 0) {
    notes.push(
      `${pre.chunks} chunk(s) existed before the observation: what they held before it is not in the trace, so their pages in use, bytes in use and ` +
        `pinned pages cannot be computed; seen: ${pre.allocsSeen} allocation(s) into them (${pre.liveSeen} still live, ${pre.liveBytesSeen} B) and ${pre.freesOfOlder} free(s) of older objects`,
    );
  }
  const sites = costs
    .filter((c) => c.objects > 0)
    .sort((a, b) => b.chunksAlone - a.chunksAlone || b.pinnedPagesAlone - a.pinnedPagesAlone || b.pinnedPagesShared - a.pinnedPagesShared || b.bytesOnPinned - a.bytesOnPinned || b.bytes - a.bytes || (a.name < b.name ? -1 : 1));
  return { pageSize, unitSize: options.unitSize, nrUnits, sparseBytes, chunks: out, sites, siteNames: names, totals, compacted, bytesPerPage: pageSize * nrUnits, preexisting: pre, notes };
}

function sum<T>(xs: T[], f: (x: T) => number): number {
  let s = 0;
  for (const x of xs) s += f(x);
  return s;
}

/** Bytes the objects need packed densely: largest alignment first, each aligned, sizes in 4-byte granules. */
export function compactBytes(objects: readonly (readonly [size: number, align: number])[]): number {
  const sorted = [...objects].sort((a, b) => b[1] - a[1] || b[0] - a[0]);
  let cursor = 0;
  for (const [size, align] of sorted) {
    const al = Math.max(4, align);
    cursor = Math.ceil(cursor / al) * al + granule(size);
  }
  return cursor;
}
