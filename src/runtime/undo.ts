// SPDX-License-Identifier: GPL-2.0-only
/**
 * The allocator's undo image: a copy, in shared memory, of every buffer an
 * allocator operation can change, taken under the allocator lock before the
 * operation mutates anything. If the lock's holder dies mid-operation the next
 * holder copies the image back — the interrupted operation is rolled back
 * whole, as if it had never started (only the dead thread's own request is
 * lost) — and the allocator's checker is clean again.
 *
 * Why a whole image and not a log of the engine's writes: the engine (owned
 * elsewhere, src/engine) writes its typed arrays directly and gives no hook
 * per write; what it shares between calls is exactly its state buffers, so a
 * copy of them is a complete and engine-independent record. The cost is one
 * copy per lock hold — about 20 KiB per live chunk at the default unit size —
 * which the bulk calls (`allocMany`, `freeManyValidated`) pay once per batch.
 *
 * Layout of the undo buffer (growable): Int32 word 0 the number of parts, then
 * each part's byte length, then the parts' bytes from byte `HEADER`, each
 * 8-byte aligned. Buffers only grow, so a part restored over the first
 * `length` bytes of its (maybe longer) buffer restores the state: bytes past
 * that length lie beyond every bound the restored state itself records.
 */

const HEADER = 256;
const MAX_PARTS = (HEADER >> 2) - 1;

export class UndoImage {
  constructor(
    private readonly undo: SharedArrayBuffer,
    private readonly parts: () => SharedArrayBuffer[],
  ) {}

  static maxBytes(parts: SharedArrayBuffer[]): number {
    let n = HEADER;
    for (const p of parts) n += (p.growable ? p.maxByteLength : p.byteLength) + 8;
    return n;
  }

  /** Copy every part into the image. */
  save(): void {
    const parts = this.parts();
    if (parts.length > MAX_PARTS) throw new RangeError('undo image: too many parts');
    let need = HEADER;
    for (const p of parts) need += (p.byteLength + 7) & ~7;
    if (this.undo.byteLength < need) this.undo.grow(Math.min(this.undo.maxByteLength, Math.max(need, 2 * this.undo.byteLength)));
    const head = new Int32Array(this.undo, 0, HEADER >> 2);
    const bytes = new Uint8Array(this.undo);
    head[0] = parts.length;
    let at = HEADER;
    parts.forEach((p, k) => {
      const len = p.byteLength;
      head[1 + k] = len;
      bytes.set(new Uint8Array(p, 0, len), at);
      at += (len + 7) & ~7;
    });
  }

  /** Copy the image back over its parts. */
  restore(): void {
    const parts = this.parts();
    const head = new Int32Array(this.undo, 0, HEADER >> 2);
    if (head[0] !== parts.length) throw new Error('undo image does not match the allocator state');
    let at = HEADER;
    parts.forEach((p, k) => {
      const len = head[1 + k]!;
      new Uint8Array(p, 0, len).set(new Uint8Array(this.undo, at, len));
      at += (len + 7) & ~7;
    });
  }
}
