/**
 * Input files as streams of decompressed bytes: plain, gzip, or xz (through the
 * system's `xz`, as Node has none), or standard input for `-`, sniffed by their
 * magic bytes. What this module owns: never holding a whole file — a 360 MB
 * trace goes to the parser a megabyte at a time — and turning an unreadable
 * file or a failing decompressor into a `PercpuError` that names the file.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { PercpuError } from '../errors.js';

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

type Compression = 'none' | 'gzip' | 'xz';

function sniff(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 6 && XZ_MAGIC.every((b, i) => head[i] === b)) return 'xz';
  return 'none';
}

/** A file that cannot be read is bad input too: say which and why, without a stack trace. */
export function unreadable(path: string, e: unknown): PercpuError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message;
  return new PercpuError('EPARSE', `${path}: cannot read: ${why}`);
}

function fileHead(path: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw unreadable(path, e);
  }
  try {
    const buf = Buffer.alloc(6);
    const n = readSync(fd, buf, 0, 6, 0);
    return buf.subarray(0, n);
  } catch (e) {
    throw unreadable(path, e);
  } finally {
    closeSync(fd);
  }
}

/** Decompressed bytes of a file (`-` = stdin), piece by piece. */
export async function* readDecompressed(path: string): AsyncGenerator<Buffer> {
  if (path === '-') {
    yield* decompressStream(process.stdin);
    return;
  }
  const mode = sniff(fileHead(path));
  if (mode === 'none') {
    for await (const b of createReadStream(path, { highWaterMark: 1 << 20 })) yield b as Buffer;
  } else if (mode === 'gzip') {
    for await (const b of createReadStream(path, { highWaterMark: 1 << 20 }).pipe(createGunzip())) yield b as Buffer;
  } else {
    yield* unxzFile(path);
  }
}

async function* decompressStream(input: Readable): AsyncGenerator<Buffer> {
  const it = input[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const head = first.value as Buffer;
  const rest = async function* () {
    yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value as Buffer;
    }
  };
  const mode = sniff(head);
  if (mode === 'none') {
    yield* rest();
  } else if (mode === 'gzip') {
    for await (const b of Readable.from(rest()).pipe(createGunzip())) yield b as Buffer;
  } else {
    const child = spawn('xz', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const done = childDone(child, '<stdin>');
    Readable.from(rest()).pipe(child.stdin!);
    for await (const b of child.stdout!) yield b as Buffer;
    await done;
  }
}

async function* unxzFile(path: string): AsyncGenerator<Buffer> {
  const child = spawn('xz', ['-dc', '--', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const done = childDone(child, path);
  for await (const b of child.stdout!) yield b as Buffer;
  await done;
}

function childDone(child: ReturnType<typeof spawn>, path: string): Promise<void> {
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(new PercpuError('EPARSE', `${path}: cannot decompress xz input: ${e.code === 'ENOENT' ? 'the xz program is not installed' : e.message}`)),
    );
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new PercpuError('EPARSE', `${path}: xz failed (exit ${code}): ${err.trim()}`));
    });
  });
}
