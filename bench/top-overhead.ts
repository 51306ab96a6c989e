// SPDX-License-Identifier: GPL-2.0-only
/**
 * What `percpu top` costs on a live kernel, and whether it keeps up:
 *
 *   npm run build && node dist/bench/top-overhead.js [--quick]
 *
 * (root; tracefs, mounted for the run if needed.) For each load — rounds of a
 * preallocated BPF per-CPU hash map of N entries created and closed, one
 * percpu allocation per entry in a burst, the frees from a work item — it runs
 * `percpu top --mount --json` around the workload and reports: the events it
 * read per second (over the session and in the kernel's bursts), the CPU
 * `percpu top` itself used, the events the kernel's ring buffer overwrote
 * before they were read or dropped (per_cpu/cpuN/stats `overrun`, `dropped
 * events`), and how many of the workload's allocations it saw (the map's own
 * few extra allocations make it slightly more than entries × rounds). Prints a Markdown table and the load average.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const WORKLOAD = join(ROOT, 'fixtures', 'top', 'workload.py');

interface Load {
  entries: number;
  rounds: number;
  pause: number;
  bufferKb: number;
}

const quick = process.argv.includes('--quick');
const LOADS: Load[] = quick
  ? [{ entries: 5_000, rounds: 4, pause: 0.3, bufferKb: 4096 }]
  : [
      { entries: 5_000, rounds: 10, pause: 0.3, bufferKb: 4096 },
      { entries: 50_000, rounds: 6, pause: 0.5, bufferKb: 4096 },
      { entries: 200_000, rounds: 3, pause: 1.0, bufferKb: 4096 },
      { entries: 200_000, rounds: 3, pause: 1.0, bufferKb: 32768 },
    ];

async function measure(load: Load) {
  // The session ends (SIGINT) two seconds after the workload, however long it took under load.
  const top = spawn(process.execPath, [CLI, 'top', '--mount', '--json', '--duration', '3600', '--interval', '0.5', '--buffer-kb', String(load.bufferKb)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  top.stdout.on('data', (d) => (out += d));
  top.stderr.on('data', (d) => (err += d));
  await new Promise((r) => setTimeout(r, 1500));
  const t0 = process.hrtime.bigint();
  const w = spawnSync('python3', [WORKLOAD, 'churn', String(load.entries), String(load.rounds), String(load.pause)], { encoding: 'utf8' });
  const workSec = Number(process.hrtime.bigint() - t0) / 1e9;
  if (w.status !== 0) throw new Error(`workload failed: ${w.stderr}`);
  await new Promise((r) => setTimeout(r, 2000));
  top.kill('SIGINT');
  const code = await new Promise<number | null>((r) => top.on('exit', r));
  if (code !== 0) throw new Error(`percpu top exited ${code}: ${err}`);
  const j = JSON.parse(out);
  const expected = load.entries * load.rounds;
  const bpf = j.sites.find((s: { name: string }) => s.name === 'bpf_map_alloc_percpu');
  return {
    ...load,
    expected,
    seen: bpf ? bpf.allocs : 0,
    events: j.events as number,
    sessionSec: j.observedSec as number,
    workSec,
    eventsPerSec: (j.events as number) / workSec,
    cpuPercent: j.self.cpuPercent as number,
    overrun: j.lost.kernelOverrun as number,
    dropped: j.lost.kernelDropped as number,
    unread: j.lost.kernelUnread as number,
    lostMarkers: j.lost.markers as number,
  };
}

const rows = [];
for (const l of LOADS) rows.push(await measure(l));
const load = readFileSync('/proc/loadavg', 'utf8').trim();
console.log(`percpu top overhead, ${new Date().toISOString()}, load average ${load}\n`);
console.log('| map entries × rounds | buffer KiB/CPU | events read | during the workload (events/s) | top CPU (% of one CPU, whole session) | kernel overrun + dropped | left unread | workload allocs seen |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.entries} × ${r.rounds} | ${r.bufferKb} | ${r.events} | ${Math.round(r.eventsPerSec)} | ${r.cpuPercent.toFixed(1)} | ${r.overrun} + ${r.dropped} | ${r.unread} | ${r.seen}/${r.expected} (${((r.seen / r.expected) * 100).toFixed(1)} %) |`,
  );
}
