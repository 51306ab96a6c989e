// SPDX-License-Identifier: GPL-2.0-only
/**
 * The live event source of `percpu top` / `percpu leaks`: the five percpu
 * tracepoints of the running kernel, read from a private tracing instance's
 * `trace_pipe` as they happen.
 *
 * Everything that touches tracefs is `percpu capture`'s code (src/tools/capture/capture.ts):
 * finding or mounting tracefs, the instance, the settings journal and the one
 * cleanup that undoes all of it. This module only opens `trace_pipe`
 * non-blocking (so a read never hangs the screen or a signal) and drains it.
 * A private instance is required — the top-level buffer may be another user's
 * — so a kernel without instances is refused, not taken over.
 *
 * Invariants: `close()` runs the cleanup once, also from the `exit` handler it
 * installs (a crash or `process.exit` elsewhere still restores tracing); the
 * pipe is closed before the instance is removed (an open file keeps it busy).
 */
import { closeSync, constants as fsConstants, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import {
  CaptureError,
  cleanupCapture,
  findPercpuTracefs,
  makeInstance,
  mountDebugfsFor,
  perCpuStat,
  PERCPU_STATS_PATH,
  SettingsJournal,
  type CaptureState,
} from '../capture/capture.js';
import { TRACE_EVENT_NAMES } from '../../formats/trace.js';

export interface LiveSourceOptions {
  tracefs?: readonly string[];
  mount?: boolean;
  /** Per-CPU ring buffer of the instance (default 4096 KiB). */
  bufferKb?: number;
  isRoot?: () => boolean;
  log?: (l: string) => void;
  mountCommand?: (dir: string) => void;
  /** Instance name prefix (default `percpu-top`). */
  prefix?: string;
  /** For tests: how to make the instance (default: capture's `makeInstance`). */
  makeInstance?: (top: string, log: (l: string) => void, prefix: string) => string | undefined;
}

export interface LiveSource {
  /** The instance directory. */
  root: string;
  /** The instance's trace clock; with `mono`, event times are process.hrtime seconds. */
  clock: 'mono' | 'global' | 'local';
  /** percpu_stats of this machine, when readable (debugfs). */
  statsPath: string | undefined;
  /** Drain what the kernel has buffered (at most `maxBytes`), without blocking. */
  read(maxBytes?: number): string;
  /** Events the ring buffer overwrote before they were read (sum of per_cpu/cpuN/stats overrun). */
  overrun(): number;
  /** Events the ring buffer refused while full (`dropped events`; non-overwrite mode), -1 if not reported. */
  dropped(): number;
  /** Events in the ring buffer not read yet (`entries`). */
  unread(): number;
  /** Stop recording (tracing_on 0), so that what is left can be drained to the end. */
  stop(): void;
  /** Restore tracing as it was; returns what could not be restored. Idempotent. */
  close(): string[];
}

export function openLiveSource(options: LiveSourceOptions = {}): LiveSource {
  const log = options.log ?? (() => {});
  const isRoot = options.isRoot ?? (() => process.getuid?.() === 0);
  if (!isRoot()) throw new CaptureError('live percpu events need root: tracefs is readable and writable by root only (or give a recorded trace)');
  const st: CaptureState = { mountedTracefs: undefined, mountedDebugfs: undefined, instance: undefined, journal: undefined, cleaned: false, failures: [] };
  let fd: number | undefined;
  const close = (): string[] => {
    if (st.cleaned) return [];
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
      fd = undefined;
    }
    cleanupCapture(st);
    process.off('exit', onExit);
    return st.failures;
  };
  const onExit = () => {
    close();
  };
  process.once('exit', onExit);
  try {
    const loc = findPercpuTracefs(options);
    if (loc.mounted) st.mountedTracefs = loc.root;
    if (options.mount) st.mountedDebugfs = mountDebugfsFor(PERCPU_STATS_PATH, log);
    st.instance = (options.makeInstance ?? makeInstance)(loc.root, log, options.prefix ?? 'percpu-top');
    if (st.instance === undefined) {
      throw new CaptureError(`${join(loc.root, 'instances')}: cannot make a private tracing instance, and percpu top does not take over the top-level buffer another user may be using`);
    }
    const root = st.instance;
    const journal = (st.journal = new SettingsJournal(root));
    journal.set('tracing_on', '0');
    journal.set('buffer_size_kb', String(options.bufferKb ?? 4096));
    // `mono` is CLOCK_MONOTONIC, the clock of process.hrtime: the screen's "now" and the events' times agree.
    let clock: LiveSource['clock'] = 'local';
    if (existsSync(join(root, 'trace_clock'))) {
      clock = /\bmono\b/.test(journal.read('trace_clock')) ? 'mono' : 'global';
      journal.set('trace_clock', clock);
    }
    for (const e of TRACE_EVENT_NAMES) journal.set(`events/percpu/${e}/enable`, '1');
    try {
      fd = openSync(join(root, 'trace_pipe'), fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    } catch (e) {
      throw new CaptureError(`cannot open ${join(root, 'trace_pipe')}: ${(e as Error).message}`);
    }
    journal.set('tracing_on', '1');
    log(`reading percpu events from private instance ${root}`);
    const decoder = new StringDecoder('utf8');
    const buf = Buffer.alloc(1 << 20);
    return {
      root,
      clock,
      statsPath: existsSync(PERCPU_STATS_PATH) ? PERCPU_STATS_PATH : undefined,
      read(maxBytes = 8 << 20): string {
        if (fd === undefined) return '';
        let text = '';
        let total = 0;
        while (total < maxBytes) {
          let n: number;
          try {
            n = readSync(fd, buf, 0, buf.length, null);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
            throw new CaptureError(`reading ${join(root, 'trace_pipe')} failed: ${(e as Error).message}`);
          }
          if (n <= 0) break;
          total += n;
          text += decoder.write(buf.subarray(0, n));
        }
        return text;
      },
      overrun: () => perCpuStat(root, 'overrun'),
      dropped: () => perCpuStat(root, 'dropped events'),
      unread: () => perCpuStat(root, 'entries'),
      stop: () => journal.set('tracing_on', '0'),
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}
