// SPDX-License-Identifier: GPL-2.0-only
/**
 * The ledger of `percpu top` and `percpu leaks`: per call site, what is live
 * now and how fast it changes, kept up to date event by event — from a
 * recorded trace or from a live `trace_pipe`, through the same `ingest`.
 *
 * What it owns: the live objects seen allocated during the observation (chunk,
 * offset, size, call site, time) in typed-array slots found by a
 * `(chunk, offset)` key; per-site counters (live bytes and objects, allocs,
 * frees, failed and atomic allocations); and samples of them taken at fixed
 * steps of trace time, from which rates over a window and the report's time
 * series are read.
 *
 * What it cannot know, and says: objects allocated before the observation
 * began (their frees are counted as `olderFrees`, with no call site, since a
 * free event names none); objects whose free the tracer lost (an allocation at
 * the same offset, or the chunk's destruction, proves it: `lostFrees`).
 *
 * Invariants: a site's live bytes are the sum of the sizes of its live
 * objects; every alloc event adds exactly one live object, every free event
 * removes at most one. No per-event objects are created.
 */
import { TRACE_FLAG_ATOMIC, TraceEventKind } from '../../formats/trace.js';
import type { Batch } from './feed.js';
import { SiteNamer } from './sites.js';

export interface SiteCounters {
  name: string;
  liveBytes: number;
  liveObjects: number;
  allocs: number;
  frees: number;
  fails: number;
  atomic: number;
  /** Bytes requested over the observation. */
  allocBytes: number;
}

export interface LedgerSample {
  time: number;
  /** Per site id (sites added later are absent: read as 0). */
  liveBytes: Float64Array;
  allocs: Float64Array;
  frees: Float64Array;
}

export interface SiteRates {
  site: number;
  growthBytesPerSec: number;
  allocsPerSec: number;
  freesPerSec: number;
}

const MAX_SAMPLES = 2048;

export class SiteLedger {
  readonly sites: SiteCounters[] = [];
  private readonly siteIds = new Map<string, number>();
  private readonly chunkIds = new Map<string, number>();
  private readonly keyToSlot = new Map<number, number>();
  private cap = 0;
  private slotSite = new Int32Array(0);
  private slotSize = new Int32Array(0);
  private slotChunk = new Int32Array(0);
  private slotOff = new Int32Array(0);
  private slotTime = new Float64Array(0);
  private freeSlots: number[] = [];
  private slotsUsed = 0;

  events = 0;
  allocs = 0;
  frees = 0;
  fails = 0;
  olderFrees = 0;
  lostFrees = 0;
  chunksCreated = 0;
  chunksDestroyed = 0;
  /** `[LOST N EVENTS]` markers and their counts (-1 = unknown count) seen in the text. */
  lostMarkers = 0;
  lostEvents = 0;
  startTime = NaN;
  lastTime = NaN;
  /** Observation end: the last event, or the wall-clock "now" of a live session. */
  now = NaN;
  liveBytes = 0;
  liveObjects = 0;

  readonly samples: LedgerSample[] = [];
  private sampleStep: number;
  private nextSample = NaN;

  constructor(
    readonly namer: SiteNamer,
    options: { sampleStep?: number } = {},
  ) {
    this.sampleStep = options.sampleStep ?? 1;
  }

  private siteId(name: string): number {
    let id = this.siteIds.get(name);
    if (id === undefined) {
      id = this.sites.length;
      this.siteIds.set(name, id);
      this.sites.push({ name, liveBytes: 0, liveObjects: 0, allocs: 0, frees: 0, fails: 0, atomic: 0, allocBytes: 0 });
    }
    return id;
  }

  private readonly chunkBases: string[] = [];

  private chunkId(base: string): number {
    let id = this.chunkIds.get(base);
    if (id === undefined) {
      id = this.chunkBases.length;
      this.chunkIds.set(base, id);
      this.chunkBases.push(base);
    }
    return id;
  }

  /** The base_addr a chunk id of `forEachLive` stands for. */
  chunkBase(id: number): string {
    return this.chunkBases[id]!;
  }

  /** Name of the site an allocation belongs to: its call site, or its task when the trace has none. */
  private siteOfRaw(callSite: string | undefined, task: string): number {
    const n = this.namer;
    if (n.grouping === 'task' || callSite === undefined || callSite === '') return this.siteId(n.task(task));
    return this.siteId(n.callSite(callSite));
  }

