// SPDX-License-Identifier: GPL-2.0-only
/**
 * The one input reader of the tools: a file (or `-`, standard input) as it
 * comes — plain text, gzip (node:zlib) or xz (decoded in process by the
 * `xz-decompress` WebAssembly decoder, so no system `xz` is needed), sniffed by
 * its magic bytes — handed to a parser line by line.
 *
 * What this module owns:
 * - memory bounded independently of the file size: the file is read a
 *   megabyte at a time and only the current line is held (a line over
 *   `MAX_LINE_BYTES` is an error, not a reason to buffer a whole file);
 * - line ends: `\n` and `\r\n` are both accepted, and the `\r` never reaches a
 *   parser;
 * - every way reading can fail — missing file, permission, a directory,
 *   truncated or corrupt compressed data — becomes an `InputError` naming the
 *   file and how far it got (lines and bytes), never a Node stack trace.
 *
 * Parsers keep their own `ParseError`s; this module only adds where the reader
 * was when one was thrown is already known to them (they count lines).
 */
import { accessSync, closeSync, constants, createReadStream, existsSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { EmptyInputError, InputError, OutputError, PercpuError } from '../errors.js';

/** Longest line accepted (golden, trace and stats lines are under 300 bytes). */
export const MAX_LINE_BYTES = 1 << 20;

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const READ_CHUNK = 1 << 20;

export type Compression = 'plain' | 'gzip' | 'xz';

/** How far a read got, for messages and summaries. */
export interface ReadProgress {
  /** Lines handed to the parser. */
  lines: number;
  /** Decompressed bytes seen. */
  bytes: number;
  compression: Compression;
}

/** The name a path is shown under in messages. */
export function displayName(path: string): string {
  return path === '-' ? '<stdin>' : path;
}

function sniff(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 6 && XZ_MAGIC.every((b, i) => head[i] === b)) return 'xz';
  return 'plain';
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EMFILE: 'too many open files',
};

/** A Node system error in words ("no such file or directory"), without its stack. */
export function errnoWords(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (err.code && ERRNO_WORDS[err.code]) ?? err.message ?? String(e);
}

/** A file that cannot be read is bad input too: say which and why. */
export function unreadable(path: string, e: unknown): PercpuError {
  if (e instanceof PercpuError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const hint = code === 'ENOENT' ? 'check the path (relative paths are taken from the current directory)' : undefined;
  return new InputError(displayName(path), `cannot read: ${errnoWords(e)}`, hint);
}

/** Why a decoder stopped, in words. `xz-decompress` reports xz-embedded's return codes. */
function decoderFailure(mode: Compression, e: unknown): string {
  const msg = String((e as Error)?.message ?? e);
  const zcode = (e as NodeJS.ErrnoException).code;
  if (mode === 'gzip') {
    if (zcode === 'Z_BUF_ERROR' || /unexpected end/.test(msg)) return 'the gzip data ends early (truncated file?)';
    return `corrupt gzip data (${msg})`;
  }
  const m = /error code (\d+)/.exec(msg);
  switch (m ? Number(m[1]) : -1) {
    case 8:
      return 'the xz data ends early (truncated file?)';
    case 7:
      return 'corrupt xz data';
    case 5:
      return 'not valid xz data (bad stream header)';
    case 6:
    case 2:
      return 'xz options this decoder does not support';
    case 3:
    case 4:
      return 'the xz decoder ran out of memory';
    default:
      return `cannot decompress xz data (${msg})`;
  }
}

async function* chunksOf(stream: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  for await (const b of stream) yield b as Buffer;
}

/** An async source that first replays `head`, then the rest of `it`. */
async function* prepend(head: Buffer, it: AsyncIterator<unknown>): AsyncGenerator<Buffer> {
  yield head;
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    yield r.value as Buffer;
  }
}

async function decompress(mode: Compression, source: AsyncIterable<Buffer>): Promise<AsyncIterable<Buffer>> {
  if (mode === 'plain') return source;
  if (mode === 'gzip') return chunksOf(Readable.from(source).pipe(createGunzip({ chunkSize: 1 << 16 })));
  const { XzReadableStream } = (await import('xz-decompress')).default;
  const web = new XzReadableStream(Readable.toWeb(Readable.from(source)) as unknown as ReadableStream<Uint8Array>);
  return chunksOf(Readable.fromWeb(web as unknown as import('node:stream/web').ReadableStream<Uint8Array>));
}

function fileHead(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw unreadable(path, e);
  }
  try {
    const buf = Buffer.alloc(6);
    return buf.subarray(0, readSync(fd, buf, 0, 6, 0));
  } catch (e) {
    throw unreadable(path, e);
  } finally {
    closeSync(fd);
  }
}

