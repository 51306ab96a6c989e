#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-only
/**
 * Two builds of this project timed against each other in one process, run by
 * run: `node scripts/ab-builds.mjs <dirA> <dirB> [rounds] [kernels]` (each dir
 * a checkout with `dist/` built; default 7 rounds of 4.13, 4.14 and 7.0).
 *
 * Why in one process: on a shared 2-vCPU machine the load of other work moves
 * whole `percpu bench` runs by 0.6–2× (docs/BENCHMARKS.md); alternating the two
 * builds every ~0.1–6 s inside one process puts both under the same load.
 * Each build and kernel gets its own copy of the timed loops (`new Function`),
 * so no call site sees two allocator classes and each inlines its own `alloc`
 * and `free`, as `bench/workloads.ts` does in a process of its own. Workloads
 * W1a and W3c of the oracle (G1 geometry, km backend, synchronous balance
 * work), the streams built once from dir B's bench module. Prints a Markdown
 * table: medians, the median of the per-round B/A ratios, and min B / min A.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dirA, dirB, roundsArg, kernelsArg] = process.argv.slice(2);
if (!dirA || !dirB) {
  process.stderr.write('usage: node scripts/ab-builds.mjs <dirA> <dirB> [rounds] [kernels, e.g. 4.13,4.14,7.0]\n');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 7);
const kernels = (kernelsArg ?? '4.13,4.14,7.0').split(',');

/** A build's factory module: `dist/src/engine/allocator.js` since the folder layout, `dist/src/allocator.js` before. */
async function factoryOf(dir) {
  for (const rel of ['dist/src/engine/allocator.js', 'dist/src/allocator.js']) {
    const p = join(resolve(dir), rel);
    if (existsSync(p)) return import(pathToFileURL(p).href);
  }
  throw new Error(`${dir}: no built allocator module (run npm run build there)`);
}

const impls = { A: await factoryOf(dirA), B: await factoryOf(dirB) };
const W = await import(pathToFileURL(join(resolve(dirB), 'dist/bench/workloads.js')).href);
const streams = { W1a: W.wWorkload(1, 'a'), W3c: W.wWorkload(3, 'c') };
const allocSrc = 'const size = s.size, align = s.align, target = s.target; for (let i = from; i < to; i++) ptrs[target[i]] = a.alloc(size[i], align[i]);';
const freeSrc = 'const target = s.target; for (let i = from; i < to; i++) a.free(ptrs[target[i]]);';
const loops = new Map();
for (const name of Object.keys(impls)) {
  for (const k of kernels) loops.set(name + k, { alloc: new Function('a', 's', 'from', 'to', 'ptrs', allocSrc), free: new Function('a', 's', 'from', 'to', 'ptrs', freeSrc) });
}

const times = new Map();
for (let r = 0; r < rounds; r++) {
  for (const k of kernels) {
    for (const [wn, s] of Object.entries(streams)) {
      for (const name of r % 2 ? ['B', 'A'] : ['A', 'B']) {
        const a = impls[name].createAllocator({ kernel: k, geometry: W.G1, mode: 'allocator', backend: 'km', balance: 'sync' });
        const ptrs = new Float64Array(s.objects);
        const n = s.objects;
        const loop = loops.get(name + k);
        const t0 = performance.now();
        loop.alloc(a, s, 0, n, ptrs);
        const t1 = performance.now();
        loop.free(a, s, n, 2 * n, ptrs);
        const t2 = performance.now();
        const key = `${wn} ${k}`;
        if (!times.has(key)) times.set(key, { A: { alloc: [], free: [] }, B: { alloc: [], free: [] } });
        times.get(key)[name].alloc.push(t1 - t0);
        times.get(key)[name].free.push(t2 - t1);
      }
    }
  }
}

const median = (x) => {
  const b = [...x].sort((p, q) => p - q);
  return b.length % 2 ? b[(b.length - 1) / 2] : (b[b.length / 2 - 1] + b[b.length / 2]) / 2;
};
console.log('| workload | profile | phase | A ms (median) | B ms (median) | B/A, median of per-round ratios | min B / min A |');
console.log('| --- | --- | --- | ---: | ---: | ---: | ---: |');
for (const [key, v] of times) {
  for (const ph of ['alloc', 'free']) {
    const a = v.A[ph];
    const b = v.B[ph];
    const [wn, k] = key.split(' ');
    console.log(`| ${wn} | ${k} | ${ph} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${median(a.map((x, i) => b[i] / x)).toFixed(3)} | ${(Math.min(...b) / Math.min(...a)).toFixed(3)} |`);
  }
}
