// The evaluation API on a tiny exported MNIST_CNN and small in-memory datasets: every number is
// recomputed from ForwardSession logits of the samples themselves, and checked against the data
// layer's evaluateDomains and DomainBed selection helpers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdoutSplit, holdoutTestSize } from '../../src/data/holdout.js';
import { createLoader, evaluateDomains, makeSplits, splitIndices, type Batch } from '../../src/data/index.js';
import {
  asPredict,
  disagreementOf,
  evaluate,
  evaluateOnnx,
  evaluateWeights,
  loadOnnxClassifier,
  predictClasses,
  predictionDisagreement,
  weightsPredictor,
  type DomainEvalResult,
  type HoldoutEvalResult,
  type OnnxClassifier,
} from '../../src/eval/index.js';
import { correctOf, referenceClasses, smallDataset, tinyModel, writeModel } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rt-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const { model, weights } = tinyModel(1, 10);
const ds = smallDataset([37, 30, 23], 1, 10);
let file: string;
let onnx: OnnxClassifier;
beforeAll(async () => {
  file = writeModel(dir, 'tiny.onnx', model.exportGraph(weights).bytes);
  onnx = await loadOnnxClassifier(file, { threads: 1 });
});
afterAll(async () => onnx?.release());

describe('loadOnnxClassifier', () => {
  it('reads the declared input shape, classes and free batch axis', () => {
    expect(onnx.inputShape).toEqual([1, 28, 28]);
    expect(onnx.numClasses).toBe(10);
    expect(onnx.fixedBatch).toBeNull();
    expect([onnx.inputName, onnx.outputName]).toEqual(['x', 'logits']);
  });
});

describe('evaluateOnnx on a domain dataset', () => {
  it('gives per-domain in/out/full counts equal to a direct ForwardSession computation', async () => {
    const trialSeed = 3;
    const r = (await evaluateOnnx(file, ds, { trialSeed, batch: 16, threads: 1 })) as DomainEvalResult;
    expect(r.protocol).toBe('domains');
    expect(r.seeds).toEqual({ dataSeed: 0, trialSeed });
    expect(r.images).toBe(90);
    const splits = makeSplits(ds, trialSeed);
    for (let d = 0; d < 3; d++) {
      for (const which of ['in', 'out', 'full'] as const) {
        const idx = splitIndices(ds, splits, d, which);
        const correct = correctOf(await referenceClasses(model, weights, ds, idx), ds, idx);
        expect(r.domains[d][which]).toEqual({ correct, total: idx.length, acc: correct / idx.length });
      }
    }
    expect(r.domains.map((d) => [d.index, d.domain, d.test])).toEqual([[0, 'd0', false], [1, 'd1', false], [2, 'd2', false]]);
    expect(r.selection).toBeNull();
  });

  it('matches evaluateDomains and computes the DomainBed selection metrics for test envs', async () => {
    const r = (await evaluate(onnx, ds, { trialSeed: 1, testEnvs: [1], batch: 7 })) as DomainEvalResult;
    const loader = createLoader(ds);
    const ref = await evaluateDomains(loader, makeSplits(ds, 1), asPredict(onnx), { batchSize: 64 });
    await loader.close();
    expect(r.domains.map(({ domain, in: i, out, full }) => ({ domain, in: i, out, full }))).toEqual(ref);
    expect(r.domains.map((d) => d.test)).toEqual([false, true, false]);
    const sel = r.selection!;
    expect(sel.trainingDomainValidation).toBeCloseTo((ref[0].out.acc + ref[2].out.acc) / 2, 12);
    expect(sel.pooledValidation).toBeCloseTo((ref[0].out.correct + ref[2].out.correct) / (ref[0].out.total + ref[2].out.total), 12);
    expect(sel.tests).toEqual([{ env: 1, domain: 'd1', in: ref[1].in.acc, full: ref[1].full.acc }]);
  });

  it('evaluates a model whose batch axis is fixed by running padded chunks', async () => {
    const fixed = await loadOnnxClassifier(model.exportGraph(weights, { batch: 5 }).bytes, { name: 'fixed5' });
    expect(fixed.fixedBatch).toBe(5);
    const a = (await evaluate(fixed, ds, { trialSeed: 2, batch: 12 })) as DomainEvalResult;
    const b = (await evaluate(onnx, ds, { trialSeed: 2, batch: 12 })) as DomainEvalResult;
    await fixed.release();
    expect(a.domains).toEqual(b.domains);
  });

  it('rejects test envs out of range and a dataset the model does not fit', async () => {
    await expect(evaluate(onnx, ds, { testEnvs: [3] })).rejects.toThrow(/test env: 3 is out of range: small3 has domains 0\.\.2/);
    await expect(evaluate(onnx, smallDataset([4, 4], 2, 10))).rejects.toThrow(/model: the model takes 1-channel images .* but small2 has 2-channel/);
    await expect(evaluate(onnx, smallDataset([4, 4], 1, 7))).rejects.toThrow(/the model outputs 10 classes but small2 has 7/);
  });
});