/** Raw bytes of `path` (stdin for `-`) and the compression they are in. */
async function openRaw(path: string): Promise<{ mode: Compression; source: AsyncIterable<Buffer> }> {
  if (path !== '-') {
    const mode = sniff(fileHead(path));
    return { mode, source: chunksOf(createReadStream(path, { highWaterMark: READ_CHUNK })) };
  }
  const it = process.stdin[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return { mode: 'plain', source: (async function* () {})() };
  const head = first.value as Buffer;
  return { mode: sniff(head), source: prepend(head, it) };
}

/**
 * Decompressed bytes of `path`, piece by piece. Failures of the file or the
 * decoder are `InputError`s that say how many decompressed bytes came first.
 */
export async function* readDecompressed(path: string, position?: () => string): AsyncGenerator<Buffer> {
  const { mode, source } = await openRaw(path);
  let bytes = 0;
  let it: AsyncIterator<Buffer>;
  try {
    it = (await decompress(mode, source))[Symbol.asyncIterator]();
  } catch (e) {
    throw new InputError(displayName(path), decoderFailure(mode, e));
  }
  for (;;) {
    let r: IteratorResult<Buffer>;
    try {
      r = await it.next();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).syscall !== undefined) throw unreadable(path, e);
      const where = position ? ` (${position()})` : '';
      throw new InputError(displayName(path), `${decoderFailure(mode, e)}: stopped after ${bytes} decompressed bytes${where}`, 'the file is damaged: copy or recompress it again');
    }
    if (r.done) return;
    bytes += r.value.length;
    yield r.value;
  }
}

/**
 * Hand every line of `path` to `onLine` (without its `\n` or `\r\n`), in
 * order, with its 1-based number. A throw from `onLine` (a parser's
 * `ParseError`) stops the read and propagates unchanged. A failure of the
 * input names the last complete line read.
 */
export async function readLines(path: string, onLine: (line: string, lineNo: number) => void): Promise<ReadProgress> {
  const name = displayName(path);
  const decoder = new StringDecoder('utf8');
  const progress: ReadProgress = { lines: 0, bytes: 0, compression: 'plain' };
  let tail = '';
  const emit = (line: string) => {
    progress.lines++;
    onLine(line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line, progress.lines);
  };
  for await (const piece of readDecompressed(path, () => `${progress.lines} complete lines`)) {
      progress.bytes += piece.length;
      const text = decoder.write(piece);
      let start = 0;
      let nl = text.indexOf('\n');
      if (nl >= 0 && tail !== '') {
        emit(tail + text.slice(0, nl));
        tail = '';
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
      while (nl >= 0) {
        emit(text.slice(start, nl));
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
      tail = start === 0 ? tail + text : text.slice(start);
      if (tail.length > MAX_LINE_BYTES) {
        throw new InputError(name, `line ${progress.lines + 1} is longer than ${MAX_LINE_BYTES} bytes: not a text file of this kind`);
      }
  }
  tail += decoder.end();
  if (tail !== '') emit(tail);
  return progress;
}

/** The whole text of a small input (percpu_stats snapshots), read through the same reader, at most `maxBytes`. */
export async function readSmallText(path: string, maxBytes = 64 << 20): Promise<string> {
  const parts: string[] = [];
  let size = 0;
  await readLines(path, (line) => {
    size += line.length + 1;
    if (size > maxBytes) throw new InputError(displayName(path), `larger than ${maxBytes} bytes: not a file of this kind`);
    parts.push(line);
  });
  return parts.length === 0 ? '' : parts.join('\n') + '\n';
}

/** Write an output file; a path that cannot be written is an `OutputError` naming it and the flag that chose it. */
export function writeOutput(path: string, data: string | Uint8Array, flag?: string): void {
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw cannotWrite(path, e, flag);
  }
}

/** Create an output directory (and its parents). */
export function makeOutputDir(path: string, flag?: string): void {
  // One level at a time: Node 20's recursive mkdir never returns under /proc.
  const missing: string[] = [];
  let p = resolve(path);
  while (!existsSync(p)) {
    missing.push(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  try {
    if (!statSync(p).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    for (const dir of missing.reverse()) mkdirSync(dir);
  } catch (e) {
    throw cannotWrite(path, e, flag);
  }
}

export function cannotWrite(path: string, e: unknown, flag?: string): OutputError {
  const code = (e as NodeJS.ErrnoException).code;
  const fix = code === 'ENOENT' ? 'create the directory first' : code === 'EISDIR' ? 'give a file name, not a directory' : 'choose a writable place';
  return new OutputError(path, `cannot write: ${errnoWords(e)}`, flag ? `${fix}, or pass another ${flag}` : fix);
}

/**
 * Fail early — before a long replay — when `path` could not be written: its
 * directory is missing or not writable, or the path is a directory.
 */
export function assertWritable(path: string, flag?: string): void {
  const dir = dirname(path);
  try {
    if (existsSync(path)) {
      if (statSync(path).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      accessSync(path, constants.W_OK);
      return;
    }
    if (!existsSync(dir)) throw Object.assign(new Error('no such directory'), { code: 'ENOENT' });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw cannotWrite(path, e, flag);
  }
}

/**
 * Like `readLines`, for inputs whose kind shows in their first line (a golden
 * header, `Percpu Memory Statistics`, or a trace): `pick` sees the first line
 * and returns the handler for every line, that one included. One pass, so it
 * works on standard input too. An empty input is an `EmptyInputError`.
 */
export async function readLinesBy(path: string, pick: (firstLine: string) => (line: string, lineNo: number) => void): Promise<ReadProgress> {
  let handler: ((line: string, lineNo: number) => void) | undefined;
  const progress = await readLines(path, (line, n) => {
    handler ??= pick(line);
    handler(line, n);
  });
  if (handler === undefined) throw new EmptyInputError(displayName(path), 'empty input: nothing to check');
  return progress;
}
