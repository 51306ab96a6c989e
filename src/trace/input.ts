// SPDX-License-Identifier: GPL-2.0-only
/**
 * Kept for the modules that import the reader from here: the one input reader
 * is `src/io.ts`.
 */
export { readDecompressed, unreadable } from '../io.js';
