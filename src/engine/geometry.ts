// SPDX-License-Identifier: GPL-2.0-only
/**
 * Geometry of an allocator: page size, unit size, number of units, and the
 * first chunk's static / reserved / dynamic regions — plus the kernel's
 * `pcpu_build_alloc_info` (spec §5.1) as far as the spec describes it.
 *
 * Invariants checked here (the kernel BUG()s on them in
 * `pcpu_setup_first_chunk`): page size a power of two >= 4096; unit size a
 * multiple of the page size and >= 32 KiB; static + reserved + dynamic fits the
 * unit; reserved size a multiple of 4. Every field is an integer in range (a
 * string, NaN or 2^40 units is refused, naming the field), atom size a power
 * of two, alloc size a whole number of units.
 */
import { GeometryError } from '../errors.js';
import { MIN_UNIT_SIZE, MIN_ALLOC_SIZE, DYNAMIC_RESERVE } from './constants.js';
import { alignUp, isPowerOfTwo } from './bitmap.js';
import { asBytes, bytesToBits } from './units.js';
import { type AllocInfo, type AllocInfoInput, type Geometry, type GeometryInput } from './api.js';
// Declared in api.ts (the engine's one place for types, flags and layouts); re-exported for existing imports.
export type { GeometryInput, Geometry, AllocInfoInput, AllocGroupInfo, AllocInfo } from './api.js';

/** Most units (possible CPUs) a chunk may have: far above any NR_CPUS, far below what overflows the sizes. */
export const MAX_UNITS = 1 << 16;

/** A geometry field as a checked integer, or a `GeometryError` that says what it got (a string is named as one). */
function integerField(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number') {
    throw new GeometryError(`${name} must be a number, got ${typeof v === 'string' ? `the string "${v.slice(0, 40)}"` : typeof v}`);
  }
  if (!Number.isInteger(v)) throw new GeometryError(`${name} must be an integer, got ${v}`);
  if (v < min || v > max) throw new GeometryError(`${name} must be in ${min}..${max}, got ${v}`);
  return v;
}

/** Fills in a geometry's defaults and checks it as `pcpu_setup_first_chunk` does; throws `GeometryError` naming the field. `chunkOnly`: no first chunk (chunk-mode golden files). */
export function resolveGeometry(input: GeometryInput, options: { chunkOnly?: boolean } = {}): Geometry {
  // JavaScript callers can omit the field the types require; say which one instead of a TypeError.
  if (typeof input !== 'object' || input === null) {
    throw new GeometryError(`geometry is required: pass { unitSize, nrUnits?, pageSize?, ... } (got ${input === null ? 'null' : typeof input})`);
  }
  const pageSize = integerField('page size', input.pageSize ?? 4096, 4096, 1 << 30);
  if (!isPowerOfTwo(pageSize)) throw new GeometryError(`page size must be a power of two >= 4096, got ${pageSize}`);
  const nrUnits = integerField('number of units', input.nrUnits ?? 1, 1, MAX_UNITS);
  // A lone chunk (chunk mode) may be any whole number of pages; a booted allocator's unit is at least 32 KiB.
  const minUnit = options.chunkOnly ? pageSize : MIN_UNIT_SIZE;
  const unitSize = integerField('unit size', input.unitSize, minUnit, 0x3fffffff * MIN_ALLOC_SIZE);
  if (unitSize % pageSize !== 0) throw new GeometryError(`unit size must be a multiple of the page size (${pageSize}) and >= ${minUnit}, got ${unitSize}`);
  const staticSize = integerField('static size', input.staticSize ?? 0, 0, unitSize);
  const reservedSize = integerField('reserved size', input.reservedSize ?? 0, 0, unitSize);
  if (reservedSize % MIN_ALLOC_SIZE !== 0) throw new GeometryError(`reserved size must be a multiple of 4, got ${reservedSize}`);
  const dynSize = integerField(
    'dynamic size',
    input.dynSize ?? (options.chunkOnly ? unitSize - staticSize - reservedSize : defaultDynSize(staticSize, reservedSize, pageSize)),
    1,
    unitSize,
  );
  if (staticSize + reservedSize + dynSize > unitSize) {
    throw new GeometryError(
      `static (${staticSize}) + reserved (${reservedSize}) + dynamic (${dynSize}) = ${staticSize + reservedSize + dynSize} exceeds the unit size ${unitSize}`,
    );
  }
  const staticAligned = alignUp(staticSize, MIN_ALLOC_SIZE);
  if (dynSize - (staticAligned - staticSize) <= 0) throw new GeometryError('dynamic region vanishes after aligning the static size to 4');
  // percpu_stats prints these; the kernel takes atom_size from the arch (a page or a huge page) and rounds alloc_size to it.
  const atomSize = integerField('atom size', input.atomSize ?? pageSize, pageSize, 1 << 30);
  if (!isPowerOfTwo(atomSize)) throw new GeometryError(`atom size must be a power of two >= the page size, got ${atomSize}`);
  const allocSize = integerField('alloc size', input.allocSize ?? unitSize * nrUnits, unitSize);
  if (allocSize % unitSize !== 0) throw new GeometryError(`alloc size must be a whole number of units (${unitSize} bytes each), got ${allocSize}`);
  return {
    pageSize: asBytes(pageSize),
    unitSize: asBytes(unitSize),
    nrUnits,
    staticSize: asBytes(staticSize),
    reservedSize: asBytes(reservedSize),
    dynSize: asBytes(dynSize),
    atomSize: asBytes(atomSize),
    allocSize: asBytes(allocSize),
    blockBits: bytesToBits(pageSize),
    unitPages: unitSize / pageSize,
  };
}

