// ORT session plumbing: zero-copy parameters, head-only (frozen) graphs, seeded dropout,
// BatchNorm running statistics written back, input validation, CUDA availability errors.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { Rng } from '../../src/graph/init.js';
import { buildModel } from '../../src/graph/models/index.js';
import { createSession, ForwardSession, TrainingSession } from '../../src/graph/session.js';
import { relErr, TINY_CNN, tinyBatch } from './helpers.js';

describe('TrainingSession', () => {
  it('feeds the persistent parameter arrays without copying; in-place updates are seen', async () => {
    const model = buildModel(TINY_CNN);
    const params = model.initParams(1);
    const s = await TrainingSession.create(model, params, { threads: 1 });
    for (const [name, arr] of params) expect(s.paramTensor(name)!.data).toBe(arr);
    const { x, y } = tinyBatch(4, 2);
    const before = await s.step(x, y);
    const w = params.get('classifier.weight')!;
    for (let i = 0; i < w.length; i++) w[i] -= 0.5 * before.grads.get('classifier.weight')![i];
    const after = await s.step(x, y);
    expect(after.loss).not.toBe(before.loss);
    // A fresh session over copies of the updated arrays computes the same loss: no stale copy.
    const fresh = await TrainingSession.create(model, new Map([...params].map(([k, v]) => [k, v.slice()])), { threads: 1 });
    expect((await fresh.step(x, y)).loss).toBe(after.loss);
    await Promise.all([s.release(), fresh.release()]);
  });

  it('a frozen featurizer gives a head-only graph with the same head gradients', async () => {
    const model = buildModel(TINY_CNN);
    const params = model.initParams(3);
    const frozen = new Set(model.params.filter((p) => p.group === 'featurizer').map((p) => p.name));
    const full = await TrainingSession.create(model, params, { threads: 1 });
    const head = await TrainingSession.create(model, params, { threads: 1, frozen });
    expect(head.graph.grads).toEqual(['classifier.weight', 'classifier.bias']);
    expect(head.graph.nodeCount).toBeLessThan(full.graph.nodeCount / 2);
    const { x, y } = tinyBatch(5, 4);
    const a = await full.step(x, y), b = await head.step(x, y);
    expect([...b.grads.keys()]).toEqual(['classifier.weight', 'classifier.bias']);
    expect(b.loss).toBeCloseTo(a.loss, 6);
    for (const [k, g] of b.grads) expect(relErr(g, a.grads.get(k)!)).toBeLessThan(1e-6);
    expect(() => model.trainingGraph({ frozen: new Set(['featurizer.nope']) })).toThrow('featurizer.nope is not a parameter');
  });

  it('draws dropout masks from the step seed: same seed same bits, other seed other loss', async () => {
    const model = buildModel(TINY_CNN);
    const s = await TrainingSession.create(model, model.initParams(5), { threads: 1, dropoutP: 0.5 });
    expect(s.graph.masks).toEqual([{ name: 'featurizer.dropout.mask', perExample: [16], p: 0.5 }]);
    const { x, y } = tinyBatch(4, 6);
    const a = await s.step(x, y, 42), b = await s.step(x, y, 42), c = await s.step(x, y, 43);
    expect(b.loss).toBe(a.loss);
    expect(b.grads.get('featurizer.conv1.weight')).toEqual(a.grads.get('featurizer.conv1.weight'));
    expect(c.loss).not.toBe(a.loss);
    await expect(s.step(x, y)).rejects.toThrow('seed: required');
  });

  it('writes BatchNorm running statistics back into the same buffers', async () => {
    const model = buildModel({ arch: 'resnet18', inputShape: [3, 32, 32], numClasses: 2, baseWidth: 2, batchNorm: 'train' });
    const params = model.initParams(7);
    const rm = params.get('featurizer.bn1.running_mean')!;
    const s = await TrainingSession.create(model, params, { threads: 1 });
    expect(s.graph.bufferUpdates).toHaveLength(2 * 20);
    const rng = new Rng(8, 'x');
    await s.step(Float32Array.from({ length: 2 * 3 * 32 * 32 }, () => 1 + rng.normal()), new BigInt64Array([0n, 1n]));
    expect(params.get('featurizer.bn1.running_mean')).toBe(rm);
    expect(rm.some((v) => v !== 0)).toBe(true);
    // Frozen BatchNorm has no running-statistics outputs.
    const frozen = buildModel({ arch: 'resnet18', inputShape: [3, 32, 32], numClasses: 2, baseWidth: 2 });
    expect(frozen.trainingGraph().bufferUpdates).toEqual([]);
  });

  it('rejects bad inputs with one-line errors naming the argument', async () => {
    const model = buildModel(TINY_CNN);
    const params = model.initParams(0);
    const s = await TrainingSession.create(model, params, { threads: 1 });
    const { x, y } = tinyBatch(2, 0);
    await expect(s.step(x.subarray(1), y)).rejects.toThrow(InputError);
    await expect(s.step(x, y.subarray(1))).rejects.toThrow('y: 1 labels for a batch of 2');
    const missing = new Map(params);
    missing.delete('featurizer.bn0.bias');
    await expect(TrainingSession.create(model, missing)).rejects.toThrow('params: missing featurizer.bn0.bias');
    await expect(createSession(model.forwardGraph().bytes, { threads: 0 })).rejects.toThrow('threads: 0 is not a positive integer');
  });

  it('names the missing CUDA provider instead of failing inside ORT', async () => {
    const main = createRequire(import.meta.url).resolve('onnxruntime-node');
    const lib = join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
    if (existsSync(lib)) return; // a CUDA-enabled install: nothing to check here
    await expect(createSession(buildModel(TINY_CNN).forwardGraph().bytes, { executionProvider: 'cuda' })).rejects.toThrow(/execution provider: cuda is not available/);
  });
});

describe('ForwardSession', () => {
  it('shares the parameter arrays and matches the training graph logits without dropout', async () => {
    const model = buildModel(TINY_CNN);
    const params = model.initParams(9);
    const f = await ForwardSession.create(model, params, { threads: 1 });
    const t = await TrainingSession.create(model, params, { threads: 1, logits: true });
    const { x, y } = tinyBatch(3, 10);
    const logits = await f.logits(x);
    expect(logits.length).toBe(9);
    expect(relErr(logits, (await t.step(x, y)).logits!)).toBeLessThan(1e-6);
    params.get('classifier.bias')![0] += 1;
    expect((await f.logits(x))[0]).toBeCloseTo(logits[0] + 1, 5);
  });
});
