// Where a tensor's bytes live and how to move them: a location (file range or memory) that every
// format reader returns, and a sink that writers hand out so callers can stream tensor bytes into
// planned offsets of atomic output files.
import { open, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
import { InputError } from '../errors.js';
import type { AtomicFile } from './atomic.js';
import type { DType } from './dtype.js';

const q = (s: string) => JSON.stringify(s);

/** Little-endian tensor bytes: a range of a file, or bytes already decoded into memory. */
export type TensorLocation =
  | { kind: 'file'; path: string; offset: number; byteLength: number }
  | { kind: 'memory'; bytes: Uint8Array };

export function locationByteLength(loc: TensorLocation): number {
  return loc.kind === 'file' ? loc.byteLength : loc.bytes.byteLength;
}

// One read() call moves at most 2 GiB - 1 bytes.
const MAX_READ = 1 << 30;

/** Reads exactly `length` bytes at `offset`; a short file is a bug in the caller's validation. */
export async function readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  const fh = await open(path, 'r');
  try {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(out, done, Math.min(MAX_READ, length - done), offset + done);
      if (bytesRead === 0) throw new Error(`${path}: file shrank while reading (wanted ${length} bytes at ${offset})`);
      done += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** Bytes [start, start+length) of a tensor (the whole tensor by default). */
export async function readLocation(loc: TensorLocation, start = 0, length?: number): Promise<Uint8Array> {
  const total = locationByteLength(loc);
  const len = length ?? total - start;
  if (start < 0 || len < 0 || start + len > total) {
    throw new RangeError(`range [${start}, ${start + len}) is outside the tensor's ${total} bytes`);
  }
  if (loc.kind === 'memory') return loc.bytes.subarray(start, start + len);
  return readRange(loc.path, loc.offset + start, len);
}

/**
 * The real path of file `name` inside `dir`, refusing names that could leave it: absolute paths,
 * `..` components, symlinks resolving outside (canonical-path containment), non-regular files.
 */
export async function resolveInside(dir: string, name: string, where: string, what: string): Promise<string> {
  if (name === '' || isAbsolute(name) || /^[a-zA-Z]:/.test(name) || name.startsWith('\\')) {
    throw new InputError(where, `${what} ${q(name)} is not a relative path inside ${dir}`);
  }
  if (name.split(/[\\/]/).includes('..')) throw new InputError(where, `${what} ${q(name)} has a ".." component`);
  const full = join(dir, name);
  let real: string;
  let realDir: string;
  try {
    [real, realDir] = await Promise.all([realpath(full), realpath(dir)]);
  } catch (e) {
    throw new InputError(where, `${what} ${q(name)} not found (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (!real.startsWith(realDir.endsWith(sep) ? realDir : realDir + sep)) {
    throw new InputError(where, `${what} ${q(name)} resolves outside ${dir} (to ${real})`);
  }
  if (!(await stat(real)).isFile()) throw new InputError(where, `${what} ${q(name)} is not a regular file`);
  return real;
}

/** A planned output tensor: where its bytes go in which output file. */
export interface PlannedTensor {
  name: string;
  dtype: DType;
  shape: number[];
  byteLength: number;
  /** Absolute offset of the first byte in `file`. */
  offset: number;
  file: string;
}

/** An output file being written: its final name and the temporary it is renamed from on commit. */
export interface SinkOutput {
  dest: string;
  tmpPath: string;
}

/**
 * Streams tensor bytes into planned places of atomic output files. Write every tensor fully (in
 * any order, in any chunks), then `commit()`; `abort()` (or any throw before commit) leaves no file.
 */
export interface TensorSink {
  readonly tensors: ReadonlyMap<string, PlannedTensor>;
  /** In commit order; a PlannedTensor's `file` is one of these `dest`s. */
  readonly outputs: readonly SinkOutput[];
  write(name: string, bytes: Uint8Array, at?: number): void;
  /** Records that `name` was written in full by another writer (e.g. native code writing `tmpPath`). */
  markWritten(name: string): void;
  commit(): void;
  abort(): void;
}

/** Writes each tensor's bytes whole, then commits; any throw aborts the sink, leaving no file. */
export function writeAllAndCommit(sink: TensorSink, encoded: Iterable<readonly [name: string, bytes: Uint8Array]>): void {
  try {
    for (const [name, bytes] of encoded) sink.write(name, bytes);
    sink.commit();
  } catch (e) {
    sink.abort();
    throw e;
  }
}

/** The sink over already-framed atomic files; commit checks every tensor got all its bytes. */
export class AtomicTensorSink implements TensorSink {
  private readonly written = new Map<string, number>();
  private readonly byPath: Map<string, AtomicFile>;
  readonly outputs: readonly SinkOutput[];

  /**
   * `files` in commit order (put the file that refers to the others last); `afterCommit` writes
   * whatever must only appear once every file is in place (a shard index).
   */
  constructor(
    readonly tensors: ReadonlyMap<string, PlannedTensor>,
    private readonly files: AtomicFile[],
    private readonly afterCommit?: () => void,
  ) {
    this.byPath = new Map(files.map((f) => [f.dest, f]));
    this.outputs = files.map((f) => ({ dest: f.dest, tmpPath: f.tmpPath }));
  }

  private planned(name: string): PlannedTensor {
    const t = this.tensors.get(name);
    if (!t) throw new RangeError(`no planned tensor ${q(name)}`);
    return t;
  }

  write(name: string, bytes: Uint8Array, at = 0): void {
    const t = this.planned(name);
    if (at < 0 || at + bytes.byteLength > t.byteLength) {
      throw new RangeError(`write of ${bytes.byteLength} bytes at ${at} overruns tensor ${q(name)} (${t.byteLength} bytes)`);
    }
    this.byPath.get(t.file)!.write(bytes, t.offset + at);
    this.written.set(name, (this.written.get(name) ?? 0) + bytes.byteLength);
  }

  markWritten(name: string): void {
    this.written.set(name, this.planned(name).byteLength);
  }

  commit(): void {
    for (const t of this.tensors.values()) {
      const w = this.written.get(t.name) ?? 0;
      if (w !== t.byteLength) {
        this.abort();
        throw new Error(`tensor ${q(t.name)}: ${w} of ${t.byteLength} bytes written before commit`);
      }
    }
    for (const f of this.files) f.commit();
    this.afterCommit?.();
  }

  abort(): void {
    for (const f of this.files) f.abort();
  }
}
