// The in-run weight average (src/train/ema.ts): debiased from the first update, swapped into the
// live arrays only for the duration of a call, and, in a run, what is evaluated, checkpointed and
// exported: model.onnx scores exactly what the trainer recorded, and differs from a plain run.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { holdoutSplit } from '../../src/data/holdout.js';
import { WeightEma } from '../../src/train/ema.js';
import { runJob } from '../../src/train/trainer.js';
import { onnxAccuracy, sameBits, smallMnist, tensors, tinyJob, tmpDir } from './helpers.js';

describe('WeightEma', () => {
  it('is debiased: w1 after one update, (d·w1 + w2)/(1 + d) after two', async () => {
    const w = new Float32Array([1, -2]);
    const params = new Map([['p', w]]);
    const ema = new WeightEma(params, 0.9);
    ema.update();
    expect(await ema.withAverage(() => [...params.get('p')!])).toEqual([1, -2]);
    w.set([3, 4]);
    ema.update();
    const avg = await ema.withAverage(() => [...params.get('p')!]);
    expect(avg[0]).toBeCloseTo((0.9 * 1 + 3) / 1.9, 6);
    expect(avg[1]).toBeCloseTo((0.9 * -2 + 4) / 1.9, 6);
    expect([...w]).toEqual([3, 4]); // restored
    await expect(ema.withAverage(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect([...w]).toEqual([3, 4]); // restored after a throw too
    expect(() => new WeightEma(params, 1)).toThrow(/decay must be in \(0, 1\)/);
  });
});

describe('a run with hparams.ema', () => {
  it('evaluates, checkpoints and exports the average', async () => {
    const dataset = await smallMnist();
    const plain = tmpDir('ema-off'), avg = tmpDir('ema-on');
    const job = (dir: string, ema?: number) => tinyJob(dir, { evalEvery: 15, hparams: { steps: 30, ...(ema ? { ema } : {}) } });
    const a = await runJob(job(plain), { dataset });
    const b = await runJob(job(avg, 0.9), { dataset });
    expect(b.job.hparams.ema).toBe(0.9);
    // Same trajectory, other weights saved: the average, not the last iterate.
    const wa = (await tensors(join(plain, 'last.safetensors'))).get('featurizer.conv1.weight')!;
    const wb = (await tensors(join(avg, 'last.safetensors'))).get('featurizer.conv1.weight')!;
    expect(sameBits(wa, wb)).toBe(false);
    expect(a.last!.loss).toBe(b.last!.loss);
    // The recorded score is the exported average's.
    expect(await onnxAccuracy(join(avg, 'model.onnx'), dataset, holdoutSplit(2400, 400, 0).test)).toBe(b.best!.holdout);
  });
});
