// SPDX-License-Identifier: GPL-2.0-only
/**
 * Feeding `percpu top` and `percpu leaks`: tracefs text → parsed batches.
 *
 * What this module owns: one way of turning text into events for both a
 * recorded trace and a live `trace_pipe`, through the project's trace parser
 * (`TraceParser`, which also reads Linux 6.18's `percpu_alloc_percpu_fail`
 * without call_site=). A live session parses each drained piece as its own
 * batch, so memory per batch stays bounded; `TraceAccumulator` joins the
 * batches back into one `ParsedTrace`, with interned ids remapped, for the
 * chunk analysis.
 *
 * Invariants: a batch holds whole lines only (an unfinished line waits for the
 * next piece); an error names the line of the whole text, not of its batch; the accumulated trace is the concatenation of the batches in
 * order, as if one parser had read them.
 */
import { StringDecoder } from 'node:string_decoder';
import { ParseError } from '../../errors.js';
import { readDecompressed } from '../../formats/input.js';
import { intern, TraceParser, type LostEvents, type ParsedTrace, type TraceEvents } from '../../formats/trace.js';

export interface Batch {
  trace: ParsedTrace;
  /** Lines before this batch (the parser counts each batch's lines from 1). */
  lineOffset: number;
}

/**
 * Text in pieces → batches. `take()` closes the current parser and returns
 * what it read; the next `push` starts a new one.
 */
export class BatchReader {
  private parser: TraceParser;
  private tail = '';
  private lineNo = 0;
  private batchStart = 0;

  constructor(private readonly name: string) {
    this.parser = new TraceParser(name);
  }

  push(text: string): void {
    const all = this.tail + text;
    const end = all.lastIndexOf('\n');
    if (end < 0) {
      this.tail = all;
      return;
    }
    this.tail = all.slice(end + 1);
    this.feed(all.slice(0, end + 1));
  }

  private feed(text: string): void {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.lineNo++;
    this.inFileLines(() => this.parser.push(text));
  }

  /** The parser counts a batch's lines from 1: its errors are given the line of the whole text. */
  private inFileLines<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof ParseError) || this.batchStart === 0) throw e;
      throw new ParseError(e.source, e.line + this.batchStart, e.message.slice(`${e.source}:${e.line}: `.length));
    }
  }

  /** Everything read so far (a trailing unfinished line included when `final`). */
  take(final = false): Batch {
    if (final && this.tail !== '') {
      const t = this.tail;
      this.tail = '';
      this.feed(t + '\n');
    }
    const trace = this.inFileLines(() => this.parser.finish());
    const lineOffset = this.batchStart;
    this.parser = new TraceParser(this.name);
    this.batchStart = this.lineNo;
    return { trace, lineOffset };
  }
}

/** A recorded trace (plain, gzip or xz; `-` = stdin) as one batch. */
export async function readTraceBatch(path: string): Promise<Batch> {
  const reader = new BatchReader(path === '-' ? '<stdin>' : path);
  const decoder = new StringDecoder('utf8');
  for await (const piece of readDecompressed(path)) reader.push(decoder.write(piece));
  reader.push(decoder.end());
  return reader.take(true);
}

// ---------------------------------------------------------------------------

type Column = Uint8Array | Uint16Array | Int32Array | Float64Array;
const COLUMNS = ['kind', 'cpu', 'pid', 'task', 'time', 'addr', 'off', 'size', 'align', 'flags', 'callSite', 'line'] as const;
type ColumnName = (typeof COLUMNS)[number];

/** Batches joined into one growing ParsedTrace (for the chunk analysis of a live session). */
export class TraceAccumulator {
  private n = 0;
  private cap = 0;
  private cols: Record<ColumnName, Column>;
  private readonly addrIds = new Map<string, number>();
  private readonly addrs: string[] = [];
  private readonly taskIds = new Map<string, number>();
  private readonly tasks: string[] = [];
  private readonly siteIds = new Map<string, number>();
  private readonly sites: string[] = [];
  private readonly lost: LostEvents[] = [];
  private readonly other = new Map<string, number>();
  private readonly counts = [0, 0, 0, 0, 0];
  private format: ParsedTrace['format'] = 'unknown';
  private hasPtr = false;
  private lines = 0;
  private readonly backwards = { count: 0, firstLine: 0 };
  /** Set when `maxEvents` was reached: later batches are counted, not kept. */
  truncatedAt = -1;

