// `ratatouille bench optim` end to end on a tiny problem: the real parser, the JSON it prints,
// and its option errors. Only the shape and sanity of the numbers are checked, never timings.
import { describe, expect, it } from 'vitest';
import { transformerLikeSizes } from '../../src/bench/optim.js';
import { cli } from '../cli/run.js';

describe('bench optim', () => {
  it('splits the parameter count into transformer-like tensors that add up exactly', () => {
    for (const total of [1, 1000, 100_000, 16_000_000, 123_456_789]) {
      const sizes = transformerLikeSizes(total);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(total);
      expect(Math.min(...sizes)).toBeGreaterThan(0);
    }
    const sizes = transformerLikeSizes(16_000_000);
    expect(sizes[0]).toBe(3 * 768 * 768);  // qkv of d = 768
    expect(sizes).toContain(768);          // biases and layer norms
  });

  it('prints native, TypeScript-loop and triad numbers as JSON', async () => {
    const r = await cli('bench', 'optim', '--params', '200k', '--repeats', '3', '--ts-repeats', '1', '--triad-mib', '4', '--threads', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.params).toBe(200_000);
    expect(j.threads).toBe(1);
    expect(j.triad.arrayBytes).toBe(4 << 20);
    for (const k of [j.sgd, j.adam]) {
      for (const x of [k.native.gbs, k.native.ms, k.typescript.gbs, k.typescript.ms, k.ofTriad, k.vsTypescript])
        expect(Number.isFinite(x) && x > 0).toBe(true);
      expect(k.ofTriad).toBeCloseTo(k.native.gbs / j.triad.gbs, 10);
    }
    expect(j.sgd.bytesPerParam).toBe(20);
    expect(j.adam.bytesPerParam).toBe(28);
    expect(j.cuda).toBeUndefined();
  });

  it('rejects a bad parameter count with a one-line error and exit code 2', async () => {
    const r = await cli('bench', 'optim', '--params', 'lots');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--params: expected a count like 16M/);
    expect(r.stdout).toBe('');
  });
});
