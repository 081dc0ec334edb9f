// The DomainBed protocol end to end on rotated_mnist (test domain never trained on, its scores
// recorded, loss going down), the single-domain holdout plan, and the exported model.onnx
// scoring exactly what the trainer measured.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDataset } from '../../src/data/index.js';
import { holdoutSplit } from '../../src/data/holdout.js';
import { parseJob } from '../../src/train/job.js';
import { planData } from '../../src/train/run-data.js';
import { runJob } from '../../src/train/trainer.js';
import { fileBytes, onnxAccuracy, smallMnist, tinyJob, tmpDir } from './helpers.js';

describe('DomainBed protocol', () => {
  it('plans training pools from the in-splits of the training domains only', async () => {
    const ds = await openDataset('rotated_mnist');
    const plan = planData(parseJob({ ...tinyJob('/unused'), data: { dataset: 'rotated_mnist', testEnvs: [0, 5] } }), ds);
    expect(plan.trainDomains).toEqual([1, 2, 3, 4]);
    plan.pools.forEach((pool, k) => {
      const d = plan.trainDomains[k];
      const ins = new Set(Array.from(plan.splits[d].in, (i) => i + ds.offsets[d]));
      expect(pool.length).toBe(ins.size);
      expect(Array.from(pool).every((g) => ins.has(g))).toBe(true);
    });
    expect(() => planData(parseJob({ ...tinyJob('/unused'), data: { dataset: 'rotated_mnist', testEnvs: [6] } }), ds)).toThrow(/test domain: 6 is not a domain index/);
  });

  it('drives the loss down on rotated_mnist and scores the held-out domain', async () => {
    const dir = tmpDir('rotated');
    const r = await runJob({ ...tinyJob(dir), data: { dataset: 'rotated_mnist', testEnvs: [0] }, evalEvery: 30, hparams: { lr: 3e-3, batchPerDomain: 8, steps: 60 } });
    const metrics = fileBytes(dir, 'metrics.jsonl').toString().trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.step)).toEqual([0, 30, 59]);
    expect(metrics[2].loss).toBeLessThan(metrics[0].loss - 0.2);
    expect(metrics[2].val).toBeGreaterThan(metrics[0].val);
    expect(r.dataset.trainDomains).toEqual(['15', '30', '45', '60', '75']);
    expect(r.dataset.testDomains).toEqual(['0']);
    const test = metrics[2].domains[0];
    expect(test).toHaveProperty('in');
    expect(test.full).toBeCloseTo((1334 * test.in + 333 * test.out) / 1667, 12);
    expect(metrics[2].test).toBe(test.in);
    expect(metrics[2].testFull).toBe(test.full);
    expect(metrics[2].domains[1]).not.toHaveProperty('in'); // 'selection': training in-splits skipped
    const vals = metrics[2].domains.slice(1).map((d: { out: number }) => d.out);
    expect(metrics[2].val).toBeCloseTo(vals.reduce((a: number, b: number) => a + b) / 5, 12);
  });
});

describe('single-domain holdout and export', () => {
  it('scores the exported model.onnx exactly as the trainer did', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('export');
    const r = await runJob(tinyJob(dir, { evalSplits: 'all', hparams: { steps: 30 } }), { dataset });
    const best = r.best!;
    expect(best.domains[0]).toHaveProperty('in');
    expect(best.holdout).toBeGreaterThan(0.3);

    const acc = await onnxAccuracy(join(dir, 'model.onnx'), dataset, holdoutSplit(2400, 400, 0).test);
    expect(acc).toBe(best.holdout);
  });

  it('a dev set stands in for the test set: the test samples are left out of everything', async () => {
    const dataset = await smallMnist();
    const test = new Set(holdoutSplit(2400, 400, 0).test);
    const plan = planData(parseJob(tinyJob('/unused', { data: { dataset: 'mnist_small', holdout: { testSize: 400, devSize: 300 } } })), dataset);
    const dev = [...plan.holdout!];
    const used = [...plan.pools[0], ...plan.splits[0].out, ...dev];
    expect(dev).toHaveLength(300);
    expect(used.filter((i) => test.has(i))).toEqual([]);
    expect(new Set(used).size).toBe(2000); // every non-test sample once: train, validation or dev
    const tooBig = tinyJob('/unused', { data: { dataset: 'mnist_small', holdout: { testSize: 400, devSize: 2000 } } });
    expect(() => planData(parseJob(tooBig), dataset)).toThrow(/devSize: 2000 leaves nothing to train on/);
  });

  it('trains on every non-test sample unless a validation fraction is asked for', async () => {
    const dataset = await smallMnist();
    const test = new Set(holdoutSplit(2400, 400, 0).test);
    const plan = (valFraction?: number) =>
      planData(parseJob(tinyJob('/unused', { data: { dataset: 'mnist_small', holdout: { testSize: 400, ...(valFraction === undefined ? {} : { valFraction }) } } })), dataset);
    const all = plan();
    expect(all.splits[0].out).toHaveLength(0);
    expect(all.pools[0]).toHaveLength(2000);
    expect([...all.pools[0]].filter((i) => test.has(i))).toEqual([]);
    const held = plan(0.2);
    expect(held.splits[0].out).toHaveLength(400);
    expect(new Set([...held.pools[0], ...held.splits[0].out])).toEqual(new Set(all.pools[0]));
  });
});