  private slot(): number {
    const s = this.freeSlots.pop();
    if (s !== undefined) return s;
    if (this.slotsUsed === this.cap) {
      const cap = Math.max(1024, this.cap * 2);
      const grow = <T extends Int32Array | Float64Array>(a: T, b: T): T => {
        b.set(a);
        return b;
      };
      this.slotSite = grow(this.slotSite, new Int32Array(cap));
      this.slotSize = grow(this.slotSize, new Int32Array(cap));
      this.slotChunk = grow(this.slotChunk, new Int32Array(cap));
      this.slotOff = grow(this.slotOff, new Int32Array(cap));
      this.slotTime = grow(this.slotTime, new Float64Array(cap));
      this.cap = cap;
    }
    return this.slotsUsed++;
  }

  private release(key: number, slot: number, freed: boolean): void {
    const site = this.sites[this.slotSite[slot]!]!;
    const size = this.slotSize[slot]!;
    site.liveBytes -= size;
    site.liveObjects--;
    this.liveBytes -= size;
    this.liveObjects--;
    if (freed) site.frees++;
    this.keyToSlot.delete(key);
    this.slotSite[slot] = -1;
    this.freeSlots.push(slot);
  }

  /** Apply every event of a batch, in order. */
  ingest(batch: Batch): void {
    const t = batch.trace;
    const ev = t.events;
    const n = ev.length;
    // Interned ids of this batch → ledger ids, resolved once per batch, not per event.
    const chunkOf = t.addrs.map((a) => this.chunkId(a));
    // Sites are made on first use, so a task that only frees gets no row.
    const callIds = new Int32Array(t.callSites.length).fill(-1);
    const taskIds = new Int32Array(t.tasks.length).fill(-1);
    const siteOfCall = (id: number) => (callIds[id]! >= 0 ? callIds[id]! : (callIds[id] = this.siteOfRaw(t.callSites[id]!, '')));
    const siteOfTask = (id: number) => (taskIds[id]! >= 0 ? taskIds[id]! : (taskIds[id] = this.siteOfRaw(undefined, t.tasks[id]!)));
    const byTask = this.namer.grouping === 'task' || t.format !== 'full';
    for (let i = 0; i < n; i++) {
      const time = ev.time[i]!;
      this.tick(time);
      this.events++;
      const kind = ev.kind[i]!;
      if (kind === TraceEventKind.Alloc) {
        const chunk = chunkOf[ev.addr[i]!]!;
        const off = ev.off[i]!;
        const key = chunk * 0x1_0000_0000 + off;
        const old = this.keyToSlot.get(key);
        if (old !== undefined) {
          // The same bytes handed out again while we hold them live: their free event was lost.
          this.lostFrees++;
          this.release(key, old, false);
        }
        const site = byTask ? siteOfTask(ev.task[i]!) : siteOfCall(ev.callSite[i]!);
        const size = ev.size[i]!;
        const s = this.slot();
        this.slotSite[s] = site;
        this.slotSize[s] = size;
        this.slotChunk[s] = chunk;
        this.slotOff[s] = off;
        this.slotTime[s] = time;
        this.keyToSlot.set(key, s);
        const c = this.sites[site]!;
        c.liveBytes += size;
        c.liveObjects++;
        c.allocs++;
        c.allocBytes += size;
        if (ev.flags[i]! & TRACE_FLAG_ATOMIC) c.atomic++;
        this.liveBytes += size;
        this.liveObjects++;
        this.allocs++;
      } else if (kind === TraceEventKind.Free) {
        this.frees++;
        const key = chunkOf[ev.addr[i]!]! * 0x1_0000_0000 + ev.off[i]!;
        const s = this.keyToSlot.get(key);
        if (s === undefined) this.olderFrees++;
        else this.release(key, s, true);
      } else if (kind === TraceEventKind.CreateChunk) {
        this.chunksCreated++;
      } else if (kind === TraceEventKind.DestroyChunk) {
        this.chunksDestroyed++;
        this.dropChunk(chunkOf[ev.addr[i]!]!);
      } else if (kind === TraceEventKind.AllocFail) {
        // Linux 6.18's fail event names no call site: such a failure is shown under its task.
        const site = byTask || ev.callSite[i]! < 0 ? siteOfTask(ev.task[i]!) : siteOfCall(ev.callSite[i]!);
        this.sites[site]!.fails++;
        this.fails++;
      }
    }
    for (const l of t.lost) {
      this.lostMarkers++;
      if (l.count > 0) this.lostEvents += l.count;
    }
  }

