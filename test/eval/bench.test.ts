// `ratatouille bench eval` on a tiny MNIST_CNN: the JSON it prints, the PyTorch side computing
// the same logits from the same weights (when a python with torch exists), and option errors.
// Only the shape and sanity of the numbers are checked, never timings.
import { describe, expect, it } from 'vitest';
import { findTorchPython } from '../../src/bench/eval.js';
import { cli } from '../cli/run.js';

const python = findTorchPython();
const tiny = ['--width', '8', '--batch', '16', '--threads', '1', '--rounds', '1', '--iters', '1', '--warmup', '1', '--json'];
const positive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

describe('bench eval', () => {
  it('times the ORT forms and, without torch, says the ratio was skipped', async () => {
    const r = await cli('bench', 'eval', ...tiny, '--variants', '--no-torch');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ model: 'mnist_cnn', width: 8, batch: 16, threads: 1, torch: null, ratio: null });
    expect(j.note).toMatch(/skipped/);
    for (const x of [j.onnxruntime, ...j.variants]) {
      expect(positive(x.imagesPerSec) && positive(x.msPerBatch)).toBe(true);
      expect(x.imagesPerSec).toBeCloseTo((1000 * 16) / x.msPerBatch, 6);
    }
    expect(j.variants.length).toBe(4);
  });

  it.skipIf(!python)('runs the same network in PyTorch: equal logits, a finite ratio', async () => {
    const r = await cli('bench', 'eval', ...tiny);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.torch.python).toBe(python);
    expect(j.torch.maxAbsLogitDiff).toBeLessThan(1e-4);
    expect(j.ratio).toBeCloseTo(j.onnxruntime.imagesPerSec / j.torch.imagesPerSec, 10);
    expect(j.note).toBeNull();
  });

  it('rejects a width GroupNorm(8) cannot split, with one line and exit code 2', async () => {
    const r = await cli('bench', 'eval', '--width', '12', '--no-torch');
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual(['ratatouille: --width: must be a multiple of 8 (GroupNorm with 8 groups), got 12']);
    expect(r.stdout).toBe('');
  });
});
