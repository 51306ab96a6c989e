// SPDX-License-Identifier: GPL-2.0-only
/**
 * The quantile sketch of the percpu Summary: a log-bucket sketch in the
 * manner of DDSketch. A positive value v falls in bucket i = ceil(log_γ v),
 * γ = (1 + α) / (1 − α), which covers (γ^(i−1), γ^i]; reporting the bucket
 * as 2γ^i / (γ + 1) is within a relative error α of every value in it.
 * Negative values mirror the positive buckets; values whose magnitude is
 * below `minValue` count in one zero bucket.
 *
 * Why this sketch: its buckets are counters, and sketches with the same α
 * merge by adding counts — so each worker keeps its own counts in its own
 * unit (no lock, no shared write), and the scraper adds the units' counts and
 * reads quantiles off the sum. The merged quantile carries the same bound as
 * one sketch: for the value x at rank ⌊q·(n − 1)⌋ of all observations (0-based,
 * every worker's together), the reported value y has |y − x| ≤ α·|x|,
 * as long as minValue ≤ |x| ≤ maxValue (outside that range values are clamped
 * into the end buckets, and the bound does not hold). prom-client's t-digest
 * states no bound and does not merge.
 *
 * Slots of the count array, in increasing value order: [0, K) negative
 * buckets from the largest magnitude down, K the zero bucket, (K, 2K] the
 * positive buckets from the smallest up.
 */
import { RuntimeArgumentError } from '../errors.js';

/**
 * The quantile sketch of a `Summary` (its `sketch` option): relative accuracy
 * and the range of magnitudes it holds to that accuracy. prom-client's
 * t-digest takes no such options and states no error bound.
 */
export interface SketchOptions {
  /** α: the relative error of every reported quantile. Default 0.01. */
  relativeAccuracy?: number;
  /** Smallest magnitude kept apart from zero. Default 1e-9. */
  minValue?: number;
  /** Largest magnitude with the bound. Default 1e9. */
  maxValue?: number;
}

/**
 * The bucket layout of a DDSketch-style quantile sketch for given options:
 * which count slot a value falls in and the value a slot reports, within a
 * relative error α of every value in it. Sketches of one layout merge by
 * adding counts — which is how each worker keeps its own counts in its own
 * unit and a scrape adds them up. Exported for tools that read the counts.
 */
export class SketchLayout {
  readonly relativeAccuracy: number;
  readonly minValue: number;
  readonly maxValue: number;
  readonly gamma: number;
  private readonly lnGamma: number;
  /** log_γ index of the first bucket. */
  private readonly iMin: number;
  /** Buckets per sign. */
  readonly k: number;
  /** Slots in all (2K + 1). */
  readonly slots: number;

  constructor(o: SketchOptions = {}) {
    const a = o.relativeAccuracy ?? 0.01;
    const min = o.minValue ?? 1e-9;
    const max = o.maxValue ?? 1e9;
    if (!(a > 0 && a < 1)) throw new RuntimeArgumentError('EINVAL', `sketch relativeAccuracy must be in (0, 1), got ${a}`);
    if (!(min > 0 && max > min && Number.isFinite(max))) throw new RuntimeArgumentError('EINVAL', `sketch needs 0 < minValue < maxValue < Infinity, got ${min}, ${max}`);
    this.relativeAccuracy = a;
    this.minValue = min;
    this.maxValue = max;
    this.gamma = (1 + a) / (1 - a);
    this.lnGamma = Math.log(this.gamma);
    this.iMin = Math.ceil(Math.log(min) / this.lnGamma);
    this.k = Math.ceil(Math.log(max) / this.lnGamma) - this.iMin + 1;
    this.slots = 2 * this.k + 1;
  }

  /** The slot of value `v` (finite). */
  slot(v: number): number {
    const m = v < 0 ? -v : v;
    if (m < this.minValue) return this.k;
    let i = Math.ceil(Math.log(m) / this.lnGamma) - this.iMin;
    if (i >= this.k) i = this.k - 1;
    else if (i < 0) i = 0;
    return v > 0 ? this.k + 1 + i : this.k - 1 - i;
  }

  /** The value a slot reports. */
  value(slot: number): number {
    if (slot === this.k) return 0;
    const i = slot > this.k ? slot - this.k - 1 : this.k - 1 - slot;
    const rep = (2 * Math.pow(this.gamma, i + this.iMin)) / (this.gamma + 1);
    return slot > this.k ? rep : -rep;
  }

  /**
   * Quantiles of merged counts (`counts[slot]`, `total` their sum): the
   * reported value of the slot holding rank ⌊q·(total − 1)⌋. Empty → 0 (as
   * prom-client prints an empty summary).
   */
  quantiles(counts: Float64Array, total: number, qs: readonly number[], out: number[]): void {
    for (let j = 0; j < qs.length; j++) out[j] = 0;
    if (total <= 0) return;
    // Ranks are asked in the given order; walk once per quantile (few quantiles, ≤ 2K+1 slots).
    for (let j = 0; j < qs.length; j++) {
      const rank = Math.floor(qs[j]! * (total - 1));
      let cum = 0;
      for (let s = 0; s < this.slots; s++) {
        cum += counts[s]!;
        if (cum > rank) {
          out[j] = this.value(s);
          break;
        }
      }
    }
  }
}
