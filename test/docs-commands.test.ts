// SPDX-License-Identifier: GPL-2.0-only
/**
 * Every shell command shown in README.md and docs/*.md runs as written from a
 * clone: the commands are extracted from the fenced blocks (lines of `sh` /
 * `bash` blocks, `$ ` lines of any block, with `\` continuations and quotes
 * spanning lines joined), run with bash (pipefail) in a scratch folder that
 * looks like a clone (fixtures, dist, node_modules, package.json linked; docs
 * copied, since some commands write there), and must exit as expected without
 * a stack trace.
 *
 * To keep this test fast, and because some commands need what a test machine
 * has not, these run as `--help` of their subcommand instead (reason given per
 * rule below): commands needing root or a live kernel (sudo, capture, --live),
 * commands reading a trace the reader records first (map.trace, my.trace,
 * run.json), long runs (the demo, which report-browser.test.ts runs in full;
 * bench without --from), and `npm start`. `npm ci` and `npm test` are what runs
 * this test, so they are only checked to be scripts of package.json. Servers
 * (the examples) are started on port 0 and stopped once they print their URL.
 * `npx percpu` is checked once to resolve to this package; the commands then
 * run it as `node <root>/dist/src/cli/main.js`, which is what npx runs, minus
 * npx's start-up time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../test-support/fixtures.js';

interface DocCommand {
  file: string;
  line: number;
  text: string;
}

/** Shell commands of a Markdown file's fenced blocks. */
export function extractCommands(file: string, markdown: string): DocCommand[] {
  const out: DocCommand[] = [];
  const lines = markdown.split('\n');
  let fence: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const open = /^```(\w*)\s*$/.exec(l);
    if (open) {
      fence = fence === undefined ? open[1]! : undefined;
      continue;
    }
    if (fence === undefined) continue;
    const shell = fence === 'sh' || fence === 'bash' || fence === 'shell';
    let text: string;
    if (l.startsWith('$ ')) text = l.slice(2);
    else if (shell && /^(sudo |npx |npm |node |percpu )/.test(l)) text = l;
    else continue;
    const start = i;
    // Join `\` continuations and single quotes left open across lines.
    while ((/\\$/.test(text) || (text.match(/'/g) ?? []).length % 2 === 1) && i + 1 < lines.length) {
      i++;
      text = /\\$/.test(text) ? text.slice(0, -1).trimEnd() + ' ' + lines[i]!.trim() : text + '\n' + lines[i]!;
    }
    out.push({ file, line: start + 1, text: text.replace(/\s+#\s.*$/, '').trim() });
  }
  return out;
}

type Plan = { how: 'run'; exit: number } | { how: 'help'; why: string } | { how: 'script'; why: string } | { how: 'server' };

/** Documented exit codes other than 0 (see the error discipline in docs/TOOLS.md). */
const EXPECTED_EXIT: [RegExp, number, string][] = [
  [/doctor fixtures\/stats\/live-2026-11-25/, 1, 'the doctor found the documented inconsistency'],
  [/verify --fixed fixtures\/golden\/spec\/4\.14\/GV-D/, 1, 'the corrected allocator places where 4.14 refuses'],
  [/verify --fixed fixtures\/traces\/golden\/b_single/, 1, 'without the slip the kernel\'s history is not reproduced'],
  [/doctor fixtures\/traces\/golden\/b_single/, 1, 'the doctor reports the first stale hint'],
];

function plan(c: DocCommand): Plan {
  const t = c.text;
  if (/^npm (ci|test)\b/.test(t)) return { how: 'script', why: 'npm ci / npm test are what runs this test' };
  if (/^npm run (docs|test:unit)\b/.test(t)) return { how: 'script', why: 'api-docs.test.ts runs typedoc; test:unit is a subset of npm test' };
  if (/^sudo |\bcapture\b|--live/.test(t)) return { how: 'help', why: 'needs root and a live kernel' };
  if (/\b(map|my)\.trace\b|run\.json/.test(t)) return { how: 'help', why: 'reads a trace or run the reader records first' };
  if (/^npm start|percpu demo/.test(t)) return { how: 'help', why: 'the demo runs in full in report-browser.test.ts' };
  if (/percpu bench/.test(t) && !/--from docs\//.test(t)) return { how: 'help', why: 'a benchmark run takes from seconds to minutes' };
  if (/examples\/.*\.js/.test(t) && /--port/.test(t)) return { how: 'server' };
  const e = EXPECTED_EXIT.find(([re]) => re.test(t));
  return { how: 'run', exit: e ? e[1] : 0 };
}

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

function helpOf(t: string): string {
  if (/^npm start/.test(t)) return 'npm start -- --help';
  const m = /(?:npx percpu|percpu) ([a-z-]+)/.exec(t);
  assert.ok(m, `no percpu subcommand in: ${t}`);
  return `npx percpu ${m[1]} --help`;
}

function asRun(t: string): string {
  return t.replace(/^sudo /, '').replace(/\bnpx percpu\b/g, `node ${CLI}`);
}

/** A folder that looks like a fresh clone (built), where commands may write files. */
function scratchClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'percpu-docs-'));
  for (const name of ['fixtures', 'dist', 'node_modules', 'package.json', 'examples']) symlinkSync(join(ROOT, name), join(dir, name));
  cpSync(join(ROOT, 'docs'), join(dir, 'docs'), { recursive: true });
  return dir;
}

const STACK = /^\s+at .+:\d+:\d+\)?$/m;

function allCommands(): DocCommand[] {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  return files.flatMap((f) => extractCommands(f, readFileSync(join(ROOT, f), 'utf8')));
}

test('the extractor finds commands in sh blocks and $ lines, joins continuations, drops comments', () => {
  const md = ['```sh', 'npx percpu verify a.gz   # comment', 'npx percpu map x \\', '   --at 3 -o y.svg', "sudo npx percpu capture -- sh -c '", "  echo hi'", '```', '```', '$ npx percpu doctor f | tail -1', 'output line', '```'].join('\n');
  assert.deepEqual(
    extractCommands('x.md', md).map((c) => c.text),
    ['npx percpu verify a.gz', 'npx percpu map x --at 3 -o y.svg', "sudo npx percpu capture -- sh -c '\n  echo hi'", 'npx percpu doctor f | tail -1'],
  );
});

