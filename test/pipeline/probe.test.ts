// The linear probe on cached features: it learns a separable problem, keeps the best head by
// validation (earliest on ties) and is deterministic in its seed.
import { describe, expect, it } from 'vitest';
import { probeValidation, trainProbe, type ProbeData } from '../../src/pipeline/probe.js';
import { RandomState } from '../../src/util/numpy-random.js';

/** Two domains, 3 classes, features = one-hot(class)·2 + noise. */
function data(n: number): ProbeData {
  const rs = new RandomState(1);
  const dim = 4;
  const features = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 3;
    for (let j = 0; j < dim; j++) features[i * dim + j] = (j === labels[i] ? 2 : 0) + (rs.randomSample() - 0.5);
  }
  const idx = (lo: number, hi: number) => Int32Array.from({ length: hi - lo }, (_, k) => lo + k);
  return { features, dim, labels, numClasses: 3, trainPools: [idx(0, 80), idx(100, 180)], valSets: [idx(80, 100), idx(180, 200)] };
}

describe('linear probe', () => {
  const d = data(200);
  const init = { weight: new Float32Array(12), bias: new Float32Array(3) };
  it('fits a separable problem and keeps the best head', () => {
    const r = trainProbe(d, { steps: 200, lr: 0.05, batchPerDomain: 8, evalEvery: 20, seed: 0, init });
    expect(probeValidation(d, init.weight, init.bias)).toBeLessThan(0.5);
    expect(r.val).toBe(1);
    expect(probeValidation(d, r.weight, r.bias)).toBe(r.val);
    const first = r.history.find((h) => h.val === r.val)!;
    expect(r.step).toBe(first.step); // earliest best (strict >)
    expect(init.weight.every((x) => x === 0)).toBe(true); // the init is not modified
  });
  it('is deterministic in its seed', () => {
    const a = trainProbe(d, { steps: 30, lr: 0.05, batchPerDomain: 4, evalEvery: 10, seed: 5, init });
    const b = trainProbe(d, { steps: 30, lr: 0.05, batchPerDomain: 4, evalEvery: 10, seed: 5, init });
    const c = trainProbe(d, { steps: 30, lr: 0.05, batchPerDomain: 4, evalEvery: 10, seed: 6, init });
    expect(Array.from(a.weight)).toEqual(Array.from(b.weight));
    expect(a.history.map((h) => h.loss)).not.toEqual(c.history.map((h) => h.loss));
  });
});
