// The SGD / Adam / AdamW classes: parameter groups with their own hyperparameters, M models in
// one native call, torch's first-step momentum rule, failure atomicity, reset, and a bit-identical
// resume from stateDict.
import { describe, expect, it } from 'vitest';
import { Adam, AdamW, SGD, adamStepTs, sgdStepTs } from '../../src/train/optim.js';
import { expectSameBits, seeded } from './helpers.js';

const SIZES = [7, 33, 1];
const model = (seed: number) => SIZES.map((s, i) => seeded(s, seed * 10 + i));
const gradsAt = (step: number, seed = 0) => SIZES.map((s, i) => seeded(s, 1000 + 97 * step + 10 * seed + i, 0.3));
const copy = (list: Float32Array[]) => list.map((a) => a.slice());

describe('SGD', () => {
  it('first momentum step sets the buffer to the gradient, without dampening', () => {
    const params = model(1);
    const opt = new SGD(params, { lr: 0.1, momentum: 0.9, dampening: 0.5 });
    expect(opt.groups[0].momentumBuffers).toBeNull();
    const g = gradsAt(0);
    opt.step(g);
    expectSameBits(opt.groups[0].momentumBuffers!, g, 'buffer after the first step');
    opt.step(g);
    // Second step: buf = 0.9*g + 0.5*g, rounded per op.
    const f = Math.fround;
    const want = g.map((a) => a.map((x) => f(f(x * f(0.9)) + f(f(0.5) * x))));
    const got = opt.groups[0].momentumBuffers!;
    got.forEach((b, i) => b.forEach((x, j) => expect(Math.abs(x - want[i][j])).toBeLessThanOrEqual(Math.abs(want[i][j]) * 2e-7)));
  });

  it('steps several groups with their own hyperparameters like separate optimizers', () => {
    const [a, b] = [model(1), model(2)];
    const together = new SGD([{ params: copy(a), lr: 0.1, momentum: 0.9, nesterov: true }, { params: copy(b), lr: 0.01, weightDecay: 0.1 }], { lr: 1 });
    const alone = [new SGD(copy(a), { lr: 0.1, momentum: 0.9, nesterov: true }), new SGD(copy(b), { lr: 0.01, weightDecay: 0.1 })];
    for (let s = 0; s < 4; s++) {
      together.step([...gradsAt(s, 1), ...gradsAt(s, 2)]);
      alone[0].step(gradsAt(s, 1));
      alone[1].step(gradsAt(s, 2));
    }
    expectSameBits(together.params(), [...alone[0].params(), ...alone[1].params()], 'groups vs separate');
    expect(together.groups.map((g) => g.steps)).toEqual([4, 4]);
  });

  it('forModels steps M models side by side, each with its own hyperparameters', () => {
    const models = [model(1), model(2), model(3)];
    const hp = [{ lr: 0.1, momentum: 0.9 }, { lr: 0.05, momentum: 0.5, dampening: 0.2 }, { lr: 0.2 }];
    const opt = SGD.forModels(models.map(copy), hp);
    const ref = models.map(copy);
    const bufs = models.map((m) => m.map((p) => new Float32Array(p.length)));
    for (let s = 0; s < 3; s++) {
      opt.stepGroups(models.map((_, k) => gradsAt(s, k)));
      sgdStepTs(ref.map((params, k) => ({
        params, grads: gradsAt(s, k), momentumBuffers: bufs[k], firstStep: s === 0,
        dampening: 0, weightDecay: 0, momentum: 0, ...hp[k],
      })));
    }
    opt.groups.forEach((g, k) => g.params.forEach((p, i) => {
      for (let j = 0; j < p.length; j++) expect(Math.abs(p[j] - ref[k][i][j])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(ref[k][i][j])));
    }));
  });

  it('validates like torch and commits nothing from a rejected step', () => {
    expect(() => new SGD(model(1), {})).toThrow(/lr must be a number/);
    expect(() => new SGD(model(1), { lr: 0.1, nesterov: true })).toThrow(/nesterov momentum requires/);
    expect(() => new SGD(model(1), { lr: -0.1 })).toThrow(RangeError);
    const p = model(1);
    expect(() => new SGD([{ params: p }, { params: [p[0]] }], { lr: 0.1 })).toThrow(/groups\[1\]\.params\[0\] is already in a parameter group/);
    const opt = new SGD(model(1), { lr: 0.1, momentum: 0.9 });
    expect(() => opt.step(gradsAt(0).slice(1))).toThrow(/got 2 gradients for 3 parameters/);
    const bad = gradsAt(0);
    bad[2] = new Float32Array(5);
    expect(() => opt.step(bad)).toThrow(/grads\[2\] has 5 elements but params\[2\] has 1/);
    expect(opt.groups[0].steps).toBe(0);
    expect(opt.groups[0].momentumBuffers).toBeNull();
    opt.groups[0].hparams.lr = -1;
    expect(() => opt.step(gradsAt(0))).toThrow(/lr must be a finite number >= 0/);
  });
});

