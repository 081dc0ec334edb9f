// Multi-member graphs: M MNIST_CNN members stepped by one graph give each member exactly the loss
// and gradients of its own single-member graph (float64 reference: to round-off; ORT fp32: to
// fp32 round-off), the member head ops pass finite differences, and parameters are shared views.
import { describe, expect, it } from 'vitest';
import { compileTraining } from '../../src/graph/compile.js';
import { Rng } from '../../src/graph/init.js';
import { Net, numel } from '../../src/graph/ir.js';
import { buildModel } from '../../src/graph/models/index.js';
import { MultiTrainingSession } from '../../src/graph/multi-session.js';
import { memberCrossEntropy, memberLinear } from '../../src/graph/ops/index.js';
import { fillDropoutMask } from '../../src/graph/ops/dropout.js';
import { TrainingSession } from '../../src/graph/session.js';
import type { Feeds } from './helpers.js';
import { finiteDifferenceErrors, referenceFeeds, relErr } from './helpers.js';
import { evaluate } from './reference/eval.js';
import { tensor } from './reference/tensor.js';

const spec = { arch: 'mnist_cnn', inputShape: [2, 8, 8], numClasses: 3, width: 8 } as const;
const M = 3, N = 4, P = 0.3;

function memberBatch(m: number) {
  const rng = new Rng(100 + m, 'batch');
  return {
    x: Float32Array.from({ length: N * numel([...spec.inputShape]) }, () => rng.normal()),
    y: BigInt64Array.from({ length: N }, () => BigInt(Math.floor(rng.uniform() * spec.numClasses))),
  };
}

/** Non-trivial GroupNorm affines so their gradients are not degenerate. */
function memberParams(model: ReturnType<typeof buildModel>, m: number) {
  const p = model.initParams(m);
  const rng = new Rng(m, 'affine');
  for (const [k, v] of p) if (k.includes('.bn')) for (let i = 0; i < v.length; i++) v[i] = (k.endsWith('weight') ? 1 : 0) + 0.3 * rng.normal();
  return p;
}

