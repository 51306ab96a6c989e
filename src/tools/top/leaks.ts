// SPDX-License-Identifier: GPL-2.0-only
/**
 * `percpu leaks`: allocations outstanding longer than a threshold, grouped by
 * call site, with the distribution of their ages — what bcc's
 * `memleak --percpu` reports, from the ledger of a trace or of live events.
 *
 * An object's age is the observation's end ("now") minus its allocation time.
 * Only objects allocated during the observation can be aged: what was live
 * before it began is invisible to the tracepoints, and that is said in the
 * output, not guessed.
 *
 * Age buckets double from the threshold: [t, 2t), [2t, 4t), … with the last
 * bucket open-ended, so the histogram reads like memleak's combined view.
 */
import type { SiteLedger } from './ledger.js';

export const AGE_BUCKETS = 8;

export interface LeakGroup {
  site: string;
  objects: number;
  bytes: number;
  oldestSec: number;
  newestSec: number;
  /** Objects per age bucket (see `bucketBounds`). */
  ages: number[];
  /** Distinct sizes (bytes → objects), largest count first, at most five. */
  sizes: [number, number][];
}

export interface LeakReport {
  thresholdSec: number;
  now: number;
  observedSec: number;
  groups: LeakGroup[];
  objects: number;
  bytes: number;
  /** Live objects younger than the threshold (not reported). */
  younger: number;
}

/** Lower bounds (seconds) of the age buckets for a threshold. */
export function bucketBounds(thresholdSec: number): number[] {
  const base = thresholdSec > 0 ? thresholdSec : 0.001;
  return Array.from({ length: AGE_BUCKETS }, (_, i) => (i === 0 ? thresholdSec : base * 2 ** i));
}

function bucketOf(age: number, thresholdSec: number): number {
  const base = thresholdSec > 0 ? thresholdSec : 0.001;
  if (age < base * 2) return 0;
  return Math.min(AGE_BUCKETS - 1, Math.floor(Math.log2(age / base)));
}

export function findLeaks(ledger: SiteLedger, thresholdSec: number): LeakReport {
  const now = ledger.now;
  const bySite = new Map<number, LeakGroup & { sizeMap: Map<number, number> }>();
  let objects = 0;
  let bytes = 0;
  let younger = 0;
  ledger.forEachLive((site, size, time) => {
    const age = now - time;
    if (age < thresholdSec) {
      younger++;
      return;
    }
    let g = bySite.get(site);
    if (!g) {
      g = { site: ledger.sites[site]!.name, objects: 0, bytes: 0, oldestSec: 0, newestSec: Infinity, ages: new Array<number>(AGE_BUCKETS).fill(0), sizes: [], sizeMap: new Map() };
      bySite.set(site, g);
    }
    g.objects++;
    g.bytes += size;
    if (age > g.oldestSec) g.oldestSec = age;
    if (age < g.newestSec) g.newestSec = age;
    g.ages[bucketOf(age, thresholdSec)]!++;
    g.sizeMap.set(size, (g.sizeMap.get(size) ?? 0) + 1);
    objects++;
    bytes += size;
  });
  const groups: LeakGroup[] = [...bySite.values()]
    .map(({ sizeMap, ...g }) => ({ ...g, sizes: [...sizeMap].sort((a, b) => b[1] - a[1] || b[0] - a[0]).slice(0, 5) }))
    .sort((a, b) => b.bytes - a.bytes || b.objects - a.objects || (a.site < b.site ? -1 : 1));
  return { thresholdSec, now, observedSec: ledger.duration, groups, objects, bytes, younger };
}