  /** The kernel destroys only empty chunks: objects still live in one lost their frees. */
  private dropChunk(chunk: number): void {
    for (const [key, slot] of this.keyToSlot) {
      if (this.slotChunk[slot] !== chunk) continue;
      this.lostFrees++;
      this.release(key, slot, false);
    }
  }

  private tick(time: number): void {
    if (Number.isNaN(this.startTime)) {
      this.startTime = time;
      this.nextSample = time;
    }
    if (time > this.lastTime || Number.isNaN(this.lastTime)) this.lastTime = time;
    if (!(this.now >= this.lastTime)) this.now = this.lastTime;
    if (time >= this.nextSample) this.sampleUpTo(time);
  }

  /** Record samples at every step boundary up to `time` (state before the event at `time`). */
  private sampleUpTo(time: number): void {
    // A long quiet gap: one sample at its start and one at its end, not thousands.
    if ((time - this.nextSample) / this.sampleStep > 4) {
      this.record(this.nextSample);
      this.nextSample = time - ((time - this.nextSample) % this.sampleStep);
    }
    while (this.nextSample <= time) {
      this.record(this.nextSample);
      this.nextSample += this.sampleStep;
    }
  }

  private record(time: number): void {
    const k = this.sites.length;
    const live = new Float64Array(k);
    const allocs = new Float64Array(k);
    const frees = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      const s = this.sites[i]!;
      live[i] = s.liveBytes;
      allocs[i] = s.allocs;
      frees[i] = s.frees;
    }
    this.samples.push({ time, liveBytes: live, allocs, frees });
    if (this.samples.length >= MAX_SAMPLES) {
      // Keep every other sample: the series covers the whole observation at half the resolution.
      let j = 0;
      for (let i = 0; i < this.samples.length; i += 2) this.samples[j++] = this.samples[i]!;
      this.samples.length = j;
      this.sampleStep *= 2;
      this.nextSample = this.samples[j - 1]!.time + this.sampleStep;
    }
  }

  /** Start the observation at `time` (a live session starts before its first event). */
  begin(time: number): void {
    if (!Number.isNaN(this.startTime)) return;
    this.startTime = time;
    this.now = time;
    this.nextSample = time;
  }

  /** A live session's clock moves without events: rates then decay, as they should. */
  advanceTo(time: number): void {
    if (time > this.now || Number.isNaN(this.now)) this.now = time;
    if (!Number.isNaN(this.startTime) && time >= this.nextSample) this.sampleUpTo(time);
  }

  get duration(): number {
    return Number.isNaN(this.startTime) ? 0 : this.now - this.startTime;
  }

  /** Rates per site over the last `window` seconds (the whole observation when undefined or longer). */
  rates(window?: number): SiteRates[] {
    const now = this.now;
    const from = window === undefined ? this.startTime : Math.max(this.startTime, now - window);
    const base = this.sampleAtOrBefore(from);
    const t0 = base ? base.time : this.startTime;
    const dt = now - t0;
    return this.sites.map((s, i) => {
      const live0 = base ? (base.liveBytes[i] ?? 0) : 0;
      const a0 = base ? (base.allocs[i] ?? 0) : 0;
      const f0 = base ? (base.frees[i] ?? 0) : 0;
      return {
        site: i,
        growthBytesPerSec: dt > 0 ? (s.liveBytes - live0) / dt : 0,
        allocsPerSec: dt > 0 ? (s.allocs - a0) / dt : 0,
        freesPerSec: dt > 0 ? (s.frees - f0) / dt : 0,
      };
    });
  }

  private sampleAtOrBefore(t: number): LedgerSample | undefined {
    const s = this.samples;
    let lo = 0;
    let hi = s.length - 1;
    if (hi < 0 || s[0]!.time > t) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid]!.time <= t) lo = mid;
      else hi = mid - 1;
    }
    return s[lo];
  }

  /** Every live object: site id, size, allocation time (for `leaks`). */
  forEachLive(f: (site: number, size: number, time: number, chunk: number, off: number) => void): void {
    for (const slot of this.keyToSlot.values()) f(this.slotSite[slot]!, this.slotSize[slot]!, this.slotTime[slot]!, this.slotChunk[slot]!, this.slotOff[slot]!);
  }
}
