// SPDX-License-Identifier: GPL-2.0-only
/**
 * Streaming parser of tracefs text (`/sys/kernel/tracing/trace`) for the five
 * `percpu` tracepoints (spec §7):
 *
 *   percpu_alloc_percpu       [call_site=…] reserved= is_atomic= size= align= base_addr= off= [ptr=] [bytes_alloc= gfp_flags=]
 *   percpu_free_percpu        base_addr= off= [ptr=]
 *   percpu_alloc_percpu_fail  reserved= is_atomic= size= align=
 *   percpu_create_chunk       base_addr=
 *   percpu_destroy_chunk      base_addr=
 *
 * Both field layouts of the alloc event are accepted: 4.13–5.18 (no call_site /
 * bytes_alloc / gfp_flags) and 5.19 and later, which 6.18 and 7.0 print. `ptr=`
 * may be absent. The alloc-fail event kept the old layout when the alloc event
 * gained call_site= (a 6.18 trace has both), so it never decides nor contradicts
 * the trace's format; a call_site= on it is taken if present.
 *
 * What this module owns: turning text into a column store. Events go into
 * typed arrays indexed by their sequence number — the 0-based position of the
 * event among the percpu events of the trace, the id the per-chunk golden
 * files use. `base_addr` hashes, task names and call sites are interned to
 * small integers in first-appearance order, so a 1.3 M-event trace costs a few
 * tens of megabytes, not a million objects.
 *
 * Invariants: every non-blank line is accounted for — a comment, the ftrace
 * preamble, a lost-event marker (recorded in `lost`, never dropped), a percpu
 * event (stored), or another event (counted by name in `otherEvents`);
 * anything else throws `ParseError` naming the 1-based line. Lines are
 * processed in input order, so the sequence numbers are the trace's order.
 */
import { excerpt, ParseError, PercpuError } from '../errors.js';
import { readLines } from './input.js';

/** The five percpu tracepoints, as the `kind` column of `TraceEvents`. */
export const TraceEventKind = {
  Alloc: 0,
  Free: 1,
  AllocFail: 2,
  CreateChunk: 3,
  DestroyChunk: 4,
} as const;
export type TraceEventKind = (typeof TraceEventKind)[keyof typeof TraceEventKind];

/** The tracepoints' names, indexed by `TraceEventKind`. */
export const TRACE_EVENT_NAMES: readonly string[] = [
  'percpu_alloc_percpu',
  'percpu_free_percpu',
  'percpu_alloc_percpu_fail',
  'percpu_create_chunk',
  'percpu_destroy_chunk',
];

/** `flags` bit of an alloc / alloc-fail event: the tracepoint's `reserved=1`. */
export const TRACE_FLAG_RESERVED = 1;
/** `flags` bit of an alloc / alloc-fail event: the tracepoint's `is_atomic=1`. */
export const TRACE_FLAG_ATOMIC = 2;

/**
 * Which field layout the alloc events use. `legacy` is 4.13–5.18 (no
 * call_site); `full` is 5.19+ (call_site, bytes_alloc, gfp_flags). `unknown`
 * when the trace has no alloc event (alloc-fail events print the same fields
 * in every version, so they tell nothing).
 */
export type TraceFormat = 'legacy' | 'full' | 'unknown';

/** A `CPU:N [LOST M EVENTS]` marker, or a `##### CPU N buffer started ####` annotation (count unknown). */
export interface LostEvents {
  line: number;
  cpu: number;
  /** Events lost; -1 when the trace only says that the CPU's buffer was overwritten. */
  count: number;
  /** Sequence number of the first percpu event after the marker. */
  beforeSeq: number;
}

/** The `# entries-in-buffer/entries-written: A/B   #P:N` preamble line, when present. */
export interface TracePreamble {
  tracer: string | undefined;
  entriesInBuffer: number | undefined;
  entriesWritten: number | undefined;
  nrCpus: number | undefined;
}