/** The kernel's rule: the first region grows to a page boundary (`dyn = PFN_ALIGN(s + r + D) - s - r`). */
export function defaultDynSize(staticSize: number, reservedSize: number, pageSize = 4096, reserve = DYNAMIC_RESERVE): number {
  return alignUp(staticSize + reservedSize + reserve, pageSize) - staticSize - reservedSize;
}


// ---------------------------------------------------------------------------
// pcpu_build_alloc_info (spec §5.1)

/**
 * Model of `pcpu_build_alloc_info`: size the first region, pick the number of
 * units per allocation that wastes at most a third of the CPUs without
 * needing more allocations, and lay the groups out back to back. CPU grouping
 * itself (by distance) is the caller's: pass the group sizes.
 */
export function buildAllocInfo(input: AllocInfoInput): AllocInfo {
  const pageSize = input.pageSize ?? 4096;
  const early = input.dynamicEarlySize ?? 12 << 10;
  const sizeSum = alignUp(input.staticSize + input.reservedSize + Math.max(input.dynSize, early), pageSize);
  const dynSize = sizeSum - input.staticSize - input.reservedSize;
  const minUnitSize = Math.max(sizeSum, MIN_UNIT_SIZE);
  const allocSize = Math.ceil(minUnitSize / input.atomSize) * input.atomSize;
  const nrCpus = input.groupSizes.reduce((a, b) => a + b, 0);
  if (nrCpus <= 0 || input.groupSizes.some((g) => !Number.isInteger(g) || g <= 0)) {
    throw new GeometryError('every CPU group needs at least one CPU');
  }
  const validUpa = (upa: number) => allocSize % upa === 0 && (allocSize / upa) % pageSize === 0;
  let maxUpa = Math.floor(allocSize / minUnitSize);
  while (maxUpa > 1 && !validUpa(maxUpa)) maxUpa--;

  let bestUpa = maxUpa;
  let lastAllocs = Number.POSITIVE_INFINITY;
  for (let upa = maxUpa; upa >= 1; upa--) {
    if (!validUpa(upa)) continue;
    let allocs = 0;
    let wasted = 0;
    for (const g of input.groupSizes) {
      const n = Math.ceil(g / upa);
      allocs += n;
      wasted += n * upa - g;
    }
    if (wasted > nrCpus / 3) continue;
    if (allocs > lastAllocs) break;
    lastAllocs = allocs;
    bestUpa = upa;
  }
  const unitSize = allocSize / bestUpa;
  let offset = 0;
  const groups = input.groupSizes.map((g) => {
    const units = Math.ceil(g / bestUpa) * bestUpa;
    const info = { nrCpus: g, nrUnits: units, baseOffset: offset };
    offset += units * unitSize;
    return info;
  });
  return {
    staticSize: input.staticSize,
    reservedSize: input.reservedSize,
    dynSize,
    unitSize,
    atomSize: input.atomSize,
    allocSize,
    unitsPerAlloc: bestUpa,
    groups,
  };
}