describe('single-domain datasets', () => {
  it('evaluate the holdoutSplit(n, 20%, dataSeed) test set and the train rest', async () => {
    const one = smallDataset([60], 1, 10, 4);
    const r = (await evaluateOnnx(file, one, { dataSeed: 9, batch: 8 })) as HoldoutEvalResult;
    expect(r.protocol).toBe('holdout');
    const { test, train } = holdoutSplit(60, holdoutTestSize(60), 9);
    expect(test.length).toBe(12);
    const all = await referenceClasses(model, weights, one, Int32Array.from({ length: 60 }, (_, i) => i));
    const correct = (idx: Int32Array) => idx.reduce((c, s) => c + Number(all[s] === one.labels[s]), 0);
    expect(r.test).toEqual({ correct: correct(test), total: 12, acc: correct(test) / 12 });
    expect(r.train).toEqual({ correct: correct(train), total: 48, acc: correct(train) / 48 });
    const custom = (await evaluate(onnx, one, { dataSeed: 2, holdoutSize: 7 })) as HoldoutEvalResult;
    const seven = holdoutSplit(60, 7, 2).test;
    expect(custom.test).toEqual({ correct: correct(seven), total: 7, acc: correct(seven) / 7 });
    await expect(evaluate(onnx, one, { holdoutSize: 60 })).rejects.toThrow(/holdout size: must be an integer in \[1, 59\]/);
    await expect(evaluate(onnx, one, { testEnvs: [0] })).rejects.toThrow(/single domain/);
  });
});

describe('weightsPredictor', () => {
  it('agrees with the exported model and sees in-place weight updates', async () => {
    const w = new Map([...weights].map(([k, v]) => [k, v.slice()]));
    const p = await weightsPredictor(model, w, { threads: 1 });
    const viaWeights = (await evaluate(p, ds, { trialSeed: 0 })) as DomainEvalResult;
    const viaOnnx = (await evaluate(onnx, ds, { trialSeed: 0 })) as DomainEvalResult;
    expect(viaWeights.domains).toEqual(viaOnnx.domains);
    // a head that always says 3: zero weights, bias one-hot
    w.get('classifier.weight')!.fill(0);
    w.get('classifier.bias')!.fill(0)[3] = 1;
    const loader = createLoader(ds);
    const all = Int32Array.from({ length: 90 }, (_, i) => i);
    expect(Array.from(await predictClasses(loader, all, p, { batchSize: 32 }))).toEqual(new Array(90).fill(3));
    await loader.close();
    await p.release();
  });

  it('evaluateWeights builds the model from its spec', async () => {
    const r = (await evaluateWeights(model.spec, weights, ds, { trialSeed: 0, threads: 1 })) as DomainEvalResult;
    const s = (await evaluate(onnx, ds, { trialSeed: 0 })) as DomainEvalResult;
    expect(r.domains).toEqual(s.domains);
  });
});

describe('prediction disagreement', () => {
  it('is 0 between a model and itself and the hand count against a constant predictor', async () => {
    const loader = createLoader(ds);
    const idx = splitIndices(ds, makeSplits(ds, 0), 2, 'full');
    expect(await predictionDisagreement(loader, idx, onnx, onnx, { batchSize: 8 })).toEqual({ differ: 0, total: 23, rate: 0 });

    const ref = await referenceClasses(model, weights, ds, idx);
    const differ = ref.reduce((c, k) => c + Number(k !== 4), 0);
    expect(differ).toBeGreaterThan(0);
    const always4 = (b: Batch) => new Int32Array(b.shape[0]).fill(4);
    expect(await predictionDisagreement(loader, idx, onnx, always4)).toEqual({ differ, total: 23, rate: differ / 23 });
    // constant logits favouring class 4 (ties elsewhere) read the same through argmax
    const logits4 = (b: Batch) => Float32Array.from({ length: b.shape[0] * 10 }, (_, i) => (i % 10 === 4 ? 1 : 0));
    expect(await predictionDisagreement(loader, idx, logits4, onnx)).toEqual({ differ, total: 23, rate: differ / 23 });

    const classes = await predictClasses(loader, idx, onnx);
    expect(Array.from(classes)).toEqual(Array.from(ref));
    expect(disagreementOf(classes, new Int32Array(23).fill(4))).toEqual({ differ, total: 23, rate: differ / 23 });
    await loader.close();
  });
});
