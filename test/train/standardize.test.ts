// Input standardisation: statistics from the training pools only, per channel; the batch
// transform; and an end-to-end run whose exported model.onnx takes raw pixels and gives exactly
// the logits of the plain export fed standardised pixels.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTensorDataset } from '../../src/data/index.js';
import { loadOnnxClassifier } from '../../src/eval/onnx-classifier.js';
import { buildModel, type ModelSpec } from '../../src/graph/index.js';
import { loadFullCheckpoint } from '../../src/train/checkpoint.js';
import { poolStats, standardizer } from '../../src/train/standardize.js';
import { runJob } from '../../src/train/trainer.js';
import { sameBits, smallMnist, tinyJob, tmpDir } from './helpers.js';

/** Three 2-channel 1×2 samples; sample 2 is outside every pool. */
const tiny = makeTensorDataset({
  name: 'tiny',
  domains: ['all'],
  classes: ['a', 'b'],
  shape: [2, 1, 2],
  images: Uint8Array.from([0, 255, 51, 51, /**/ 255, 255, 102, 102, /**/ 7, 9, 200, 1]),
  labels: Int32Array.from([0, 1, 0]),
  offsets: Int32Array.from([0, 3]),
});

describe('poolStats and standardizer', () => {
  it('uses only the pooled samples, per channel', () => {
    const s = poolStats(tiny, [Int32Array.from([0]), Int32Array.from([1])]);
    // channel 0: pixels 0, 1, 1, 1; channel 1: 0.2, 0.2, 0.4, 0.4
    expect(s.mean[0]).toBeCloseTo(0.75, 15);
    expect(s.std[0]).toBeCloseTo(Math.sqrt(0.1875), 15);
    expect(s.mean[1]).toBeCloseTo(0.3, 15);
    expect(s.std[1]).toBeCloseTo(0.1, 15);
  });

  it('rejects a constant channel', () => {
    expect(() => poolStats(tiny, [Int32Array.from([0])])).toThrow(/^job\.data\.standardize: channel 1 of the training samples is constant/);
  });

  it('standardises each channel plane of each sample', () => {
    const f = standardizer({ mean: [0.5, 0.25], std: [0.5, 2] }, [2, 1, 2]);
    const x = Float32Array.from([0, 1, 0.25, 4.25, 0.5, 0.75, 0.25, 0.25]);
    expect(Array.from(f(x))).toEqual([-1, 1, 0, 2, 0, 0.5, 0, 0]);
    expect(Array.from(x)).toEqual([0, 1, 0.25, 4.25, 0.5, 0.75, 0.25, 0.25]); // input untouched
  });
});

describe('a standardised run', () => {
  it('exports a model that takes raw pixels: its logits are the plain export fed standardised pixels', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('std');
    const r = await runJob(tinyJob(dir, { data: { dataset: 'mnist_small', holdout: { testSize: 400 }, standardize: true } }), { dataset });
    expect(r.status).toBe('done');
    expect(r.inputStats!.mean[0]).toBeGreaterThan(0.05);
    expect(r.inputStats!.mean[0]).toBeLessThan(0.3);
    expect(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')).inputStats).toEqual(r.inputStats);

    const model = buildModel(r.model as ModelSpec);
    const params = model.initParams(0);
    await loadFullCheckpoint(join(dir, 'weights.safetensors'), model, params);
    const plain = await loadOnnxClassifier(model.exportGraph(params).bytes);
    const exported = await loadOnnxClassifier(join(dir, 'model.onnx'));
    const n = 32;
    const x = Float32Array.from(dataset.images.subarray(0, n * 784), (v) => v / 255);
    const shape = [n, 1, 28, 28] as const;
    const want = await plain.logits(standardizer(r.inputStats!, [1, 28, 28])(x), shape);
    expect(sameBits(await exported.logits(x, shape), want)).toBe(true);
    expect(sameBits(await plain.logits(x, shape), want)).toBe(false);
    await plain.release();
    await exported.release();
  });
});
