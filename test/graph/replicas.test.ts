// Data-parallel replicas: the row-weighted gradients of the slices are the whole batch's gradient
// (equal up to fp32 summation order), dropout masks do not depend on the split, a replicated run
// is bit-reproducible, the plan keeps BatchNorm-in-training and CUDA graphs whole, and a replica's
// failure surfaces as an error instead of a hang.
import { describe, expect, it } from 'vitest';
import { buildModel } from '../../src/graph/models/index.js';
import { createTrainingSession, macsPerExample, MIN_MACS_PER_PARAM, planReplicas, ReplicatedTrainingSession } from '../../src/graph/replicas.js';
import { TrainingSession } from '../../src/graph/session.js';
import { relErr, TINY_CNN, tinyBatch } from './helpers.js';

describe('ReplicatedTrainingSession', () => {
  it('gives the whole batch gradient and loss, for even and uneven splits, with dropout', async () => {
    const model = buildModel(TINY_CNN);
    const params = model.initParams(1);
    const one = await TrainingSession.create(model, params, { threads: 1, dropoutP: 0.3 });
    for (const [replicas, n] of [[2, 8], [3, 7]] as const) {
      const rep = await ReplicatedTrainingSession.create(model, params, replicas, { dropoutP: 0.3 });
      expect(rep.graph.grads).toEqual(one.graph.grads);
      const { x, y } = tinyBatch(n, replicas);
      const a = await one.step(x, y, 11);
      const b = await rep.step(x, y, 11);
      expect(b.loss).toBeCloseTo(a.loss, 5);
      for (const [k, g] of a.grads) expect(relErr(b.grads.get(k)!, g)).toBeLessThan(1e-5);
      // Another dropout seed changes the loss in both alike.
      const c = await one.step(x, y, 12), d = await rep.step(x, y, 12);
      expect(d.loss).not.toBeCloseTo(b.loss, 5);
      expect(d.loss).toBeCloseTo(c.loss, 5);
      await rep.release();
    }
    await one.release();
  });

  it('sees in-place updates of the master arrays and repeats bit for bit', async () => {
    const model = buildModel(TINY_CNN);
    const run = async () => {
      const params = model.initParams(2);
      const rep = await ReplicatedTrainingSession.create(model, params, 2);
      const { x, y } = tinyBatch(6, 3);
      const losses: number[] = [];
      for (let t = 0; t < 3; t++) {
        const r = await rep.step(x, y);
        losses.push(r.loss);
        for (const [k, g] of r.grads) {
          const w = params.get(k)!;
          for (let i = 0; i < w.length; i++) w[i] -= 0.1 * g[i];
        }
      }
      await rep.release();
      return { losses, w: params.get('featurizer.conv1.weight')! };
    };
    const a = await run(), b = await run();
    expect(a.losses[2]).toBeLessThan(a.losses[0]); // the updates reached the replicas
    expect(b.losses).toEqual(a.losses);
    expect(Buffer.from(b.w.buffer).equals(Buffer.from(a.w.buffer))).toBe(true);
  });

  it('rejects a bad batch, and fails a step (not hangs) when a replica fails, then steps again', async () => {
    const model = buildModel(TINY_CNN);
    const rep = await ReplicatedTrainingSession.create(model, model.initParams(0), 2);
    const { x, y } = tinyBatch(4, 1);
    await expect(rep.step(x, y.slice(0, 3))).rejects.toThrow('3 labels for a batch of 4');
    const bad = y.slice();
    bad[3] = 7n; // a label outside the 3 classes makes ORT's loss kernel throw in the replica
    await expect(rep.step(x, bad)).rejects.toThrow(/training replica/);
    expect((await rep.step(x, y)).loss).toBeGreaterThan(0); // every replica settled and is usable again
    await rep.release();
    await expect(rep.step(x, y)).rejects.toThrow('after release');
  });
});

describe('planReplicas / createTrainingSession', () => {
  it('one single-threaded replica per thread while each keeps 16 rows, where compute per parameter pays for the traffic', () => {
    const cpu = { cuda: false, updatesBuffers: false, macsPerParam: MIN_MACS_PER_PARAM };
    expect(planReplicas(2, 64, 'auto', cpu)).toEqual({ replicas: 2, threadsEach: 1 });
    expect(planReplicas(16, 64, 'auto', cpu)).toEqual({ replicas: 4, threadsEach: 4 });
    expect(planReplicas(2, 16, 'auto', cpu)).toEqual({ replicas: 1, threadsEach: 2 });
    expect(planReplicas(4, 64, 3, cpu)).toEqual({ replicas: 3, threadsEach: 1 });
    expect(planReplicas(2, 64, 'auto', { ...cpu, macsPerParam: MIN_MACS_PER_PARAM - 1 }).replicas).toBe(1);
    expect(planReplicas(2, 64, 2, { ...cpu, macsPerParam: 1 }).replicas).toBe(2); // asked for
    expect(planReplicas(2, 64, 'auto', { ...cpu, cuda: true }).replicas).toBe(1);
    expect(planReplicas(2, 64, 2, { ...cpu, updatesBuffers: true }).replicas).toBe(1);
  });

  it('counts the forward multiply-adds of DomainBed\'s MNIST_CNN', () => {
    const model = buildModel({ arch: 'mnist_cnn', inputShape: [1, 28, 28], numClasses: 10, width: 64 });
    const conv = (co: number, ci: number, side: number) => co * ci * 9 * side * side;
    expect(macsPerExample(model.roles.net)).toBe(conv(64, 1, 28) + conv(128, 64, 14) + 2 * conv(128, 128, 14) + 128 * 10);
  });

  it('replicates MNIST_CNN at batch 64 on 2 threads, not a tiny net, and never a training-mode BatchNorm ResNet', async () => {
    const cnn = buildModel({ arch: 'mnist_cnn', inputShape: [1, 28, 28], numClasses: 10, width: 64 });
    const a = await createTrainingSession(cnn, cnn.initParams(0), { threads: 2, batch: 64, replicas: 'auto' });
    expect(a).toBeInstanceOf(ReplicatedTrainingSession);
    await a.release();
    const tiny = buildModel(TINY_CNN);
    const b = await createTrainingSession(tiny, tiny.initParams(0), { threads: 2, batch: 64, replicas: 'auto' });
    expect(b).toBeInstanceOf(TrainingSession);
    await b.release();
    const resnet = buildModel({ arch: 'resnet18', inputShape: [3, 16, 16], numClasses: 3, baseWidth: 4, batchNorm: 'train' });
    const c = await createTrainingSession(resnet, resnet.initParams(0), { threads: 2, batch: 64, replicas: 2 });
    expect(c).toBeInstanceOf(TrainingSession);
    expect(c.graph.bufferUpdates.length).toBeGreaterThan(0);
    await c.release();
  });
});
