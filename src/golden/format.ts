/**
 * Parser of the golden placement format (`fixtures/golden/FORMAT.md`, from the
 * project's shared data): a `# key: value` header, then one op per line —
 * `a`/`r` allocations with their expected result, `f` frees by id, `c`/`d`
 * chunk events. Ops are stored column-wise in typed arrays: a 400k-op file is
 * a handful of arrays, not 400k objects.
 */
import { ParseError } from '../errors.js';
import type { GeometryInput } from '../engine/geometry.js';

export const enum OpKind {
  Alloc = 0,
  Reserved = 1,
  Free = 2,
  Create = 3,
  Destroy = 4,
}

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

export interface GoldenFile {
  name: string;
  header: GoldenHeader;
  ops: GoldenOps;
  /** Largest object id used (for id-indexed tables). */
  maxId: number;
}

const KIND_OF: Record<string, OpKind> = { a: OpKind.Alloc, r: OpKind.Reserved, f: OpKind.Free, c: OpKind.Create, d: OpKind.Destroy };
const FIELDS_OF = [6, 6, 2, 2, 2];

function parseInt32(tok: string | undefined, name: string, lineNo: number): number {
  if (tok === undefined || !/^-?\d+$/.test(tok)) throw new ParseError(name, lineNo, `expected an integer, got ${tok === undefined ? 'nothing' : `"${tok}"`}`);
  const v = Number(tok);
  if (v > 0x7fffffff || v < -0x80000000) throw new ParseError(name, lineNo, `integer out of range: ${tok}`);
  return v;
}

function parseGeometry(value: string, name: string, lineNo: number): GoldenHeader['geometry'] {
  const kv: Record<string, number> = {};
  for (const part of value.trim().split(/\s+/)) {
    const m = /^([a-z_]+)=(\d+)$/.exec(part);
    if (!m) throw new ParseError(name, lineNo, `bad geometry field "${part}"`);
    kv[m[1]!] = Number(m[2]);
  }
  if (kv.unit_size === undefined) throw new ParseError(name, lineNo, 'geometry has no unit_size');
  const g: GoldenHeader['geometry'] = { pageSize: kv.page_size ?? 4096, unitSize: kv.unit_size, nrUnits: kv.nr_units ?? 1 };
  if (kv.static_size !== undefined) g.staticSize = kv.static_size;
  g.reservedSize = kv.reserved_size ?? 0;
  if (kv.dyn_size !== undefined) g.dynSize = kv.dyn_size;
  return g;
}

export function parseGolden(text: string, name = '<golden>'): GoldenFile {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines[0]?.trim() !== '# percpu-golden 1') {
    throw new ParseError(name, 1, `not a golden file: first line must be "# percpu-golden 1", got "${(lines[0] ?? '').slice(0, 60)}"`);
  }
  const fields: Record<string, { value: string; line: number }> = {};
  const extra: string[] = [];
  let n = lines.length;
  const kind = new Uint8Array(n);
  const id = new Int32Array(n);
  const size = new Int32Array(n);
  const align = new Int32Array(n);
  const chunk = new Int32Array(n);
  const offset = new Int32Array(n);
  const lineNo = new Int32Array(n);
  let count = 0;
  let maxId = -1;
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i]!;
    const ln = i + 1;
    if (raw.startsWith('#')) {
      const m = /^#\s*([A-Za-z_-]+):\s?(.*)$/.exec(raw);
      if (m && ['source', 'kernel', 'mode', 'geometry', 'balance', 'workload'].includes(m[1]!) && !(m[1]! in fields)) {
        fields[m[1]!] = { value: m[2]!.trim(), line: ln };
      } else {
        extra.push(raw);
      }
      continue;
    }
    if (raw.trim() === '') continue;
    const tok = raw.trim().split(' ');
    const k = KIND_OF[tok[0]!];
    if (k === undefined) throw new ParseError(name, ln, `unknown op "${tok[0]}" (expected a, r, f, c or d)`);
    if (tok.length !== FIELDS_OF[k]) throw new ParseError(name, ln, `op "${tok[0]}" takes ${FIELDS_OF[k]! - 1} fields, got ${tok.length - 1}`);
    kind[count] = k;
    const v = parseInt32(tok[1], name, ln);
    id[count] = v;
    if (k === OpKind.Alloc || k === OpKind.Reserved) {
      if (v < 0) throw new ParseError(name, ln, `negative id ${v}`);
      if (v > maxId) maxId = v;
      size[count] = parseInt32(tok[2], name, ln);
      align[count] = parseInt32(tok[3], name, ln);
      chunk[count] = parseInt32(tok[4], name, ln);
      offset[count] = parseInt32(tok[5], name, ln);
    } else if (k === OpKind.Free && v < 0) {
      throw new ParseError(name, ln, `negative id ${v}`);
    }
    lineNo[count] = ln;
    count++;
  }
  for (const key of ['kernel', 'mode', 'geometry'] as const) {
    if (!(key in fields)) throw new ParseError(name, 1, `header has no "${key}:" line`);
  }
  const mode = fields.mode!.value;
  if (mode !== 'allocator' && mode !== 'chunk') throw new ParseError(name, fields.mode!.line, `unknown mode "${mode}"`);
  const balance = fields.balance?.value ?? 'sync';
  if (balance !== 'sync' && balance !== 'none') throw new ParseError(name, fields.balance!.line, `unknown balance "${balance}"`);
  n = count;
  return {
    name,
    header: {
      source: fields.source?.value ?? '',
      kernel: fields.kernel!.value,
      mode,
      geometry: parseGeometry(fields.geometry!.value, name, fields.geometry!.line),
      balance,
      workload: fields.workload?.value ?? '',
      extra,
    },
    ops: {
      length: n,
      kind: kind.subarray(0, n),
      id: id.subarray(0, n),
      size: size.subarray(0, n),
      align: align.subarray(0, n),
      chunk: chunk.subarray(0, n),
      offset: offset.subarray(0, n),
      line: lineNo.subarray(0, n),
    },
    maxId,
  };
}
