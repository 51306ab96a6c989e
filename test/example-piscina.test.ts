// SPDX-License-Identifier: GPL-2.0-only
/**
 * The piscina example, run as a user runs it
 * (`node dist/examples/piscina/server.js`) on an ephemeral loopback port:
 * requests to every route (8 at a time, 127.0.0.1 only), tasks that time out
 * so that piscina terminates their workers, tenants past the cardinality
 * limit; then /metrics must match what the client saw, exactly — counts of
 * terminated workers included — and a scrape taken while a worker is blocked
 * must come back without waiting for it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { once } from 'node:events';
import { ROOT } from '../test-support/fixtures.js';

const SERVER = join(ROOT, 'dist', 'examples', 'piscina', 'server.js');

interface Reply {
  status: number;
  body: string;
  ms: number;
}

function send(agent: Agent, port: number, path: string, tenant?: string): Promise<Reply> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, timeout: 10_000, headers: tenant ? { 'x-tenant': tenant } : {} }, (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer in 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

test('piscina example: per-route counters and histograms across a pool whose timed-out workers are terminated', { timeout: 90_000 }, async () => {
  const child = spawn(process.execPath, [SERVER, '--port', '0', '--threads', '2', '--timeout', '1500'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no start in 15 s: ${stderr}`)), 15_000);
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
    });

    type Plan = { path: string; route: string; code: number; tenant?: string };
    const plan: Plan[] = [];
    for (let i = 0; i < 60; i++) plan.push({ path: '/hello', route: '/hello', code: 200, tenant: `t${i % 30}` });
    for (let i = 0; i < 30; i++) plan.push({ path: `/users/${i}`, route: '/users/:id', code: 200 });
    for (let i = 0; i < 10; i++) plan.push({ path: `/sleep?ms=${5 + i}`, route: '/sleep', code: 200 });
    for (let i = 0; i < 10; i++) plan.push({ path: `/work?n=${1000 + i}`, route: '/work', code: 200 });
    for (let i = 0; i < 10; i++) plan.push({ path: `/nope/${i}`, route: 'unmatched', code: 404 });
    let next = 0;
    const replies: Reply[] = new Array(plan.length);
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < plan.length) {
          const k = next++;
          replies[k] = await send(agent, port, plan[k]!.path, plan[k]!.tenant);
        }
      }),
    );
    plan.forEach((p, k) => assert.equal(replies[k]!.status, p.code, p.path));

    // Three tasks that block their worker past the timeout: 504, worker terminated. A scrape meanwhile does not wait.
    const spins = [send(agent, port, '/spin?ms=5000'), send(agent, port, '/spin?ms=5000')];
    await new Promise((r) => setTimeout(r, 300));
    const during = await send(agent, port, '/metrics');
    assert.equal(during.status, 200);
    assert.ok(during.ms < 1000, `scrape took ${during.ms.toFixed(0)} ms while both workers were blocked`);
    for (const r of await Promise.all(spins)) assert.equal(r.status, 504);
    assert.equal((await send(agent, port, '/spin?ms=5000')).status, 504);
    // The pool replaces the workers; new requests are served and counted on.
    for (let i = 0; i < 10; i++) assert.equal((await send(agent, port, '/hello')).status, 200);

    await new Promise((r) => setTimeout(r, 200));
    const m = parse((await send(agent, port, '/metrics')).body);
    const want = new Map<string, number>();
    for (const p of [...plan, ...Array.from({ length: 10 }, () => ({ route: '/hello', code: 200 }))]) {
      const k = `http_requests_total{method="GET",route="${p.route}",code="${p.code}"}`;
      want.set(k, (want.get(k) ?? 0) + 1);
    }
    want.set('http_requests_total{method="GET",route="/spin",code="504"}', 3);
    const got = [...m].filter(([k]) => k.startsWith('http_requests_total{'));
    assert.deepEqual(new Map(got), want, 'every request counted once, by whichever thread finished it');
    assert.equal(m.get('http_task_timeouts_total{route="/spin"}'), 3);
    assert.ok((m.get('piscina_worker_exits_total') ?? 0) >= 3, 'terminated workers seen');
    assert.equal(m.get('http_requests_in_flight'), 0, 'the terminated workers\' in-flight share was dropped with their units');
    for (const [route, n] of [['/hello', 70], ['/users/:id', 30], ['/sleep', 10], ['/work', 10], ['unmatched', 10]] as const) {
      assert.equal(m.get(`http_request_duration_seconds_count{method="GET",route="${route}"}`), n, route);
      assert.equal(m.get(`http_request_duration_seconds_bucket{le="+Inf",method="GET",route="${route}"}`), n);
    }
    assert.ok(m.get('http_request_duration_seconds_sum{method="GET",route="/sleep"}')! >= 0.095 - 0.01, 'sleep timers ran across the await');
    // 30 tenants, a limit of 20: 20 series, the rest in the overflow series.
    const tenants = [...m].filter(([k]) => k.startsWith('http_requests_by_tenant_total{tenant='));
    assert.equal(tenants.length, 20);
    assert.equal(tenants.reduce((a, [, v]) => a + v, 0) + (m.get('http_requests_by_tenant_total{overflow="true"}') ?? 0), 60);
    assert.ok(m.get('nodejs_heap_size_used_bytes{worker="0"}')! > 0, 'main thread default metrics');
  } finally {
    agent.destroy();
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await once(child, 'exit');
      clearTimeout(killer);
    }
  }
  assert.equal(stderr, '');
});