/** Columns of the percpu events; index = sequence number. Fields an event kind lacks hold -1 (0 for flags). */
export interface TraceEvents {
  readonly length: number;
  readonly kind: Uint8Array;
  readonly cpu: Uint16Array;
  readonly pid: Int32Array;
  /** Interned task name (`tasks[i]`). */
  readonly task: Int32Array;
  /** Timestamp in seconds as printed (microsecond resolution with the default clocks). */
  readonly time: Float64Array;
  /** Interned base_addr (`addrs[i]`); -1 for alloc-fail. */
  readonly addr: Int32Array;
  /** Byte offset in the chunk (alloc, free). */
  readonly off: Int32Array;
  /** Bytes (alloc, alloc-fail). */
  readonly size: Int32Array;
  readonly align: Int32Array;
  /** TRACE_FLAG_RESERVED | TRACE_FLAG_ATOMIC. */
  readonly flags: Uint8Array;
  /** Interned call_site (`callSites[i]`); -1 when the format has none. */
  readonly callSite: Int32Array;
  /** 1-based line in the text. */
  readonly line: Int32Array;
}

/** A parsed trace: the events column by column, the interned strings, the preamble and what was lost. */
export interface ParsedTrace {
  name: string;
  events: TraceEvents;
  /** base_addr text by interned id, in first-appearance order. */
  addrs: string[];
  /** Task names (`comm`) by interned id. */
  tasks: string[];
  callSites: string[];
  format: TraceFormat;
  /** Whether any free/alloc event carried `ptr=`. */
  hasPtr: boolean;
  preamble: TracePreamble;
  lost: LostEvents[];
  /** Lines of other events, by event name. */
  otherEvents: Map<string, number>;
  /** Total lines read (the number of the last line). */
  lines: number;
  /** Counts per kind, indexed by TraceEventKind. */
  counts: number[];
  /** Events whose timestamp is earlier than the event before (tracefs prints them in time order). */
  backwards: { count: number; firstLine: number };
}

const INITIAL_CAPACITY = 1 << 14;

// Header of every event line: `TASK-PID [CPU] FLAGS TIMESTAMP: EVENT: `, where the
// TGID column `(PID)` and the irq-info flags column may be absent (trace options).
const EVENT_HEAD = /^\s*(.*?)-(\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(\d+)\]\s+(?:(\S{4,6})\s+)?(\d+(?:\.\d+)?):\s+([A-Za-z0-9_]+):\s?/;
const LOST_MARK = /^CPU:(\d+) \[LOST (\d+) EVENTS\]\s*$/;
const CPU_STARTED = /^#+ CPU (\d+) buffer started #+\s*$/;
const ENTRIES = /entries-in-buffer\/entries-written:\s*(\d+)\/(\d+)\s+#P:(\d+)/;
const TRACER = /^#\s*tracer:\s*(\S+)/;

const KIND_BY_NAME: ReadonlyMap<string, TraceEventKind> = new Map(TRACE_EVENT_NAMES.map((n, i) => [n, i as TraceEventKind]));

/**
 * Feed text in pieces with `push`, then call `finish`. Pieces may split lines
 * anywhere; the parser keeps the unfinished tail.
 */
export class TraceParser {
  private readonly name: string;
  private cap = INITIAL_CAPACITY;
  private n = 0;
  private kind = new Uint8Array(INITIAL_CAPACITY);
  private cpu = new Uint16Array(INITIAL_CAPACITY);
  private pid = new Int32Array(INITIAL_CAPACITY);
  private task = new Int32Array(INITIAL_CAPACITY);
  private time = new Float64Array(INITIAL_CAPACITY);
  private addr = new Int32Array(INITIAL_CAPACITY);
  private off = new Int32Array(INITIAL_CAPACITY);
  private size = new Int32Array(INITIAL_CAPACITY);
  private align = new Int32Array(INITIAL_CAPACITY);
  private flags = new Uint8Array(INITIAL_CAPACITY);
  private callSite = new Int32Array(INITIAL_CAPACITY);
  private lineOf = new Int32Array(INITIAL_CAPACITY);

  private readonly addrIds = new Map<string, number>();
  private readonly addrs: string[] = [];
  private readonly taskIds = new Map<string, number>();
  private readonly tasks: string[] = [];
  private readonly siteIds = new Map<string, number>();
  private readonly sites: string[] = [];
  private readonly other = new Map<string, number>();
  private readonly lost: LostEvents[] = [];
  private readonly counts = [0, 0, 0, 0, 0];
  private readonly preamble: TracePreamble = { tracer: undefined, entriesInBuffer: undefined, entriesWritten: undefined, nrCpus: undefined };
  private format: TraceFormat = 'unknown';
  private formatLine = 0;
  private hasPtr = false;
  private lineNo = 0;
  private tail = '';
  private finished = false;
  private lastTime = 0;
  private readonly backwards = { count: 0, firstLine: 0 };

