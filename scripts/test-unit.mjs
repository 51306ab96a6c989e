#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-only
/**
 * `npm run test:unit`: the fast suites, in seconds — engine, formats, tools'
 * logic, runtime basics, package checks. `npm test` still runs every suite.
 *
 * Left out here, and why (each takes from several seconds to a minute and a
 * half, or needs a browser, tmux, promtool or many worker threads):
 * docs-commands (every README command), bench-suite, report-browser,
 * report-injection, example-browser, example-piscina, example-http-workers
 * (servers), cli-errors and cli (many CLI processes), area-map (whole golden
 * runs of the 4.13 map), golden-bitmap and trace-golden (all goldens and
 * traces), trace-verify, trace-stats-compare, trace-failures, runtime-stress,
 * runtime-terminate, runtime-prom-client, runtime-prometheus, runtime-metrics,
 * runtime-shared-percpu, runtime-leases (worker threads), top-cli, top-live,
 * doctor, api-docs (typedoc).
 *
 * Runs the compiled tests (dist/test/), so build first (`npm run test:unit`
 * does). Extra arguments go to `node --test`.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const UNIT_SUITES = [
  'balance', 'bench-profile', 'bench-workloads', 'bitmap', 'checker', 'chunk-map', 'errors', 'exports', 'geometry',
  'function-length', 'import-cycles', 'io', 'no-downcast', 'package', 'population', 'property', 'runtime-counter', 'runtime-hash-map',
  'runtime-map-api', 'rules', 'shared-state', 'stats', 'stats-compare', 'stats-format', 'top-fragmentation', 'top-ledger',
  'trace-capture', 'trace-parse', 'trace-stats', 'units',
];

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const files = UNIT_SUITES.map((s) => join(root, 'dist', 'test', `${s}.test.js`));
  const jobs = String(Math.max(2, availableParallelism()));
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${jobs}`, '--test-timeout=30000', ...process.argv.slice(2), ...files], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
