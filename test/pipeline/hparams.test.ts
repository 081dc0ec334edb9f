// MR's hparam draws: the spec's §2.1 table (computed by the spec's author with numpy) is the
// reference; it also pins the image distribution's values and the per-name seeding.
import { describe, expect, it } from 'vitest';
import { IMAGE_HPARAMS, MNIST_HPARAMS, defaultDistribution, sampleHparams } from '../../src/pipeline/hparams.js';

// h → [trial 0, trial 1, trial 2] as "lr / wd / dropout" (ratatouille-spec.md §2.1).
const SPEC_TABLE = `
0 | 5e-5 / 0 / 0.0 | 5e-5 / 0 / 0.0 | 5e-5 / 0 / 0.0
1 | 3e-5 / 1e-4 / 0.5 | 3e-5 / 1e-6 / 0.5 | 3e-5 / 1e-6 / 0.5
2 | 1e-5 / 1e-6 / 0.5 | 3e-5 / 1e-6 / 0.5 | 1e-5 / 1e-6 / 0.0
3 | 3e-5 / 1e-6 / 0.0 | 3e-5 / 1e-4 / 0.1 | 3e-5 / 1e-4 / 0.1
4 | 1e-5 / 1e-6 / 0.0 | 3e-5 / 1e-4 / 0.0 | 5e-5 / 1e-4 / 0.5
5 | 3e-5 / 1e-4 / 0.5 | 3e-5 / 1e-6 / 0.1 | 1e-5 / 1e-4 / 0.5
6 | 3e-5 / 1e-4 / 0.1 | 1e-5 / 1e-4 / 0.0 | 1e-5 / 1e-4 / 0.0
7 | 1e-5 / 1e-4 / 0.1 | 5e-5 / 1e-6 / 0.5 | 5e-5 / 1e-6 / 0.1
8 | 5e-5 / 1e-4 / 0.1 | 5e-5 / 1e-4 / 0.0 | 3e-5 / 1e-4 / 0.0
9 | 5e-5 / 1e-6 / 0.5 | 1e-5 / 1e-4 / 0.1 | 3e-5 / 1e-6 / 0.0
10 | 5e-5 / 1e-6 / 0.5 | 3e-5 / 1e-4 / 0.5 | 1e-5 / 1e-4 / 0.5
11 | 5e-5 / 1e-6 / 0.0 | 5e-5 / 1e-6 / 0.1 | 3e-5 / 1e-6 / 0.5
12 | 3e-5 / 1e-4 / 0.5 | 5e-5 / 1e-4 / 0.0 | 5e-5 / 1e-6 / 0.0
13 | 5e-5 / 1e-6 / 0.5 | 5e-5 / 1e-4 / 0.5 | 3e-5 / 1e-4 / 0.0
14 | 5e-5 / 1e-6 / 0.0 | 1e-5 / 1e-6 / 0.1 | 1e-5 / 1e-6 / 0.5
15 | 3e-5 / 1e-4 / 0.0 | 1e-5 / 1e-6 / 0.5 | 3e-5 / 1e-6 / 0.0
16 | 1e-5 / 1e-4 / 0.5 | 1e-5 / 1e-4 / 0.0 | 1e-5 / 1e-4 / 0.5
17 | 5e-5 / 1e-4 / 0.1 | 5e-5 / 1e-6 / 0.0 | 1e-5 / 1e-4 / 0.1
18 | 5e-5 / 1e-6 / 0.0 | 5e-5 / 1e-4 / 0.1 | 1e-5 / 1e-6 / 0.0
19 | 3e-5 / 1e-6 / 0.0 | 1e-5 / 1e-6 / 0.5 | 1e-5 / 1e-4 / 0.1`;

describe('hparam sampling (MR per-name seeding)', () => {
  const rows = SPEC_TABLE.trim().split('\n').map((line) => line.split('|').map((c) => c.trim()));
  it('reproduces the spec §2.1 table for h = 0..19, trials 0..2', () => {
    expect(rows).toHaveLength(20);
    for (const [h, ...cells] of rows) {
      cells.forEach((cell, trial) => {
        const [lr, wd, dropout] = cell.split('/').map((x) => Number(x.trim()));
        expect(sampleHparams(IMAGE_HPARAMS, Number(h), trial), `h ${h} trial ${trial}`).toEqual({ lr, weightDecay: wd, dropout });
      });
    }
  });
  it('draws the MNIST distribution with the same indices (same seeds, same list lengths)', () => {
    for (let h = 1; h < 20; h++) {
      const img = sampleHparams(IMAGE_HPARAMS, h, 1);
      const mn = sampleHparams(MNIST_HPARAMS, h, 1);
      expect(MNIST_HPARAMS.choices.lr.indexOf(mn.lr)).toBe(IMAGE_HPARAMS.choices.lr.indexOf(img.lr));
      expect(MNIST_HPARAMS.choices.dropout.indexOf(mn.dropout)).toBe(IMAGE_HPARAMS.choices.dropout.indexOf(img.dropout));
    }
    expect(sampleHparams(MNIST_HPARAMS, 0, 2)).toEqual({ lr: 7e-4, weightDecay: 0, dropout: 0 });
  });
  it('picks the MNIST distribution for 28×28 inputs', () => {
    expect(defaultDistribution([1, 28, 28])).toBe('mnist');
    expect(defaultDistribution([3, 224, 224])).toBe('image');
  });
});
