// Progress on stderr: a bar with rate and ETA when stderr is a terminal, a line every few
// seconds otherwise (logs, CI). Never writes to stdout, which belongs to --json.
import cliProgress from 'cli-progress';
import { formatBytes, formatSeconds } from '../util/format.js';

export interface Progress {
  /** Sets the absolute amount done. */
  update(done: number, note?: string): void;
  stop(): void;
}

export type ProgressUnit = 'bytes' | 'steps' | 'items';

function rate(unit: ProgressUnit, perSec: number): string {
  if (unit === 'bytes') return `${formatBytes(perSec)}/s`;
  return `${perSec.toFixed(perSec < 10 ? 2 : 1)} ${unit}/s`;
}

function amount(unit: ProgressUnit, n: number): string {
  return unit === 'bytes' ? formatBytes(n) : String(Math.round(n));
}

export function createProgress(label: string, total: number, unit: ProgressUnit, opts: { quiet?: boolean } = {}): Progress {
  const start = performance.now();
  if (opts.quiet || process.env.RATATOUILLE_NO_PROGRESS) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${label} [{bar}] {percentage}% | {amount} | {rate} | ETA {eta_h} {note}`,
        hideCursor: true,
        clearOnComplete: false,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { amount: '', rate: '', eta_h: '', note: '' });
    return {
      update(done, note = '') {
        const secs = (performance.now() - start) / 1000;
        const r = secs > 0 ? done / secs : 0;
        bar.update(done, {
          amount: `${amount(unit, done)}/${amount(unit, total)}`,
          rate: rate(unit, r),
          eta_h: r > 0 ? formatSeconds((total - done) / r) : '?',
          note,
        });
      },
      stop() {
        bar.stop();
      },
    };
  }
  let last = 0;
  return {
    update(done, note = '') {
      const now = performance.now();
      if (now - last < 5000 && done < total) return;
      last = now;
      const secs = (now - start) / 1000;
      const r = secs > 0 ? done / secs : 0;
      const eta = r > 0 ? formatSeconds((total - done) / r) : '?';
      process.stderr.write(`${label}: ${amount(unit, done)}/${amount(unit, total)} ${rate(unit, r)} ETA ${eta} ${note}\n`);
    },
    stop() {},
  };
}
