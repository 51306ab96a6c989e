// SPDX-License-Identifier: GPL-2.0-only
/**
 * Call-site names for `percpu top` / `percpu leaks`: what a row of the table is.
 *
 * The 5.19+ tracepoints print `call_site=` with `%pS`, so a kernel with
 * kallsyms already gives `function+0xoff/0xsize [module]`; a kernel without it
 * (or a trace post-processed to raw addresses) gives a hexadecimal address,
 * which is looked up in `/proc/kallsyms` when that file shows real addresses
 * (root, or kptr_restrict=0) and left raw otherwise. Traces of 4.13–5.18 have
 * no call site at all; their rows are the allocating task instead.
 *
 * Grouping: `function` (default) merges the call sites of one function,
 * `site` keeps `function+offset` apart, `task` groups by the task's name.
 */
import { readFileSync } from 'node:fs';

export type SiteGrouping = 'function' | 'site' | 'task';
export const SITE_GROUPINGS: readonly SiteGrouping[] = ['function', 'site', 'task'];

/** Sorted kernel text symbols; addresses are 64-bit, beyond a double's exact range, so they stay bigints. */
export class KernelSymbols {
  private constructor(
    private readonly addrs: BigUint64Array,
    private readonly names: string[],
  ) {}

  /** `/proc/kallsyms` (or another file in its format), if it shows real addresses; undefined otherwise. */
  static load(path = '/proc/kallsyms'): KernelSymbols | undefined {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
    const rows: [bigint, string][] = [];
    for (const line of text.split('\n')) {
      const m = /^([0-9a-fA-F]+)\s+[tTwW]\s+(\S+)(?:\s+(\[\S+\]))?/.exec(line);
      if (!m) continue;
      const a = BigInt('0x' + m[1]!);
      if (a === 0n) continue;
      rows.push([a, m[3] ? `${m[2]} ${m[3]}` : m[2]!]);
    }
    if (rows.length === 0) return undefined;
    rows.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    return new KernelSymbols(BigUint64Array.from(rows, (r) => r[0]), rows.map((r) => r[1]));
  }

  /** `function+0xoff` for an address, or undefined if it lies before the first symbol. */
  lookup(addr: bigint): string | undefined {
    let lo = 0;
    let hi = this.addrs.length - 1;
    if (hi < 0 || addr < this.addrs[0]!) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.addrs[mid]! <= addr) lo = mid;
      else hi = mid - 1;
    }
    const name = this.names[lo]!;
    const off = addr - this.addrs[lo]!;
    const [fn, mod] = name.split(' ');
    return `${fn}+0x${off.toString(16)}${mod ? ' ' + mod : ''}`;
  }
}

const RAW_ADDRESS = /^(?:0x)?([0-9a-fA-F]{8,16})$/;

/** Names call sites, task names and the "no call site" case; one instance per session (symbols load once, lazily). */
export class SiteNamer {
  private symbols: KernelSymbols | undefined | null = null;

  constructor(
    readonly grouping: SiteGrouping,
    private readonly kallsyms: string | false = '/proc/kallsyms',
  ) {}

  /** The row name of a call site as the trace prints it. */
  callSite(raw: string): string {
    let text = raw.trim();
    const hex = RAW_ADDRESS.exec(text);
    if (hex) {
      const sym = this.lookup(BigInt('0x' + hex[1]!));
      text = sym ?? `0x${hex[1]!.toLowerCase()}`;
    }
    return this.grouping === 'site' ? text : functionOf(text);
  }

  /** The row name for a task (the grouping `task`, or a trace without call sites). */
  task(comm: string): string {
    return `task:${comm}`;
  }

  private lookup(addr: bigint): string | undefined {
    if (this.symbols === null) this.symbols = this.kallsyms === false ? undefined : KernelSymbols.load(this.kallsyms);
    return this.symbols?.lookup(addr);
  }
}

/** `fn+0x2bf/0x4d0 [mod]` → `fn [mod]`; a raw address stays as it is. */
export function functionOf(site: string): string {
  const m = /^([^+\s]+)(?:\+0x[0-9a-fA-F]+(?:\/0x[0-9a-fA-F]+)?)?(?:\s+(\[\S+\]))?$/.exec(site);
  if (!m) return site;
  return m[2] ? `${m[1]} ${m[2]}` : m[1]!;
}
