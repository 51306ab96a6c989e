// SPDX-License-Identifier: GPL-2.0-only
/**
 * The one input reader (src/formats/input.ts): every compression, line ends, standard
 * input, how far a damaged file got, and memory that does not grow with the
 * file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLines, MAX_LINE_BYTES } from '../src/formats/input.js';
import { InputError } from '../src/errors.js';
import { parseGoldenFile } from '../src/formats/files.js';
import { ROOT, fixturePath } from '../test-support/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'percpu-io-'));

async function lines(path: string): Promise<string[]> {
  const out: string[] = [];
  await readLines(path, (l, n) => {
    assert.equal(n, out.length + 1);
    out.push(l);
  });
  return out;
}

test('plain, gzip and xz give the same lines; CRLF and a missing last newline are read like LF', async () => {
  const text = gunzipSync(readFileSync(fixturePath('golden', 'spec', '4.14', 'GV-A.golden.gz'))).toString('utf8');
  const expected = text.replace(/\n$/, '').split('\n');
  const plain = join(dir, 'a.golden');
  writeFileSync(plain, text);
  const crlf = join(dir, 'crlf.golden');
  writeFileSync(crlf, text.replace(/\n/g, '\r\n').replace(/\r\n$/, ''));
  assert.deepEqual(await lines(plain), expected);
  assert.deepEqual(await lines(crlf), expected);
  assert.deepEqual(await lines(fixturePath('golden', 'spec', '4.14', 'GV-A.golden.gz')), expected);
  assert.deepEqual(await lines(fixturePath('xz', 'GV-A.golden.xz')), expected);
  const g = await parseGoldenFile(fixturePath('xz', 'GV-A.golden.xz'));
  assert.equal(g.ops.length, 61);
});

test('a damaged file is an InputError naming the file, the bytes and the complete lines read before it', async () => {
  const gz = gzipSync(Buffer.from('line\n'.repeat(100_000)));
  const cut = join(dir, 'cut.gz');
  writeFileSync(cut, gz.subarray(0, gz.length - 100));
  let seen = 0;
  await assert.rejects(
    readLines(cut, () => seen++),
    (e: unknown) => e instanceof InputError && new RegExp(`^${cut}: the gzip data ends early \\(truncated file\\?\\): stopped after (\\d+) decompressed bytes \\(${seen} complete lines\\)$`).test(e.message),
  );
  assert.ok(seen > 1000 && seen < 100_000, `${seen} lines before the cut`);
  await assert.rejects(readLines(join(dir, 'none'), () => {}), /none: cannot read: no such file or directory/);
  await assert.rejects(readLines(dir, () => {}), /cannot read: is a directory/);
});

test('a line over MAX_LINE_BYTES is refused with its number, not buffered', async () => {
  const p = join(dir, 'long.txt');
  writeFileSync(p, 'ok\n' + 'x'.repeat(MAX_LINE_BYTES + 10));
  await assert.rejects(readLines(p, () => {}), /long\.txt: line 2 is longer than 1048576 bytes/);
});

test('standard input (-) streams too, gzip included', () => {
  const script = `import { readLines } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'formats', 'input.js'))}; let n = 0; await readLines('-', () => n++); console.log(n);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { input: gzipSync(Buffer.from('a\nb\r\nc')) });
  assert.equal(r.stdout.toString().trim(), '3', r.stderr.toString());
});

test('memory stays bounded: 256 MiB of text through a 48 MiB heap', async () => {
  // If the reader held the text (or the decompressed buffer), this heap could not hold it.
  const p = join(dir, 'big.gz');
  const out = createWriteStream(p);
  const gz = createGzip({ level: 1 });
  gz.pipe(out);
  const block = Buffer.from('a 1 8 8 0 0 padding padding padding padding padding padding\n'.repeat(16384));
  const blocks = Math.ceil((256 << 20) / block.length);
  for (let i = 0; i < blocks; i++) if (!gz.write(block)) await once(gz, 'drain');
  gz.end();
  await once(out, 'close');
  const script = `import { readLines } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'formats', 'input.js'))};
    let n = 0; await readLines(${JSON.stringify(p)}, () => n++);
    console.log(JSON.stringify({ n, rss: process.resourceUsage().maxRSS * 1024 }));`;
  const r = spawnSync(process.execPath, ['--max-old-space-size=48', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { n, rss } = JSON.parse(r.stdout) as { n: number; rss: number };
  assert.equal(n, blocks * 16384);
  console.log(`# ${((blocks * block.length) / 2 ** 20).toFixed(0)} MiB of text read in ${(rss / 2 ** 20).toFixed(0)} MiB max RSS`);
  assert.ok(rss < 160 * 2 ** 20, `max RSS ${rss}`);
});