test('no command in README or docs points outside the project', () => {
  for (const c of allCommands()) assert.doesNotMatch(c.text, /\.\.\/shared|\/work\//, `${c.file}:${c.line}: ${c.text}`);
});

test('npx percpu resolves to this package', () => {
  const r = spawnSync('npx', ['percpu', '--version'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
});

test('every command in README.md and docs/*.md runs as written from a clone', { timeout: 240_000 }, async (t) => {
  const cmds = allCommands();
  assert.ok(cmds.length >= 20, `only ${cmds.length} commands found`);
  const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
  const cwd = scratchClone();
  const failures: string[] = [];
  for (const c of cmds) {
    const p = plan(c);
    const where = `${c.file}:${c.line}: ${c.text.split('\n')[0]}`;
    if (p.how === 'script') {
      for (const s of c.text.split('&&').map((x) => x.trim()))
        if (s !== 'npm ci' && !scripts[s.replace(/^npm (run )?/, '')]) failures.push(`${where}: no script "${s}" in package.json`);
      continue;
    }
    if (p.how === 'server') {
      const line = await startAndStop(asRun(c.text).replace(/--port \d+/, '--port 0'), cwd);
      if (!/http:\/\/127\.0\.0\.1:\d+/.test(line)) failures.push(`${where}: the server did not print its address (${line})`);
      continue;
    }
    const command = p.how === 'help' ? asRun(helpOf(c.text)) : asRun(c.text);
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', command], { cwd, encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, CI: '' } });
    const exit = p.how === 'help' ? 0 : p.exit;
    if (r.status !== exit) failures.push(`${where}: exit ${r.status}, expected ${exit}${p.how === 'help' ? ` (ran ${command}: ${p.why})` : ''}\n    ${(r.stderr || r.stdout).trim().split('\n').slice(0, 3).join('\n    ')}`);
    else if (STACK.test(r.stderr)) failures.push(`${where}: printed a stack trace\n${r.stderr.slice(0, 400)}`);
  }
  const counts = new Map<string, number>();
  for (const c of cmds) counts.set(plan(c).how, (counts.get(plan(c).how) ?? 0) + 1);
  t.diagnostic(`${cmds.length} commands: ${[...counts].map(([k, v]) => `${v} ${k}`).join(', ')}`);
  assert.deepEqual(failures, []);
});

/** Start a long-running command, resolve with its first output line, then stop it. */
function startAndStop(command: string, cwd: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `exec ${command}`], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    const done = (s: string) => {
      clearTimeout(timer);
      child.kill('SIGTERM');
      resolve(s);
    };
    const timer = setTimeout(() => done(`no output in 15 s: ${seen}`), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes('\n')) done(seen.split('\n')[0]!);
    });
    child.stderr.on('data', (d: Buffer) => (seen += d.toString()));
    child.on('exit', (code) => done(`exited with ${code}: ${seen}`));
  });
}