  constructor(name = '<trace>') {
    this.name = name;
  }

  push(text: string): void {
    if (this.finished) throw new PercpuError('EPARSE', `${this.name}: text pushed after finish()`);
    let start = 0;
    let nl = text.indexOf('\n');
    if (nl < 0) {
      this.tail += text;
      return;
    }
    if (this.tail !== '') {
      this.line(this.tail + text.slice(0, nl));
      this.tail = '';
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    while (nl >= 0) {
      this.line(text.slice(start, nl));
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    this.tail = text.slice(start);
  }

  finish(): ParsedTrace {
    if (!this.finished) {
      if (this.tail !== '') this.line(this.tail);
      this.tail = '';
      this.finished = true;
    }
    const n = this.n;
    return {
      name: this.name,
      events: {
        length: n,
        kind: this.kind.subarray(0, n),
        cpu: this.cpu.subarray(0, n),
        pid: this.pid.subarray(0, n),
        task: this.task.subarray(0, n),
        time: this.time.subarray(0, n),
        addr: this.addr.subarray(0, n),
        off: this.off.subarray(0, n),
        size: this.size.subarray(0, n),
        align: this.align.subarray(0, n),
        flags: this.flags.subarray(0, n),
        callSite: this.callSite.subarray(0, n),
        line: this.lineOf.subarray(0, n),
      },
      addrs: this.addrs,
      tasks: this.tasks,
      callSites: this.sites,
      format: this.format,
      hasPtr: this.hasPtr,
      preamble: this.preamble,
      lost: this.lost,
      otherEvents: this.other,
      lines: this.lineNo,
      counts: this.counts.slice(),
      backwards: { ...this.backwards },
    };
  }

  private fail(message: string): never {
    throw new ParseError(this.name, this.lineNo, message);
  }

  /** One whole line (without its `\n`), for readers that split lines themselves. */
  pushLine(raw: string): void {
    if (this.finished) throw new PercpuError('EPARSE', `${this.name}: text pushed after finish()`);
    this.line(raw);
  }

  private line(raw: string): void {
    this.lineNo++;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const c0 = text.charCodeAt(0);
    if (c0 === 0x23 /* # */) return this.comment(text);
    if (text.trim() === '') return;
    if (c0 === 0x43 /* C */ && text.startsWith('CPU:')) {
      const m = LOST_MARK.exec(text);
      if (!m) this.fail(`malformed lost-event marker "${excerpt(text)}"`);
      this.lost.push({ line: this.lineNo, cpu: Number(m[1]), count: Number(m[2]), beforeSeq: this.n });
      return;
    }
    const m = EVENT_HEAD.exec(text);
    if (!m) this.fail(`not a trace event line: "${excerpt(text)}"`);
    const eventName = m[6]!;
    const kind = KIND_BY_NAME.get(eventName);
    if (kind === undefined) {
      this.other.set(eventName, (this.other.get(eventName) ?? 0) + 1);
      return;
    }
    this.event(kind, m, text, m[0].length);
  }

  private comment(text: string): void {
    const started = CPU_STARTED.exec(text);
    if (started) {
      // The kernel prints this when a CPU's buffer no longer holds its oldest events.
      this.lost.push({ line: this.lineNo, cpu: Number(started[1]), count: -1, beforeSeq: this.n });
      return;
    }
    const e = ENTRIES.exec(text);
    if (e) {
      this.preamble.entriesInBuffer = Number(e[1]);
      this.preamble.entriesWritten = Number(e[2]);
      this.preamble.nrCpus = Number(e[3]);
      return;
    }
    const t = TRACER.exec(text);
    if (t) this.preamble.tracer = t[1];
  }

  private grow(): void {
    const cap = this.cap * 2;
    const g = <T extends Uint8Array | Uint16Array | Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.kind = g(this.kind, (k) => new Uint8Array(k));
    this.cpu = g(this.cpu, (k) => new Uint16Array(k));
    this.pid = g(this.pid, (k) => new Int32Array(k));
    this.task = g(this.task, (k) => new Int32Array(k));
    this.time = g(this.time, (k) => new Float64Array(k));
    this.addr = g(this.addr, (k) => new Int32Array(k));
    this.off = g(this.off, (k) => new Int32Array(k));
    this.size = g(this.size, (k) => new Int32Array(k));
    this.align = g(this.align, (k) => new Int32Array(k));
    this.flags = g(this.flags, (k) => new Uint8Array(k));
    this.callSite = g(this.callSite, (k) => new Int32Array(k));
    this.lineOf = g(this.lineOf, (k) => new Int32Array(k));
    this.cap = cap;
  }

  private event(kind: TraceEventKind, head: RegExpExecArray, text: string, bodyAt: number): void {
    if (this.n === this.cap) this.grow();
    const i = this.n;
    // A space in front of the body lets every field be found as " key=".
    const body = ' ' + text.slice(bodyAt);
    this.kind[i] = kind;
    const cpu = Number(head[3]);
    if (cpu > 0xffff) this.fail(`CPU number ${cpu} out of range`);
    this.cpu[i] = cpu;
    this.pid[i] = this.int(head[2]!, 'pid');
    this.task[i] = intern(this.taskIds, this.tasks, head[1]!.trim());
    const time = Number(head[5]);
    this.time[i] = time;
    if (time < this.lastTime && this.backwards.count++ === 0) this.backwards.firstLine = this.lineNo;
    this.lastTime = time;
    this.addr[i] = -1;
    this.off[i] = -1;
    this.size[i] = -1;
    this.align[i] = -1;
    this.flags[i] = 0;
    this.callSite[i] = -1;
    this.lineOf[i] = this.lineNo;
    switch (kind) {
      case TraceEventKind.Alloc:
      case TraceEventKind.AllocFail:
        this.allocFields(i, body, kind === TraceEventKind.Alloc);
        break;
      case TraceEventKind.Free:
        this.addr[i] = intern(this.addrIds, this.addrs, this.token(body, 'base_addr'));
        this.off[i] = this.field(body, 'off');
        if (body.includes(' ptr=')) this.hasPtr = true;
        break;
      default:
        this.addr[i] = intern(this.addrIds, this.addrs, this.token(body, 'base_addr'));
    }
    this.counts[kind]!++;
    this.n = i + 1;
  }

  private allocFields(i: number, body: string, placed: boolean): void {
    const site = body.indexOf(' call_site=');
    if (placed) this.checkAllocFormat(site >= 0 ? 'full' : 'legacy');
    if (site >= 0) this.callSite[i] = intern(this.siteIds, this.sites, this.callSiteText(body, site + 11));
    const reserved = this.field(body, 'reserved');
    const atomic = this.field(body, 'is_atomic');
    if (reserved > 1 || atomic > 1) this.fail(`reserved= and is_atomic= must be 0 or 1`);
    this.flags[i] = (reserved ? TRACE_FLAG_RESERVED : 0) | (atomic ? TRACE_FLAG_ATOMIC : 0);
    this.size[i] = this.field(body, 'size');
    this.align[i] = this.field(body, 'align');
    if (placed) {
      this.addr[i] = intern(this.addrIds, this.addrs, this.token(body, 'base_addr'));
      this.off[i] = this.field(body, 'off');
      if (body.includes(' ptr=')) this.hasPtr = true;
    }
  }

  /** Every alloc event of one trace has the layout of the first. */
  private checkAllocFormat(format: TraceFormat): void {
    if (this.format === 'unknown') {
      this.format = format;
      this.formatLine = this.lineNo;
    } else if (this.format !== format) {
      this.fail(`alloc event ${format === 'full' ? 'has' : 'lacks'} call_site=, unlike the one on line ${this.formatLine}: one trace cannot mix tracepoint formats`);
    }
  }

  /** `%pS` may print `sym+0x1/0x2 [module]`: the value runs up to the next ` key=`. */
  private callSiteText(body: string, from: number): string {
    const next = body.indexOf('=', from);
    if (next < 0) return body.slice(from).trim();
    const end = body.lastIndexOf(' ', next);
    return body.slice(from, end > from ? end : from).trim();
  }

  private token(body: string, key: string): string {
    const at = body.indexOf(' ' + key + '=');
    if (at < 0) this.fail(`missing field ${key}=`);
    const from = at + key.length + 2;
    let end = body.indexOf(' ', from);
    if (end < 0) end = body.length;
    if (end === from) this.fail(`empty field ${key}=`);
    return body.slice(from, end);
  }

  /** A non-negative decimal field, parsed in place. */
  private field(body: string, key: string): number {
    const at = body.indexOf(' ' + key + '=');
    if (at < 0) this.fail(`missing field ${key}=`);
    let p = at + key.length + 2;
    let v = 0;
    let digits = 0;
    for (; p < body.length; p++) {
      const c = body.charCodeAt(p) - 48;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
      digits++;
    }
    if (digits === 0 || (p < body.length && body.charCodeAt(p) !== 0x20)) {
      this.fail(`field ${key}= is not a non-negative integer: "${body.slice(at + 1, Math.min(body.length, at + key.length + 24))}"`);
    }
    if (v > 0x7fffffff) this.fail(`field ${key}=${v} is out of range`);
    return v;
  }

  private int(text: string, what: string): number {
    const v = Number(text);
    if (!Number.isInteger(v) || v > 0x7fffffff) this.fail(`${what} ${text} is out of range`);
    return v;
  }
}

/** The id of `key` in an interning table (added at the end when new). */
export function intern(ids: Map<string, number>, table: string[], key: string): number {
  let id = ids.get(key);
  if (id === undefined) {
    id = table.length;
    ids.set(key, id);
    table.push(key);
  }
  return id;
}

/** Parse a whole trace held in memory. */
export function parseTraceText(text: string, name = '<trace>'): ParsedTrace {
  const p = new TraceParser(name);
  p.push(text);
  return p.finish();
}

/** Parse a trace file (plain, gzip or xz; `-` = stdin) without holding its text. */
export async function parseTraceFile(path: string, name = path === '-' ? '<stdin>' : path): Promise<ParsedTrace> {
  const parser = new TraceParser(name);
  await readLines(path, (line) => parser.pushLine(line));
  return parser.finish();
}

/**
 * What makes a trace unfit to vouch for anything, as sentences: no percpu
 * event at all, or timestamps that run backwards (files concatenated or
 * reordered). Commands print these as warnings and exit 1.
 */
export function traceDefects(t: ParsedTrace): string[] {
  const out: string[] = [];
  if (t.events.length === 0) out.push(`${t.name}: no percpu event in ${t.lines} lines: nothing was checked (were the percpu tracepoints enabled?)`);
  if (t.backwards.count > 0) {
    out.push(`${t.name}:${t.backwards.firstLine}: timestamps run backwards here (${t.backwards.count} event${t.backwards.count === 1 ? '' : 's'} in all): tracefs prints in time order, so the file was reordered or concatenated`);
  }
  return out;
}

/** One line summary of what a parse found (for command output). */
export function describeTrace(t: ParsedTrace): string[] {
  const c = t.counts;
  const out = [
    `${t.name}: ${t.events.length} percpu events in ${t.lines} lines (${c[TraceEventKind.Alloc]} allocs, ${c[TraceEventKind.Free]} frees, ` +
      `${c[TraceEventKind.AllocFail]} failed allocs, ${c[TraceEventKind.CreateChunk]} chunk creations, ${c[TraceEventKind.DestroyChunk]} chunk destructions); ` +
      `format ${t.format === 'full' ? '5.19+ (call_site, bytes_alloc, gfp_flags)' : t.format === 'legacy' ? '4.13-5.18' : 'unknown (no alloc event)'}${t.hasPtr ? ', with ptr=' : ''}`,
  ];
  if (t.otherEvents.size > 0) {
    const parts = [...t.otherEvents].map(([k, v]) => `${k} ×${v}`);
    out.push(`  skipped lines of other events: ${parts.join(', ')}`);
  }
  for (const w of lostEventWarnings(t)) out.push(`  WARNING: ${w}`);
  return out;
}

/** Every sign in the trace that events are missing, as sentences. */
export function lostEventWarnings(t: ParsedTrace): string[] {
  const out: string[] = [];
  for (const l of t.lost) {
    out.push(
      l.count >= 0
        ? `line ${l.line}: CPU ${l.cpu} lost ${l.count} events (ring buffer overrun) before event seq ${l.beforeSeq}; histories around it may be incomplete`
        : `line ${l.line}: CPU ${l.cpu}'s buffer had been overwritten (events before this point are missing)`,
    );
  }
  const p = t.preamble;
  if (p.entriesInBuffer !== undefined && p.entriesWritten !== undefined && p.entriesWritten > p.entriesInBuffer) {
    out.push(`preamble: ${p.entriesWritten - p.entriesInBuffer} of ${p.entriesWritten} written entries are no longer in the buffer (overwritten)`);
  }
  return out;
}
