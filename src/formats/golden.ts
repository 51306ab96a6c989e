// SPDX-License-Identifier: GPL-2.0-only
/**
 * Parser of the golden placement format (`fixtures/golden/FORMAT.md`, from the
 * project's shared data): a `# key: value` header, then one op per line —
 * `a`/`r` allocations with their expected result, `f` frees by id, `c`/`d`
 * chunk events.
 *
 * What this module owns: turning lines into a header and a stream of ops, and
 * rejecting — with the 1-based line — anything the format does not allow: an
 * unknown op, a field that is not an integer, size 0, a negative align, an
 * `a`/`r` id used twice, a free of an id that no earlier line allocated (or
 * already freed), a header line after the first op, an oversized header line,
 * a geometry the kernel would refuse. Tokens are read by character code, with
 * no regular expression or split per op line (the 691 public goldens hold
 * 5.5 million ops).
 *
 * `GoldenParser` takes one line at a time and hands ops to a `GoldenSink`, so
 * a replay can run while the file streams in (`src/formats/files.ts`; this module
 * stays free of Node APIs, for the browser);
 * `parseGolden` collects them column-wise in typed arrays: a 400k-op file is a
 * handful of arrays, not 400k objects.
 */
import { EmptyInputError, excerpt, ParseError, PercpuError } from '../errors.js';
import { resolveGeometry, type GeometryInput } from '../engine/geometry.js';

/** The op letters of a golden file: `a` alloc, `r` reserved alloc, `f` free, `c` chunk created, `d` chunk destroyed (`GoldenOps.kind`). */
export const OpKind = {
  Alloc: 0,
  Reserved: 1,
  Free: 2,
  Create: 3,
  Destroy: 4,
} as const;
export type OpKind = (typeof OpKind)[keyof typeof OpKind];

/** A golden file's header: where it came from, the kernel, the geometry and mode it was recorded with. */
export interface GoldenHeader {
  source: string;
  /** The kernel named by the file, as written (`4.14`, `7.0`, `6.18`, …). */
  kernel: string;
  mode: 'allocator' | 'chunk';
  geometry: GeometryInput & { pageSize: number; unitSize: number; nrUnits: number };
  balance: 'sync' | 'none';
  workload: string;
  /** Header lines this reader does not interpret (`note:` and unknown keys), kept verbatim. */
  extra: string[];
}

/** A golden file's ops, column by column (index i across the arrays is op i). */
export interface GoldenOps {
  readonly length: number;
  readonly kind: Uint8Array;
  /** `a`/`r`/`f`: object id; `c`/`d`: chunk index. */
  readonly id: Int32Array;
  readonly size: Int32Array;
  readonly align: Int32Array;
  /** Expected chunk of an `a`/`r` (-1 = refused). */
  readonly chunk: Int32Array;
  /** Expected unit offset of an `a`/`r` (-1 = refused). */
  readonly offset: Int32Array;
  /** 1-based line number in the file. */
  readonly line: Int32Array;
}

/** A parsed golden file (`parseGolden`). */
export interface GoldenFile {
  name: string;
  header: GoldenHeader;
  ops: GoldenOps;
  /** Largest object id used (for id-indexed tables). */
  maxId: number;
}

/** Where parsed ops go. `header` is called once, before the first op (or at the end of an op-less file). */
export interface GoldenSink {
  header(h: GoldenHeader): void;
  /** `size`/`align`/`chunk`/`offset` are 0 for ops that have none. */
  op(kind: OpKind, id: number, size: number, align: number, chunk: number, offset: number, line: number): void;
}

/** Longest header or comment line accepted. */
export const MAX_HEADER_LINE = 4096;

const MAGIC = '# percpu-golden 1';
const HEADER_KEYS = ['source', 'kernel', 'mode', 'geometry', 'balance', 'workload'] as const;
type HeaderKey = (typeof HEADER_KEYS)[number];
const GEOMETRY_KEYS: Readonly<Record<string, keyof GoldenHeader['geometry']>> = {
  page_size: 'pageSize',
  unit_size: 'unitSize',
  nr_units: 'nrUnits',
  static_size: 'staticSize',
  reserved_size: 'reservedSize',
  dyn_size: 'dynSize',
};
const HEADER_LINE = /^#\s*([A-Za-z_-]+):\s?(.*)$/;

