// SPDX-License-Identifier: GPL-2.0-only
/**
 * A `verify` worker thread: replays the golden files the main thread sends,
 * one at a time, and posts back each file's result (verify.ts keeps the
 * printing order).
 */
import { parentPort } from 'node:worker_threads';
import { verifyOne, type VerifyOptions } from './verify.js';

parentPort!.on('message', (m: { path: string; options: VerifyOptions }) => {
  verifyOne(m.path, m.options).then(
    (done) => parentPort!.postMessage({ done }),
    (e: unknown) => parentPort!.postMessage({ internal: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }),
  );
});
