// SPDX-License-Identifier: GPL-2.0-only
/**
 * Example: a tiny static server for the browser page (examples/browser/) and
 * the compiled runtime it imports (dist/src/), on 127.0.0.1.
 *
 *   npm run build && node dist/examples/browser/serve.js [--port 8000]
 *   then open http://127.0.0.1:8000/?workers=4&increments=1000000
 *
 * Every response carries the cross-origin isolation headers
 * (`Cross-Origin-Opener-Policy: same-origin`,
 * `Cross-Origin-Embedder-Policy: require-corp`): without them the browser
 * hides `SharedArrayBuffer`, and the runtime cannot exist. It serves only
 * files below those two folders, read-only, and nothing else.
 *
 * `startStaticServer` is exported for the test, which drives the page in
 * headless Chromium.
 */
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Project root: this file runs as dist/examples/browser/serve.js. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PAGE_DIR = join(ROOT, 'examples', 'browser');
const DIST_SRC = join(ROOT, 'dist', 'src');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
} as const;

/** The file a URL path names, or undefined when it lies outside the two served folders or has a type not served. */
export function resolveFile(urlPath: string): string | undefined {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0]!);
  } catch {
    return undefined;
  }
  const [base, rest] = path.startsWith('/dist/src/') ? [DIST_SRC, path.slice('/dist/src/'.length)] : [PAGE_DIR, path === '/' ? 'index.html' : path.slice(1)];
  const file = resolve(base, rest);
  if (!file.startsWith(base + sep) || TYPES[extname(file)] === undefined) return undefined;
  return file;
}

export interface StaticServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface StaticServerOptions {
  /** 0 picks a free port. Default 8000. */
  port?: number;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Send the isolation headers. Default true; false shows what a page gets without them (the test checks it fails clearly). */
  isolation?: boolean;
}

export async function startStaticServer(options: StaticServerOptions = {}): Promise<StaticServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    const file = req.method === 'GET' || req.method === 'HEAD' ? resolveFile(req.url ?? '/') : undefined;
    const headers = { ...(options.isolation === false ? {} : ISOLATION_HEADERS), 'cache-control': 'no-store' };
    if (file === undefined) return void res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    readFile(file).then(
      (body) => res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)]!, 'content-length': body.length }).end(req.method === 'HEAD' ? undefined : body),
      () => res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end('not found\n'),
    );
  });
  await new Promise<void>((ready, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 8000, host, () => {
      server.off('error', fail);
      ready();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://${host}:${port}/`,
    port,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

function isMain(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8000' }, host: { type: 'string', default: '127.0.0.1' } } });
  const s = await startStaticServer({ port: Number(values.port), host: values.host });
  process.stdout.write(`percpu browser example: open ${s.url}?workers=4&increments=1000000 (cross-origin isolated; Chrome/Edge ≥ 111, Safari ≥ 16.4)\n`);
  const stop = () => void s.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