// Id states, for the duplicate and dangling-free checks.
const ID_UNSEEN = 0;
const ID_LIVE = 1;
const ID_FREED = 2;

const C_SPACE = 0x20;
const C_TAB = 0x09;
const C_MINUS = 0x2d;
const C_0 = 0x30;

/**
 * A golden file parsed line by line as it streams in: the header first (checked field by
 * field), then each op handed to a `GoldenSink`, with ids checked for duplicates and
 * dangling frees. Bad lines throw a `ParseError` naming the file and line.
 */
export class GoldenParser {
  private readonly fields = new Map<HeaderKey, { value: string; line: number }>();
  private readonly extra: string[] = [];
  private headerDone = false;
  private sawMagic = false;
  private idState = new Uint8Array(1 << 12);
  /** Scan position inside the current line (a field, not a closure: no garbage per op). */
  private pos = 0;
  private lineNo = 0;
  private text = '';

  constructor(
    readonly name: string,
    private readonly sink: GoldenSink,
  ) {}

  line(raw: string, lineNo: number): void {
    this.lineNo = lineNo;
    if (!this.sawMagic) {
      if (raw.trim() !== MAGIC) this.fail(`not a golden file: the first line must be "${MAGIC}", got "${excerpt(raw, 60)}"`);
      this.sawMagic = true;
      return;
    }
    const c0 = raw.charCodeAt(0);
    if (c0 === 0x23 /* # */) return this.comment(raw);
    this.text = raw;
    this.pos = 0;
    this.skipSpace();
    if (this.pos >= raw.length) return;
    if (!this.headerDone) this.completeHeader();
    this.opLine();
  }

  /** End of input: the header is checked even when no op followed it. */
  finish(): void {
    if (!this.sawMagic) throw new EmptyInputError(this.name, 'empty input: no golden header, no op, nothing to check');
    if (!this.headerDone) this.completeHeader();
  }

  private fail(message: string, line = this.lineNo): never {
    throw new ParseError(this.name, line, message);
  }

  private comment(raw: string): void {
    if (raw.length > MAX_HEADER_LINE) this.fail(`header line of ${raw.length} characters (at most ${MAX_HEADER_LINE}): "${excerpt(raw)}"`);
    const m = HEADER_LINE.exec(raw);
    const key = m?.[1] as HeaderKey | undefined;
    if (key !== undefined && (HEADER_KEYS as readonly string[]).includes(key)) {
      if (this.headerDone) this.fail(`header line "${key}:" after the first op: the header comes first`);
      const prev = this.fields.get(key);
      if (prev) this.fail(`second "${key}:" header line (the first is on line ${prev.line})`);
      this.fields.set(key, { value: m![2]!.trim(), line: this.lineNo });
    } else this.extra.push(raw);
  }

  private completeHeader(): void {
    this.headerDone = true;
    for (const key of ['kernel', 'mode', 'geometry'] as const) {
      if (!this.fields.has(key)) this.fail(`header has no "${key}:" line`, this.fields.size === 0 ? 1 : this.lineNo);
    }
    const f = (k: HeaderKey) => this.fields.get(k);
    const mode = f('mode')!.value;
    if (mode !== 'allocator' && mode !== 'chunk') this.fail(`unknown mode "${excerpt(mode, 40)}" (allocator or chunk)`, f('mode')!.line);
    const balance = f('balance')?.value ?? 'sync';
    if (balance !== 'sync' && balance !== 'none') this.fail(`unknown balance "${excerpt(balance, 40)}" (sync or none)`, f('balance')!.line);
    const kernel = f('kernel')!.value;
    if (kernel === '') this.fail('empty "kernel:" header line', f('kernel')!.line);
    this.sink.header({
      source: f('source')?.value ?? '',
      kernel,
      mode,
      geometry: this.geometry(f('geometry')!.value, f('geometry')!.line, mode === 'chunk'),
      balance,
      workload: f('workload')?.value ?? '',
      extra: this.extra,
    });
  }

