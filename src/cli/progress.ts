// SPDX-License-Identifier: GPL-2.0-only
/**
 * A progress bar for long replays and benchmarks — on an interactive terminal
 * only: never in CI (`CI` set), never when standard error is piped or redirected.
 */

export interface Progress {
  update(done: number, label?: string): void;
  done(): void;
}

const SILENT: Progress = { update() {}, done() {} };

export function progressEnabled(stream: NodeJS.WriteStream = process.stderr): boolean {
  return stream.isTTY === true && !process.env.CI && process.env.TERM !== 'dumb';
}

/** A bar over `total` units, redrawn at most every 100 ms. */
export function progress(total: number, title: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!progressEnabled(stream) || total <= 0) return SILENT;
  let last = 0;
  const width = 30;
  const draw = (done: number, label: string) => {
    const frac = Math.min(1, done / total);
    const fill = Math.round(frac * width);
    const cols = stream.columns || 80; // 0 when the terminal does not say
    const line = `${title} [${'#'.repeat(fill)}${' '.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${label}`;
    stream.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length))}`);
  };
  return {
    update(done, label = '') {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      draw(done, label);
    },
    done() {
      stream.write('\r\x1b[2K');
    },
  };
}
