// End to end: plain SGD in TS over TrainingSession on a tiny synthetic problem drives the loss
// down, and the same seeds reproduce every loss and every final weight bit for bit.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/graph/init.js';
import { buildModel } from '../../src/graph/models/index.js';
import { TrainingSession } from '../../src/graph/session.js';

/** Class 1: a bright 3×3 blob in the top-left quadrant; class 0: bottom-right; plus noise. */
function syntheticBatch(rng: Rng, n: number) {
  const x = new Float32Array(n * 64), y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const cls = rng.uniform() < 0.5 ? 1 : 0;
    y[i] = BigInt(cls);
    const r0 = cls ? Math.floor(rng.uniform() * 2) : 4 + Math.floor(rng.uniform() * 2);
    const c0 = cls ? Math.floor(rng.uniform() * 2) : 4 + Math.floor(rng.uniform() * 2);
    for (let p = 0; p < 64; p++) x[i * 64 + p] = 0.3 * rng.normal();
    for (let r = r0; r < r0 + 3; r++) for (let c = c0; c < c0 + 3; c++) x[i * 64 + r * 8 + c] += 1;
  }
  return { x, y };
}

async function train(seed: number, steps: number) {
  const model = buildModel({ arch: 'mnist_cnn', inputShape: [1, 8, 8], numClasses: 2, width: 8 });
  const params = model.initParams(seed);
  const s = await TrainingSession.create(model, params, { threads: 2, dropoutP: 0.2 });
  const rng = new Rng(seed, 'data');
  const losses: number[] = [];
  for (let t = 0; t < steps; t++) {
    const { x, y } = syntheticBatch(rng, 16);
    const { loss, grads } = await s.step(x, y, seed * 100003 + t);
    losses.push(loss);
    for (const [name, g] of grads) {
      const w = params.get(name)!;
      for (let i = 0; i < w.length; i++) w[i] -= 0.1 * g[i];
    }
  }
  await s.release();
  return { losses, params };
}

describe('training with SGD', () => {
  it('drives the loss down and is bit-reproducible from its seeds', async () => {
    const a = await train(1, 30);
    const mean = (v: number[]) => v.reduce((p, q) => p + q, 0) / v.length;
    const first = mean(a.losses.slice(0, 3)), last = mean(a.losses.slice(-5));
    expect(first).toBeGreaterThan(0.5); // starts near ln 2
    expect(last).toBeLessThan(0.25 * first);
    const b = await train(1, 30);
    expect(b.losses).toEqual(a.losses);
    for (const [k, w] of a.params) expect(Buffer.from(b.params.get(k)!.buffer).equals(Buffer.from(w.buffer)), k).toBe(true);
    const c = await train(2, 3);
    expect(c.losses).not.toEqual(a.losses.slice(0, 3));
  });
});
