// SPDX-License-Identifier: GPL-2.0-only
/**
 * The HTTP worker-pool example, run as a user runs it
 * (`node dist/examples/http-workers/server.js`), on an ephemeral loopback
 * port: 200 requests (to 127.0.0.1 only, 8 at a time), then a /metrics scrape
 * whose counts must match what the client sent and received, exactly, and a
 * clean stop on SIGTERM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { once } from 'node:events';
import { ROOT } from '../test-support/fixtures.js';

const SERVER = join(ROOT, 'dist', 'examples', 'http-workers', 'server.js');
const WORKERS = 2;

interface Reply {
  status: number;
  body: Buffer;
}

function send(agent: Agent, port: number, method: string, path: string, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, timeout: 5000, headers: body ? { 'content-length': body.length } : {} }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The exposition text as a map from `name{labels}` to value. */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

test('http-workers example: 200 requests over 2 workers, /metrics sums them exactly', { timeout: 20_000 }, async () => {
  const child = spawn(process.execPath, [SERVER, '--port', '0', '--workers', String(WORKERS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    // The first line names the port.
    let stdout = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start in 10 s; stderr: ${stderr}`)), 10_000);
      child.stdout.on('data', (b: Buffer) => {
        stdout += b.toString();
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => reject(new Error(`server exited with ${code}; stderr: ${stderr}`)));
    });

    // The plan: 100 /hello, 40 /work, 30 /echo with bodies of 1..30 × 37 bytes, 20 unknown paths, 10 wrong methods.
    type Plan = { method: string; path: string; body?: Buffer; route: string; code: string };
    const plan: Plan[] = [];
    for (let i = 0; i < 100; i++) plan.push({ method: 'GET', path: '/hello', route: '/hello', code: '200' });
    for (let i = 0; i < 40; i++) plan.push({ method: 'GET', path: `/work?n=${1000 + i}`, route: '/work', code: '200' });
    for (let i = 1; i <= 30; i++) plan.push({ method: 'POST', path: '/echo', body: Buffer.alloc(37 * i, i), route: '/echo', code: '200' });
    for (let i = 0; i < 20; i++) plan.push({ method: 'GET', path: `/missing/${i}`, route: 'other', code: '404' });
    for (let i = 0; i < 10; i++) plan.push({ method: 'POST', path: '/hello', body: Buffer.from('x'), route: '/hello', code: '405' });
    assert.equal(plan.length, 200);

    const replies: Reply[] = new Array(plan.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < plan.length) {
          const k = next++;
          const p = plan[k]!;
          replies[k] = await send(agent, port, p.method, p.path, p.body);
        }
      }),
    );
    // What the client saw, per route and code, and the bytes each way.
    const want = new Map<string, number>();
    const bytesIn = new Map<string, number>();
    const bytesOut = new Map<string, number>();
    plan.forEach((p, k) => {
      const r = replies[k]!;
      assert.equal(String(r.status), p.code, `${p.method} ${p.path}`);
      if (p.path === '/echo') assert.deepEqual(r.body, p.body);
      const key = `http_requests_total{route="${p.route}",code="${p.code}"}`;
      want.set(key, (want.get(key) ?? 0) + 1);
      bytesIn.set(p.route, (bytesIn.get(p.route) ?? 0) + (p.body?.length ?? 0));
      bytesOut.set(p.route, (bytesOut.get(p.route) ?? 0) + r.body.length);
    });
    assert.equal(JSON.parse(replies[100]!.body.toString()).primes, 168, 'primes up to 1000');

    const scrape = await send(agent, port, 'GET', '/metrics');
    assert.equal(scrape.status, 200);
    const m = parseExposition(scrape.body.toString());
    // Every series of the labelled counter: the ones the client caused, and zero for the rest.
    const series = [...m.keys()].filter((k) => k.startsWith('http_requests_total{'));
    assert.equal(series.length, 4 * 6);
    for (const k of series) assert.equal(m.get(k), want.get(k) ?? 0, k);
    for (const route of ['/hello', '/work', '/echo', 'other']) {
      assert.equal(m.get(`http_request_bytes_total{route="${route}"}`), bytesIn.get(route) ?? 0, `bytes in ${route}`);
      assert.equal(m.get(`http_response_bytes_total{route="${route}"}`), bytesOut.get(route) ?? 0, `bytes out ${route}`);
      const count = [...want].filter(([k]) => k.includes(`route="${route}"`)).reduce((a, [, v]) => a + v, 0);
      assert.equal(m.get(`http_request_duration_seconds_count{route="${route}"}`), count, `latency count ${route}`);
      assert.equal(m.get(`http_request_duration_seconds_bucket{le="+Inf",route="${route}"}`), count);
      const buckets = [...m].filter(([k]) => k.startsWith(`http_request_duration_seconds_bucket{`) && k.endsWith(`route="${route}"}`)).map(([, v]) => v);
      assert.equal(buckets.length, 13);
      for (let k = 1; k < buckets.length; k++) assert.ok(buckets[k]! >= buckets[k - 1]!, `cumulative buckets of ${route}`);
      assert.ok(m.get(`http_request_duration_seconds_sum{route="${route}"}`)! >= 0);
    }
    assert.ok(m.get('http_request_duration_seconds_sum{route="/hello"}')! > 0);
    assert.equal(m.get('http_requests_in_flight'), 0);
    // Round robin: each worker handled exactly half, exported per unit.
    for (let w = 0; w < WORKERS; w++) assert.equal(m.get(`http_worker_requests_total{worker="${w}"}`), 200 / WORKERS);

    // Scrapes are not requests: a second scrape reads the same counts.
    const again = parseExposition((await send(agent, port, 'GET', '/metrics')).body.toString());
    assert.equal(again.get('http_requests_total{route="/hello",code="200"}'), 100);
  } finally {
    agent.destroy();
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, `server exit; stderr: ${stderr}`);
    }
  }
  assert.equal(stderr, '');
});