  private geometry(value: string, line: number, chunkOnly: boolean): GoldenHeader['geometry'] {
    const g: Partial<Record<keyof GoldenHeader['geometry'], number>> = {};
    for (const part of value.split(/\s+/)) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const key = eq > 0 ? GEOMETRY_KEYS[part.slice(0, eq)] : undefined;
      if (key === undefined) this.fail(`bad geometry field "${excerpt(part, 40)}" (known: ${Object.keys(GEOMETRY_KEYS).join(', ')}, as key=bytes)`, line);
      const digits = part.slice(eq + 1);
      if (!/^\d{1,15}$/.test(digits)) this.fail(`geometry field ${part.slice(0, eq)} takes a non-negative integer, got "${excerpt(digits, 40)}"`, line);
      if (g[key] !== undefined) this.fail(`geometry field ${part.slice(0, eq)} given twice`, line);
      g[key] = Number(digits);
    }
    if (g.unitSize === undefined) this.fail('geometry has no unit_size', line);
    const out: GoldenHeader['geometry'] = { pageSize: g.pageSize ?? 4096, unitSize: g.unitSize, nrUnits: g.nrUnits ?? 1, reservedSize: g.reservedSize ?? 0 };
    if (g.staticSize !== undefined) out.staticSize = g.staticSize;
    if (g.dynSize !== undefined) out.dynSize = g.dynSize;
    try {
      resolveGeometry(out, { chunkOnly });
    } catch (e) {
      if (e instanceof PercpuError) this.fail(`geometry: ${e.message}`, line);
      throw e;
    }
    return out;
  }

  private skipSpace(): void {
    const t = this.text;
    let p = this.pos;
    while (p < t.length) {
      const c = t.charCodeAt(p);
      if (c !== C_SPACE && c !== C_TAB) break;
      p++;
    }
    this.pos = p;
  }

  /** The next whitespace-separated integer of the line, in int32 range. */
  private int(what: string): number {
    this.skipSpace();
    const t = this.text;
    const start = this.pos;
    let p = start;
    let neg = false;
    if (t.charCodeAt(p) === C_MINUS) {
      neg = true;
      p++;
    }
    let v = 0;
    const digitsFrom = p;
    for (; p < t.length; p++) {
      const d = t.charCodeAt(p) - C_0;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    const c = t.charCodeAt(p);
    if (p === digitsFrom || (p < t.length && c !== C_SPACE && c !== C_TAB)) {
      let end = p;
      while (end < t.length && t.charCodeAt(end) !== C_SPACE) end++;
      this.fail(start >= t.length ? `expected ${what}, got nothing` : `expected an integer (${what}), got "${excerpt(t.slice(start, end), 40)}"`);
    }
    if (v > 0x7fffffff + (neg ? 1 : 0)) this.fail(`integer out of range (${what}): ${excerpt(t.slice(start, p), 40)}`);
    this.pos = p;
    return neg ? -v : v;
  }

  private end(op: string, fields: number): void {
    this.skipSpace();
    if (this.pos < this.text.length) this.fail(`op "${op}" takes ${fields} field${fields === 1 ? '' : 's'}; more follow: "${excerpt(this.text)}"`);
  }

  private opLine(): void {
    const t = this.text;
    const c = t.charCodeAt(this.pos);
    const next = t.charCodeAt(this.pos + 1);
    if (this.pos + 1 < t.length && next !== C_SPACE && next !== C_TAB) this.unknownOp();
    this.pos++;
    switch (c) {
      case 0x61 /* a */:
        return this.alloc(OpKind.Alloc, 'a');
      case 0x72 /* r */:
        return this.alloc(OpKind.Reserved, 'r');
      case 0x66 /* f */: {
        const id = this.int('an object id');
        this.end('f', 1);
        if (id < 0) this.fail(`negative id ${id}`);
        const s = id < this.idState.length ? this.idState[id]! : ID_UNSEEN;
        if (s === ID_UNSEEN) this.fail(`f ${id} frees an id that no earlier a or r line allocated`);
        if (s === ID_FREED) this.fail(`f ${id} frees id ${id} a second time`);
        this.idState[id] = ID_FREED;
        return this.sink.op(OpKind.Free, id, 0, 0, 0, 0, this.lineNo);
      }
      case 0x63 /* c */:
      case 0x64 /* d */: {
        const chunk = this.int('a chunk index');
        this.end(c === 0x63 ? 'c' : 'd', 1);
        if (chunk < 0) this.fail(`negative chunk index ${chunk}`);
        return this.sink.op(c === 0x63 ? OpKind.Create : OpKind.Destroy, chunk, 0, 0, 0, 0, this.lineNo);
      }
      default:
        this.unknownOp();
    }
  }

  private unknownOp(): never {
    const t = this.text;
    let end = this.pos;
    while (end < t.length && t.charCodeAt(end) !== C_SPACE) end++;
    this.fail(`unknown op "${excerpt(t.slice(this.pos, end), 40)}" (expected a, r, f, c or d): "${excerpt(t)}"`);
  }

  private alloc(kind: OpKind, op: string): void {
    const id = this.int('an object id');
    const size = this.int('a size');
    const align = this.int('an align');
    const chunk = this.int('the expected chunk');
    const offset = this.int('the expected offset');
    this.end(op, 5);
    if (id < 0) this.fail(`negative id ${id}`);
    if (size <= 0) this.fail(`size ${size}: a request is at least 1 byte`);
    if (align < 0) this.fail(`negative align ${align}`);
    if ((chunk < 0 || offset < 0) && !(chunk === -1 && offset === -1)) this.fail(`expected result "${chunk} ${offset}": either both >= 0 or "-1 -1" (refused)`);
    if (id >= this.idState.length) this.growIds(id);
    if (this.idState[id] !== ID_UNSEEN) this.fail(`id ${id} is used by an earlier a or r line: ids are unique per file`);
    this.idState[id] = ID_LIVE;
    this.sink.op(kind, id, size, align, chunk, offset, this.lineNo);
  }

  private growIds(id: number): void {
    let n = this.idState.length;
    while (n <= id) n *= 2;
    const b = new Uint8Array(n);
    b.set(this.idState);
    this.idState = b;
  }
}

