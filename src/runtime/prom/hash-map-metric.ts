// SPDX-License-Identifier: GPL-2.0-only
/**
 * A `PercpuHashMap` exported as a metric family: one series per key, the
 * key turned into label values, the value summed over units at scrape time
 * (or one series per unit). The map is read as it is at the scrape — its
 * keys under the map's writer lock (`entries()`, a snapshot), each value with
 * atomic loads — so a map that BPF-style code updates lock-free from workers
 * shows in `/metrics` without any copy.
 *
 * Browser-safe.
 */
import type { PercpuHashMap } from '../hash-map.js';
import type { SharedPercpu } from '../shared-percpu.js';
import { RuntimeArgumentError } from '../errors.js';
import { globalRegistry, type Collectable, type Registry } from './metrics.js';
import type { LabelMap, MetricObject, MetricValue } from './exposition.js';

/**
 * What `HashMapMetric` exports: the map and its allocator, the metric's name,
 * help and type, how a key becomes label values and where the number sits in
 * each unit's value. No prom-client counterpart.
 */
export interface HashMapMetricConfiguration {
  name: string;
  help: string;
  /** 'counter' (default) or 'gauge'. */
  type?: 'counter' | 'gauge';
  map: PercpuHashMap;
  /** The allocator the map lives in. */
  percpu: SharedPercpu;
  /** Label names of a key. Default ['key']. */
  labelNames?: string[];
  /** Label values of a key. Default: the key as an unsigned little-endian integer (keys of 1–8 bytes) or hex. */
  labels?: (key: Uint8Array) => (string | number)[];
  /** Where the number sits in each unit's value, and its type. Default offset 0, 'int32'. */
  value?: { offset?: number; type?: 'int32' | 'uint32' | 'float64' | 'bigint64' };
  /** 'sum' (default) or 'perWorker' (a series per unit that holds a non-zero value, labelled `workerLabel`). */
  aggregator?: 'sum' | 'perWorker';
  workerLabel?: string;
  registers?: Registry[];
}

function defaultKeyLabels(key: Uint8Array): string[] {
  if (key.length <= 8) {
    let v = 0n;
    for (let i = key.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(key[i]!);
    return [v.toString()];
  }
  return [Array.from(key, (b) => b.toString(16).padStart(2, '0')).join('')];
}

/**
 * A `PercpuHashMap` exported as a metric family: one series per key, the
 * key turned into label values, the value summed over units at scrape time
 * (`aggregator: 'sum'`) or one series per unit (`'perWorker'`). The map is read
 * as it is at the scrape, so values that workers update lock-free appear in
 * `/metrics` with no copy. It registers like any metric (global `register` by
 * default) and has the `get()` shape of a prom-client
 * metric; it has no write methods — the map is written directly.
 */
export class HashMapMetric implements Collectable {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly aggregator: 'sum' | 'perWorker';
  private readonly c: HashMapMetricConfiguration;
  private readonly labelNames: string[];
  private readonly offset: number;
  private readonly valueType: 'int32' | 'uint32' | 'float64' | 'bigint64';

  constructor(c: HashMapMetricConfiguration) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(c.name)) throw new RuntimeArgumentError('EINVAL', `Invalid metric name ${c.name}`);
    this.c = c;
    this.name = c.name;
    this.help = c.help;
    this.type = c.type ?? 'counter';
    this.aggregator = c.aggregator ?? 'sum';
    this.labelNames = c.labelNames ?? ['key'];
    this.offset = c.value?.offset ?? 0;
    this.valueType = c.value?.type ?? 'int32';
    const width = this.valueType === 'int32' || this.valueType === 'uint32' ? 4 : 8;
    if (!Number.isInteger(this.offset) || this.offset < 0 || this.offset % width !== 0 || this.offset + width > c.map.valueStride) {
      throw new RuntimeArgumentError('EINVAL', `metric ${c.name}: a ${this.valueType} at offset ${this.offset} does not fit the map's ${c.map.valueSize}-byte values`);
    }
    for (const r of c.registers ?? [globalRegistry]) r.registerMetric(this);
  }

  private read(ptr: number, unit: number): number {
    const a = this.c.percpu.perCpu(unit);
    switch (this.valueType) {
      case 'int32':
        return a.getInt32(ptr, this.offset);
      case 'uint32':
        return a.getUint32(ptr, this.offset);
      case 'float64':
        return a.getFloat64(ptr, this.offset);
      case 'bigint64':
        return Number(a.getBigInt64(ptr, this.offset));
    }
  }

  get(): MetricObject {
    const values: MetricValue[] = [];
    const toLabels = this.c.labels ?? defaultKeyLabels;
    const units = this.c.percpu.nrUnits;
    const workerLabel = this.c.workerLabel ?? 'worker';
    for (const [key, ptr] of this.c.map.entries()) {
      const vs = toLabels(key);
      const labels: LabelMap = {};
      this.labelNames.forEach((n, k) => {
        if (vs[k] !== undefined) labels[n] = String(vs[k]);
      });
      if (this.aggregator === 'perWorker') {
        for (let u = 0; u < units; u++) {
          const v = this.read(ptr, u);
          if (v !== 0) values.push({ value: v, labels: { ...labels, [workerLabel]: String(u) } });
        }
      } else {
        let s = 0;
        for (let u = 0; u < units; u++) s += this.read(ptr, u);
        values.push({ value: s, labels });
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: 'sum', values };
  }
}
