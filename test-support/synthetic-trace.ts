// SPDX-License-Identifier: GPL-2.0-only
/**
 * Hand-written tracefs text for the `percpu top` tests: each helper prints one
 * event line in the Linux 5.19+ format (6.18's), so a test states a chunk's
 * history in a few readable lines and computes the expected state by hand.
 */
const head = (t: number, task = 'task', pid = 100, cpu = 0) => `${(task + '-' + pid).padStart(16)} [${String(cpu).padStart(3, '0')}] ..... ${t.toFixed(6)}: `;

export function alloc(t: number, base: string, off: number, size: number, opts: { site?: string; align?: number; atomic?: boolean; task?: string; cpu?: number } = {}): string {
  const site = opts.site ?? 'site_a+0x10/0x40';
  return (
    head(t, opts.task, 100, opts.cpu ?? 0) +
    `percpu_alloc_percpu: call_site=${site} reserved=0 is_atomic=${opts.atomic ? 1 : 0} size=${size} align=${opts.align ?? 8} base_addr=${base} off=${off} ` +
    `bytes_alloc=${size * 2} gfp_flags=${opts.atomic ? 'GFP_ATOMIC' : 'GFP_KERNEL'}`
  );
}

export function free(t: number, base: string, off: number, opts: { task?: string; cpu?: number } = {}): string {
  return head(t, opts.task, 100, opts.cpu ?? 0) + `percpu_free_percpu: base_addr=${base} off=${off}`;
}

/** A chunk creation, by the balance work's kworker unless `task` names the allocating task (the allocation path's creation). */
export function create(t: number, base: string, opts: { task?: string } = {}): string {
  return head(t, opts.task ?? 'kworker/0:1', opts.task ? 100 : 41) + `percpu_create_chunk: base_addr=${base}`;
}

export function destroy(t: number, base: string): string {
  return head(t, 'kworker/0:1', 41) + `percpu_destroy_chunk: base_addr=${base}`;
}

/** Linux 6.18's fail event: no call_site=. */
export function fail618(t: number, size: number, opts: { task?: string; atomic?: boolean } = {}): string {
  return head(t, opts.task) + `percpu_alloc_percpu_fail: reserved=0 is_atomic=${opts.atomic ? 1 : 0} size=${size} align=8`;
}

export function traceText(lines: string[]): string {
  return '# tracer: nop\n#\n' + lines.join('\n') + '\n';
}