describe('Adam and AdamW', () => {
  it('AdamW is Adam with decoupled decay and torch defaults', () => {
    const opt = new AdamW(model(1));
    expect(opt.groups[0].hparams).toEqual({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled: true, maximize: false });
    expect(new Adam(model(1)).groups[0].hparams.weightDecay).toBe(0);
  });

  it('keeps a step count per group and matches the reference loop', () => {
    const a = model(4);
    const opt = Adam.forModels([copy(a), copy(a)], [{ lr: 1e-2 }, { lr: 1e-2, weightDecay: 0.1, decoupled: true }], { backend: 'typescript' });
    const native = Adam.forModels([copy(a), copy(a)], [{ lr: 1e-2 }, { lr: 1e-2, weightDecay: 0.1, decoupled: true }]);
    for (let s = 0; s < 5; s++) {
      for (const o of [opt, native]) o.stepGroups([gradsAt(s), gradsAt(s)]);
    }
    expect(native.groups.map((g) => g.steps)).toEqual([5, 5]);
    native.params().forEach((p, i) => {
      const r = opt.params()[i];
      for (let j = 0; j < p.length; j++) expect(Math.abs(p[j] - r[j])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(r[j])));
    });
    // Coupled and decoupled decay really differ.
    expect(native.params()[0]).not.toEqual(native.params()[3]);
  });

  it('reset() gives the same next step as a fresh optimizer', () => {
    const start = model(5);
    const used = new Adam(copy(start), { lr: 1e-2 });
    for (let s = 0; s < 3; s++) used.step(gradsAt(s));
    used.reset();
    expect(used.groups[0].steps).toBe(0);
    const fresh = new Adam(copy(start), { lr: 1e-2 });
    // Same parameters in, same step out.
    used.params().forEach((p, i) => p.set(start[i]));
    used.step(gradsAt(7));
    fresh.step(gradsAt(7));
    expectSameBits(used.params(), fresh.params(), 'after reset');
  });

  it('adamStepTs rejects a step number below 1', () => {
    const p = model(1);
    expect(() => adamStepTs([{ params: p, grads: gradsAt(0), expAvg: copy(p), expAvgSq: copy(p), step: 0, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }]))
      .toThrow(/step must be an integer >= 1/);
  });
});

describe('stateDict resume', () => {
  const cases = [
    ['SGD with momentum', (p: Float32Array[][]) => SGD.forModels(p, [{ lr: 0.05, momentum: 0.9 }, { lr: 0.1, momentum: 0.8, nesterov: true, weightDecay: 1e-3 }])],
    ['Adam', (p: Float32Array[][]) => Adam.forModels(p, [{ lr: 1e-2 }, { lr: 3e-3, weightDecay: 0.01 }])],
    ['AdamW', (p: Float32Array[][]) => AdamW.forModels(p, { lr: 1e-2 })],
  ] as const;
  for (const [name, make] of cases) {
    it(`${name}: k steps, save, k more == restore into a fresh optimizer, k more (bit-identical)`, () => {
      const k = 4;
      const params = [model(1), model(2)];
      const opt = make(params);
      const grads = (s: number) => [gradsAt(s, 0), gradsAt(s, 1)];
      for (let s = 0; s < k; s++) opt.stepGroups(grads(s));
      const savedParams = params.map(copy);
      const saved = opt.stateDict();
      for (let s = k; s < 2 * k; s++) opt.stepGroups(grads(s));
      // The snapshot is a copy: later steps did not change it.
      expect(saved.groups[0].steps).toBe(k);

      const params2 = savedParams.map(copy);
      const resumed = make(params2);
      resumed.loadStateDict(saved as never);
      for (let s = k; s < 2 * k; s++) resumed.stepGroups(grads(s));
      expectSameBits(resumed.params(), opt.params(), `${name} resumed params`);
      expectSameBits(
        Object.values(resumed.stateDict().groups[1].buffers).flatMap((b) => b ?? []),
        Object.values(opt.stateDict().groups[1].buffers).flatMap((b) => b ?? []),
        `${name} resumed state`,
      );
      expect(resumed.groups.map((g) => g.steps)).toEqual([2 * k, 2 * k]);
    });
  }

  it('rejects a state for other shapes or another optimizer without changing anything', () => {
    const opt = new Adam(model(1), { lr: 1e-2 });
    opt.step(gradsAt(0));
    const good = opt.stateDict();
    const other = new Adam([new Float32Array(7), new Float32Array(33), new Float32Array(2)]);
    expect(() => other.loadStateDict(good)).toThrow(/saved parameter sizes \[7,33,1\] differ from \[7,33,2\]/);
    expect(() => new SGD(model(1), { lr: 0.1 }).loadStateDict(good as never)).toThrow(/state is for 'adam', not 'sgd'/);
    const broken = opt.stateDict();
    broken.groups[0].buffers.expAvgSq = null;
    const fresh = new Adam(model(1));
    expect(() => fresh.loadStateDict(broken)).toThrow(/buffers\.expAvgSq must hold 3 Float32Arrays/);
    expect(fresh.groups[0].steps).toBe(0);
    expect(fresh.groups[0].hparams.lr).toBe(1e-3);
  });
});
