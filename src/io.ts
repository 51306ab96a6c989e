/**
 * Reading input files the way users have them: plain text, gzip, or xz (via the
 * system's `xz`, since Node has no xz decoder), or standard input for `-`.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { PercpuError } from './errors.js';

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

export function readInputBytes(path: string): Buffer {
  const raw = path === '-' ? readFileSync(0) : readFileSync(path);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) return gunzipSync(raw);
  if (XZ_MAGIC.every((b, i) => raw[i] === b)) return unxz(raw, path);
  return raw;
}

export function readInputText(path: string): string {
  return readInputBytes(path).toString('utf8');
}

function unxz(raw: Buffer, path: string): Buffer {
  try {
    return execFileSync('xz', ['-dc'], { input: raw, maxBuffer: 1 << 30 });
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the xz program is not installed' : String((e as Error).message);
    throw new PercpuError('EPARSE', `${path}: cannot decompress xz input: ${why} (gzip and plain files need no helper)`);
  }
}
