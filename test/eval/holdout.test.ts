// holdoutSplit against numpy's RandomState(seed).permutation (scripts/gen_eval_fixtures.py), and
// its invariants: sizes, disjoint cover of 0..n-1, sorted, deterministic, seed-dependent.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { holdoutSplit } from '../../src/data/holdout.js';

const fx = JSON.parse(readFileSync(new URL('../fixtures/eval/holdout.json', import.meta.url), 'utf8'));
const sha256I32 = (a: Int32Array) => createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

describe('holdoutSplit', () => {
  it('equals numpy on small cases', () => {
    for (const c of fx.small) {
      const { train, test } = holdoutSplit(c.n, c.testSize, c.seed);
      expect(Array.from(test)).toEqual(c.test);
      expect(Array.from(train)).toEqual(c.train);
    }
  });

  it('equals numpy on the 10,000-digit MNIST holdout', () => {
    for (const c of fx.large) {
      const { train, test } = holdoutSplit(c.n, c.testSize, c.seed);
      expect(Array.from(test.subarray(0, 5))).toEqual(c.testHead);
      expect(sha256I32(test)).toBe(c.testSha256);
      expect(sha256I32(train)).toBe(c.trainSha256);
    }
  });

  it('gives sorted, disjoint sets of the requested sizes covering 0..n-1', () => {
    const { train, test } = holdoutSplit(10000, 2000, 3);
    expect(test.length).toBe(2000);
    expect(train.length).toBe(8000);
    const seen = new Uint8Array(10000);
    for (const a of [test, train]) {
      for (let i = 0; i < a.length; i++) {
        if (i > 0) expect(a[i]).toBeGreaterThan(a[i - 1]);
        seen[a[i]]++;
      }
    }
    expect(seen.every((v) => v === 1)).toBe(true);
  });

  it('is deterministic per seed and differs between seeds', () => {
    const a = holdoutSplit(1000, 200, 7);
    const b = holdoutSplit(1000, 200, 7);
    const c = holdoutSplit(1000, 200, 8);
    expect(Array.from(a.test)).toEqual(Array.from(b.test));
    expect(Array.from(a.train)).toEqual(Array.from(b.train));
    expect(Array.from(a.test)).not.toEqual(Array.from(c.test));
  });

  it('rejects sizes and seeds out of range', () => {
    expect(() => holdoutSplit(10, 11, 0)).toThrow(/testSize/);
    expect(() => holdoutSplit(10, -1, 0)).toThrow(/testSize/);
    expect(() => holdoutSplit(2.5, 1, 0)).toThrow(/n must/);
    expect(() => holdoutSplit(10, 2, -1)).toThrow(/seed/);
  });
});
