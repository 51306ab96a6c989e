// SPDX-License-Identifier: GPL-2.0-only
/**
 * Slot lists: the kernel's `pcpu_slot[]` array of doubly linked chunk lists,
 * kept in typed arrays indexed by chunk id (next/prev) and by slot (head/tail),
 * shared by every allocator profile.
 *
 * Invariant: an id is on at most one list; `next`/`prev` of an id that is on no
 * list are -1. Callers record which slot a chunk is on (the kernel's chunk does
 * not know either; here it saves a walk).
 */
export class SlotLists {
  constructor(
    readonly head: Int32Array,
    readonly tail: Int32Array,
    /** Replaced when the id tables grow; always read through the object. */
    public next: Int32Array,
    public prev: Int32Array,
  ) {}

  /** Unlink `id` from `slot`'s list. */
  remove(id: number, slot: number): void {
    const p = this.prev[id]!;
    const n = this.next[id]!;
    if (p === -1) this.head[slot] = n;
    else this.next[p] = n;
    if (n === -1) this.tail[slot] = p;
    else this.prev[n] = p;
    this.prev[id] = -1;
    this.next[id] = -1;
  }

  /** Link `id` at the head (`list_move`) or the tail (`list_move_tail`) of `slot`. */
  insert(id: number, slot: number, front: boolean): void {
    if (front) {
      const head = this.head[slot]!;
      this.next[id] = head;
      this.prev[id] = -1;
      if (head === -1) this.tail[slot] = id;
      else this.prev[head] = id;
      this.head[slot] = id;
    } else {
      const tail = this.tail[slot]!;
      this.prev[id] = tail;
      this.next[id] = -1;
      if (tail === -1) this.head[slot] = id;
      else this.next[tail] = id;
      this.tail[slot] = id;
    }
  }

  /** Ids on `slot`'s list, head to tail. */
  *ids(slot: number): Generator<number> {
    for (let id = this.head[slot]!; id !== -1; id = this.next[id]!) yield id;
  }
}
