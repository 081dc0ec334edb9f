// Atomic output files: write beside the destination under a temporary name, fsync, rename.
// An interrupted run never leaves a partial file under the final name; temporaries are
// removed on failure and on SIGINT/SIGTERM.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

const live = new Set<string>();
let hooked = false;

function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  const cleanup = () => {
    for (const p of live) rmSync(p, { force: true });
    live.clear();
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanup();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** A temporary file beside `dest`; `commit()` renames it into place, `abort()` removes it. */
export class AtomicFile {
  readonly tmpPath: string;
  fd: number;
  private done = false;

  constructor(readonly dest: string) {
    hookSignals();
    this.tmpPath = join(dirname(dest), `.${basename(dest)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    this.fd = openSync(this.tmpPath, 'wx', 0o644);
    live.add(this.tmpPath);
  }

  write(data: Uint8Array, position?: number): void {
    let off = 0;
    while (off < data.byteLength) {
      off += writeSync(this.fd, data, off, data.byteLength - off, position === undefined ? null : position + off);
    }
  }

  commit(): void {
    if (this.done) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmpPath, this.dest);
    live.delete(this.tmpPath);
    this.done = true;
  }

  abort(): void {
    if (this.done) return;
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
    rmSync(this.tmpPath, { force: true });
    live.delete(this.tmpPath);
    this.done = true;
  }
}

/**
 * Opens one AtomicFile per item and lets `frame` write its fixed bytes (headers, copied spans);
 * if anything throws, every file opened so far is removed. Returned in `items` order.
 */
export function openAtomicFiles<T>(items: readonly T[], dest: (item: T) => string, frame: (f: AtomicFile, item: T) => void): AtomicFile[] {
  const files: AtomicFile[] = [];
  try {
    for (const item of items) {
      const f = new AtomicFile(dest(item));
      files.push(f);
      frame(f, item);
    }
  } catch (e) {
    for (const f of files) f.abort();
    throw e;
  }
  return files;
}

/** Writes a whole file atomically. */
export function writeFileAtomic(dest: string, data: Uint8Array | string): void {
  const f = new AtomicFile(dest);
  try {
    f.write(typeof data === 'string' ? Buffer.from(data) : data);
    f.commit();
  } catch (e) {
    f.abort();
    throw e;
  }
}

/** Runs `fn` against an AtomicFile, committing on success and removing the temporary on any error. */
export async function withAtomicFile<T>(dest: string, fn: (f: AtomicFile) => Promise<T> | T): Promise<T> {
  const f = new AtomicFile(dest);
  try {
    const out = await fn(f);
    f.commit();
    return out;
  } catch (e) {
    f.abort();
    throw e;
  }
}
