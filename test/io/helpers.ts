// Shared bits of the checkpoint I/O tests: fixture paths, temporary folders, error expectations.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';
import { InputError } from '../../src/errors.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'io');
export const fixture = (...p: string[]) => join(FIXTURES, ...p);

/** A fresh temporary folder removed after the test file. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rt-io-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Awaits `p`, expects a one-line InputError whose message contains every `parts`; returns it. */
export async function expectInputError(p: Promise<unknown> | (() => unknown), ...parts: string[]): Promise<InputError> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an InputError').toBeInstanceOf(InputError);
  const msg = (err as Error).message;
  expect(msg).not.toContain('\n');
  for (const part of parts) expect(msg).toContain(part);
  return err as InputError;
}

/** Files in `dir` (to check that failed writes leave no temporaries behind). */
export const listDir = (dir: string) => readdirSync(dir).sort();

/** Float32 bit patterns, so NaN compares equal to NaN. */
export const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