describe('multi-member MNIST_CNN', () => {
  const model = buildModel(spec);
  const inits = Array.from({ length: M }, (_, m) => memberParams(model, m));
  const batches = Array.from({ length: M }, (_, m) => memberBatch(m));
  const seeds = [11, 12, 13];

  it('float64: the multi-member graph gives every member the loss and gradients of its single graph', () => {
    const multi = model.multi!(M);
    const graph = multi.trainingGraph({ dropoutP: P });
    const single = model.trainingGraph({ dropoutP: P });
    const [c, h, w] = spec.inputShape, per = c * h * w, f = model.featureDim;
    const x = new Float64Array(N * M * per), y: number[] = [], mask = new Float64Array(N * M * f);
    const singles = batches.map((b, m) => {
      const rng = new Rng(seeds[m], 'featurizer.dropout.mask');
      const keep = fillDropoutMask(new Float32Array(N * f), P, () => rng.uniform());
      for (let n = 0; n < N; n++) {
        x.set(b.x.subarray(n * per, (n + 1) * per), (n * M + m) * per);
        mask.set(keep.subarray(n * f, (n + 1) * f), (n * M + m) * f);
      }
      y.push(...Array.from(b.y, Number));
      const feeds = { x: tensor([N, c, h, w], b.x), y: tensor([N], Array.from(b.y, Number), 'int64'), 'featurizer.dropout.mask': tensor([N, f], keep) };
      for (const p of model.params) Object.assign(feeds, { [p.name]: tensor(p.shape, inits[m].get(p.name)!) });
      return evaluate(single.bytes, feeds);
    });
    const feeds = { x: tensor([N, M * c, h, w], x), y: tensor([M, N], y, 'int64'), 'featurizer.dropout.mask': tensor([N, M * f], mask) };
    for (const p of multi.params) {
      const size = numel(p.shape) / M, all = new Float64Array(M * size);
      inits.forEach((init, m) => all.set(init.get(p.name)!, m * size));
      Object.assign(feeds, { [p.name]: tensor(p.shape, all) });
    }
    const out = evaluate(graph.bytes, feeds);
    expect(graph.grads).toEqual(single.grads);
    for (let m = 0; m < M; m++) {
      expect(out.member_losses.data[m]).toBeCloseTo(singles[m].loss.data[0], 12);
      for (const p of graph.grads) {
        const size = singles[m][`grad.${p}`].data.length;
        expect(relErr(out[`grad.${p}`].data.subarray(m * size, (m + 1) * size), singles[m][`grad.${p}`].data), `member ${m} ${p}`).toBeLessThan(1e-12);
      }
    }
    expect(out.loss.data[0]).toBeCloseTo(singles.reduce((a, s) => a + s.loss.data[0], 0), 12);
  });

  it('ORT: one step of the M-member session equals M single-member sessions', async () => {
    const multi = await MultiTrainingSession.create(model, M, inits, { threads: 1, dropoutP: P });
    const r = await multi.step(batches.map((b) => b.x), batches.map((b) => b.y), seeds);
    for (let m = 0; m < M; m++) {
      const s = await TrainingSession.create(model, new Map([...inits[m]].map(([k, v]) => [k, v.slice()])), { threads: 1, dropoutP: P });
      const ref = await s.step(batches[m].x, batches[m].y, seeds[m]);
      await s.release();
      expect(Math.abs(r.losses[m] - ref.loss) / ref.loss).toBeLessThan(1e-6);
      for (const [k, g] of ref.grads) expect(relErr(r.grads[m].get(k)!, g), `member ${m} ${k}`).toBeLessThan(1e-5);
    }
    await multi.release();
  });

  it('member parameters are views of the stacked arrays ORT reads', async () => {
    const s = await MultiTrainingSession.create(model, M, inits, { threads: 1 });
    const w = s.memberParams[1].get('classifier.bias')!;
    expect(w.buffer).toBe(s.stacked.get('classifier.bias')!.buffer);
    expect([...w]).toEqual([...inits[1].get('classifier.bias')!]);
    const before = await s.step(batches.map((b) => b.x), batches.map((b) => b.y));
    w.fill(5);
    const after = await s.step(batches.map((b) => b.x), batches.map((b) => b.y));
    expect(after.losses[1]).not.toBe(before.losses[1]);
    expect(after.losses[0]).toBe(before.losses[0]);
    await s.release();
  });

  it('rejects bad member inputs and unsupported architectures with one line', async () => {
    const s = await MultiTrainingSession.create(model, 2, inits.slice(0, 2), { threads: 1 });
    await expect(s.step([batches[0].x], [batches[0].y])).rejects.toThrow('batch: 1 inputs and 1 label sets for 2 members');
    await expect(s.step([batches[0].x, batches[1].x.subarray(1)], [batches[0].y, batches[1].y])).rejects.toThrow(/^xs\[1\]:/);
    await s.release();
    await expect(MultiTrainingSession.create(model, 2, inits.slice(0, 1))).rejects.toThrow('inits: 1 parameter sets for 2 members');
    const r18 = buildModel({ arch: 'resnet18', inputShape: [3, 32, 32], numClasses: 2, baseWidth: 2 });
    await expect(MultiTrainingSession.create(r18, 2, [])).rejects.toThrow('members: multi-member graphs are not implemented for resnet18');
  });
});

describe('member head ops', () => {
  it('MemberLinear + MemberCrossEntropy: float64 finite differences', () => {
    const net = new Net();
    const x = net.input('x', ['N', 2 * 5]);
    const y = net.input('y', [2, 'N'], 'label');
    const logits = memberLinear(net, 'classifier', x, 2, 3);
    const loss = memberCrossEntropy(net, 'loss', logits, y);
    const graph = compileTraining({ net, x, y, logits, loss }, { gradInputs: ['x'] });
    const rng = new Rng(3, 'feeds');
    const floats = new Map<string, { dims: number[]; data: Float32Array }>();
    floats.set('x', { dims: [4, 10], data: Float32Array.from({ length: 40 }, () => rng.normal()) });
    for (const p of net.params) floats.set(p.name, { dims: p.shape, data: Float32Array.from({ length: numel(p.shape) }, () => rng.normal()) });
    const feeds: Feeds = { floats, labels: { dims: [2, 4], data: BigInt64Array.from([0n, 2n, 1n, 1n, 2n, 0n, 0n, 1n]) } };
    for (const [v, err] of finiteDifferenceErrors({ graph, net, feeds })) expect(err, v).toBeLessThan(1e-6);
    expect(evaluate(graph.bytes, referenceFeeds(feeds)).loss.data[0]).toBeGreaterThan(0);
  });
});