/** A sink that keeps every op, column-wise. */
export class GoldenCollector implements GoldenSink {
  header_: GoldenHeader | undefined;
  n = 0;
  maxId = -1;
  private cap = 1 << 12;
  kind = new Uint8Array(this.cap);
  id = new Int32Array(this.cap);
  size = new Int32Array(this.cap);
  align = new Int32Array(this.cap);
  chunk = new Int32Array(this.cap);
  offset = new Int32Array(this.cap);
  line = new Int32Array(this.cap);

  header(h: GoldenHeader): void {
    this.header_ = h;
  }

  op(kind: OpKind, id: number, size: number, align: number, chunk: number, offset: number, line: number): void {
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    this.kind[i] = kind;
    this.id[i] = id;
    this.size[i] = size;
    this.align[i] = align;
    this.chunk[i] = chunk;
    this.offset[i] = offset;
    this.line[i] = line;
    if ((kind === OpKind.Alloc || kind === OpKind.Reserved) && id > this.maxId) this.maxId = id;
  }

  private grow(): void {
    this.cap *= 2;
    const g = <T extends Uint8Array | Int32Array>(a: T, b: T): T => (b.set(a), b);
    this.kind = g(this.kind, new Uint8Array(this.cap));
    this.id = g(this.id, new Int32Array(this.cap));
    this.size = g(this.size, new Int32Array(this.cap));
    this.align = g(this.align, new Int32Array(this.cap));
    this.chunk = g(this.chunk, new Int32Array(this.cap));
    this.offset = g(this.offset, new Int32Array(this.cap));
    this.line = g(this.line, new Int32Array(this.cap));
  }

  file(name: string): GoldenFile {
    const n = this.n;
    return {
      name,
      header: this.header_!,
      ops: {
        length: n,
        kind: this.kind.subarray(0, n),
        id: this.id.subarray(0, n),
        size: this.size.subarray(0, n),
        align: this.align.subarray(0, n),
        chunk: this.chunk.subarray(0, n),
        offset: this.offset.subarray(0, n),
        line: this.line.subarray(0, n),
      },
      maxId: this.maxId,
    };
  }
}

/** Parse a golden file held in memory (`\n` or `\r\n` line ends). */
export function parseGolden(text: string, name = '<golden>'): GoldenFile {
  const sink = new GoldenCollector();
  const p = new GoldenParser(name, sink);
  let start = 0;
  let lineNo = 0;
  while (start < text.length) {
    let nl = text.indexOf('\n', start);
    if (nl < 0) nl = text.length;
    const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    p.line(text.slice(start, end), ++lineNo);
    start = nl + 1;
  }
  p.finish();
  return sink.file(name);
}
