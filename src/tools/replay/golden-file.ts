// SPDX-License-Identifier: GPL-2.0-only
/**
 * A golden file replayed while it streams in from disk or stdin: the Node-only
 * edge of the golden replay (`golden.ts` itself reads no files), so memory is
 * the allocator and an id table, never the file's text.
 */
import { displayName } from '../../formats/input.js';
import { streamGolden } from '../../formats/files.js';
import { GoldenReplay, type ReplayOptions, type ReplayResult } from './golden.js';

/** Replay a golden file while it streams in: memory is the allocator and an id table, not the file. */
export async function replayGoldenFile(path: string, options: ReplayOptions = {}, name = displayName(path)): Promise<{ result: ReplayResult; ops: number }> {
  const r = new GoldenReplay(name, options);
  await streamGolden(path, name, r);
  return { result: r.finish(), ops: r.ops };
}