  constructor(
    private readonly name: string,
    private readonly maxEvents = 20_000_000,
  ) {
    this.cols = this.alloc(0);
  }

  private alloc(cap: number): Record<ColumnName, Column> {
    return {
      kind: new Uint8Array(cap),
      cpu: new Uint16Array(cap),
      pid: new Int32Array(cap),
      task: new Int32Array(cap),
      time: new Float64Array(cap),
      addr: new Int32Array(cap),
      off: new Int32Array(cap),
      size: new Int32Array(cap),
      align: new Int32Array(cap),
      flags: new Uint8Array(cap),
      callSite: new Int32Array(cap),
      line: new Int32Array(cap),
    };
  }

  get length(): number {
    return this.n;
  }

  append(t: ParsedTrace): void {
    const m = t.events.length;
    if (this.truncatedAt >= 0 || this.n + m > this.maxEvents) {
      if (this.truncatedAt < 0) this.truncatedAt = this.n;
      return;
    }
    if (this.n + m > this.cap) {
      let cap = Math.max(1 << 14, this.cap);
      while (cap < this.n + m) cap *= 2;
      const next = this.alloc(cap);
      for (const c of COLUMNS) next[c].set(this.cols[c].subarray(0, this.n));
      this.cols = next;
      this.cap = cap;
    }
    const at = this.n;
    const ev = t.events as TraceEvents;
    for (const c of COLUMNS) this.cols[c].set(ev[c], at);
    const remap = (col: Int32Array, table: string[], ids: Map<string, number>, into: string[]) => {
      const map = table.map((s) => intern(ids, into, s));
      for (let i = at; i < at + m; i++) {
        const v = col[i]!;
        if (v >= 0) col[i] = map[v]!;
      }
    };
    remap(this.cols.addr as Int32Array, t.addrs, this.addrIds, this.addrs);
    remap(this.cols.task as Int32Array, t.tasks, this.taskIds, this.tasks);
    remap(this.cols.callSite as Int32Array, t.callSites, this.siteIds, this.sites);
    const lines = this.cols.line as Int32Array;
    for (let i = at; i < at + m; i++) lines[i] = lines[i]! + this.lines;
    for (const l of t.lost) this.lost.push({ ...l, line: l.line + this.lines, beforeSeq: l.beforeSeq + at });
    for (const [k, v] of t.otherEvents) this.other.set(k, (this.other.get(k) ?? 0) + v);
    t.counts.forEach((c, i) => (this.counts[i] = this.counts[i]! + c));
    if (this.format === 'unknown') this.format = t.format;
    this.hasPtr ||= t.hasPtr;
    if (t.backwards.count > 0 && this.backwards.count === 0) this.backwards.firstLine = t.backwards.firstLine + this.lines;
    this.backwards.count += t.backwards.count;
    this.lines += t.lines;
    this.n = at + m;
  }

  /** The events so far, as one trace (views of the columns, valid until the next append). */
  snapshot(): ParsedTrace {
    const n = this.n;
    const c = this.cols;
    return {
      name: this.name,
      events: {
        length: n,
        kind: (c.kind as Uint8Array).subarray(0, n),
        cpu: (c.cpu as Uint16Array).subarray(0, n),
        pid: (c.pid as Int32Array).subarray(0, n),
        task: (c.task as Int32Array).subarray(0, n),
        time: (c.time as Float64Array).subarray(0, n),
        addr: (c.addr as Int32Array).subarray(0, n),
        off: (c.off as Int32Array).subarray(0, n),
        size: (c.size as Int32Array).subarray(0, n),
        align: (c.align as Int32Array).subarray(0, n),
        flags: (c.flags as Uint8Array).subarray(0, n),
        callSite: (c.callSite as Int32Array).subarray(0, n),
        line: (c.line as Int32Array).subarray(0, n),
      },
      addrs: this.addrs,
      tasks: this.tasks,
      callSites: this.sites,
      format: this.format,
      hasPtr: this.hasPtr,
      preamble: { tracer: undefined, entriesInBuffer: undefined, entriesWritten: undefined, nrCpus: undefined },
      lost: this.lost,
      otherEvents: this.other,
      lines: this.lines,
      counts: this.counts.slice(),
      backwards: { ...this.backwards },
    };
  }
}

