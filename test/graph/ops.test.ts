// Every op family's backward rule against float64 central finite differences of the emitted
// graph (reference interpreter), and ORT's fp32 execution of the same graph against float64.
import { describe, expect, it } from 'vitest';
import { compileTraining } from '../../src/graph/compile.js';
import { Net } from '../../src/graph/ir.js';
import type { OpDef, Tuning } from '../../src/graph/op.js';
import { OPS } from '../../src/graph/ops/index.js';
import { add, batchNorm, conv2d, crossEntropy, dropout, globalAvgPool, groupNorm, linear, maxPool, relu, reshape } from '../../src/graph/ops/index.js';
import type { OpCase } from './helpers.js';
import { finiteDifferenceErrors, opCase as makeCase, referenceFeeds, relErr, runOrt } from './helpers.js';
import { evaluate } from './reference/eval.js';

// Every case runs under the default formulations and under the alternatives (Tuning), so each
// lowering and backward rule the compiler can emit is checked.
const TUNINGS: Record<string, Partial<Tuning>> = {
  default: {},
  alternative: { convWeightGrad: 'gather', convInputGrad: 'conv', norm: 'decomposed', reluGrad: 'where' },
  'batch-minor dW': { convWeightGrad: 'batchMinor' },
  // Every 3×3 stride-1 convolution without groups, whatever its channels: odd, padded and non-square tiles.
  'winograd F(2, 3)': { convWinograd: 'F2' },
  'winograd F(4, 3)': { convWinograd: 'F4' },
};
let tuning: Partial<Tuning> = {};
const opCase = (input: number[], build: (net: Net, x: string) => string, o: { dropoutP?: number } = {}) => makeCase(input, build, { ...o, tuning });

const cases: Record<string, () => OpCase> = {
  'conv 3×3 s1 p1 (batched dW)': () => opCase([2, 3, 6, 6], (n, x) => conv2d(n, 'featurizer.c', x, { out: 4, k: 3, pad: 1 })),
  'conv 3×3 s1 p1, odd non-square input': () => opCase([2, 3, 5, 7], (n, x) => conv2d(n, 'featurizer.c', x, { out: 4, k: 3, pad: 1 })),
  'conv 3×3 s1 p2, no bias': () => opCase([2, 2, 4, 3], (n, x) => conv2d(n, 'featurizer.c', x, { out: 3, k: 3, pad: 2, bias: false })),
  'conv 3×3 s1 p0': () => opCase([2, 2, 6, 6], (n, x) => conv2d(n, 'featurizer.c', x, { out: 3, k: 3 })),
  'conv 3×3 s2 p1, odd input': () => opCase([2, 3, 7, 7], (n, x) => conv2d(n, 'featurizer.c', x, { out: 4, k: 3, stride: 2, pad: 1 })),
  'conv 3×3 s2 p1, even input (output_padding)': () => opCase([2, 3, 6, 6], (n, x) => conv2d(n, 'featurizer.c', x, { out: 4, k: 3, stride: 2, pad: 1 })),
  'conv 3×3 s2, non-square input': () => opCase([2, 2, 6, 5], (n, x) => conv2d(n, 'featurizer.c', x, { out: 3, k: 3, stride: 2, pad: 1 })),
  'conv 1×1 s1 no bias': () => opCase([2, 4, 5, 5], (n, x) => conv2d(n, 'featurizer.c', x, { out: 6, k: 1, bias: false })),
  'conv 1×1 s2 no bias': () => opCase([2, 4, 6, 6], (n, x) => conv2d(n, 'featurizer.c', x, { out: 8, k: 1, stride: 2, bias: false })),
  'conv 7×7 s2 p3 (stem)': () => opCase([2, 3, 9, 9], (n, x) => conv2d(n, 'featurizer.c', x, { out: 4, k: 7, stride: 2, pad: 3, bias: false })),
  'conv Co > Ho·Wo (Gemm dW)': () => opCase([2, 3, 3, 3], (n, x) => conv2d(n, 'featurizer.c', x, { out: 16, k: 3, pad: 1 })),
  'conv strided Co > Ho·Wo (Gemm dW)': () => opCase([2, 3, 4, 4], (n, x) => conv2d(n, 'featurizer.c', x, { out: 8, k: 3, stride: 2, pad: 1 })),
  'conv 16 channels s1 (auto: gather dW)': () => opCase([2, 16, 5, 4], (n, x) => conv2d(n, 'featurizer.c', x, { out: 3, k: 3, pad: 1 })),
  'conv 16 channels s2 p1, even (auto: gather dW)': () => opCase([2, 16, 6, 6], (n, x) => conv2d(n, 'featurizer.c', x, { out: 3, k: 3, stride: 2, pad: 1 })),
  'conv groups 2': () => opCase([2, 4, 5, 5], (n, x) => conv2d(n, 'featurizer.c', x, { out: 6, k: 3, pad: 1, groups: 2 })),
  'conv depthwise': () => opCase([2, 4, 5, 5], (n, x) => conv2d(n, 'featurizer.c', x, { out: 4, k: 3, pad: 1, groups: 4 })),
  'conv depthwise s2': () => opCase([2, 4, 6, 6], (n, x) => conv2d(n, 'featurizer.c', x, { out: 4, k: 3, stride: 2, pad: 1, groups: 4 })),
  linear: () => opCase([3, 5], (n, x) => linear(n, 'classifier', x, 4)),
  'linear no bias': () => opCase([3, 5], (n, x) => linear(n, 'classifier', x, 4, false)),
  relu: () => opCase([3, 2, 3, 3], (n, x) => relu(n, 'r', conv2d(n, 'featurizer.c', x, { out: 3, k: 3, pad: 1 }))),
  groupNorm: () => opCase([2, 4, 3, 3], (n, x) => groupNorm(n, 'featurizer.gn', x, 2)),
  'conv → relu → groupNorm (MNIST block)': () =>
    opCase([3, 2, 4, 4], (n, x) => groupNorm(n, 'featurizer.gn', relu(n, 'r', conv2d(n, 'featurizer.c', x, { out: 4, k: 3, pad: 1 })), 2)),
  'batchNorm frozen': () => opCase([2, 3, 4, 4], (n, x) => batchNorm(n, 'featurizer.bn', x, 'frozen')),
  'batchNorm train': () => opCase([3, 3, 4, 4], (n, x) => batchNorm(n, 'featurizer.bn', x, 'train')),
  'maxPool 3×3 s2 p1, odd': () => opCase([2, 2, 7, 7], (n, x) => maxPool(n, 'mp', x, 3, 2, 1)),
  'maxPool 3×3 s2 p1, even': () => opCase([2, 2, 6, 6], (n, x) => maxPool(n, 'mp', x, 3, 2, 1)),
  globalAvgPool: () => opCase([2, 3, 4, 5], (n, x) => globalAvgPool(n, 'gap', x)),
  dropout: () => opCase([4, 6], (n, x) => linear(n, 'classifier', dropout(n, 'drop', x), 3), { dropoutP: 0.3 }),
  'residual add (fan-out summed)': () =>
    opCase([2, 3, 4, 4], (n, x) => relu(n, 'out', add(n, 'add', relu(n, 'r', conv2d(n, 'featurizer.c', x, { out: 3, k: 3, pad: 1 })), x))),
  'reshape + cross-entropy': () => opCase([3, 2, 3], (n, x) => reshape(n, 'rs', x, [6])),
};

// Float64 FD with h = 1e-5 is accurate to ~1e-9 relative on these smooth, O(1) tiny problems;
// 1e-6 leaves margin while still catching any wrong term (those show as O(1e-2) or more).
const FD_TOL = 1e-6;
// ORT computes in fp32: measured round-off on these sizes is ≤ ~2e-7 relative; 1e-5 leaves margin.
const ORT_TOL = 1e-5;

describe.each(Object.entries(TUNINGS))('op backward rules (%s formulations)', (_, t) => {
  const make = (name: string) => {
    tuning = t;
    return cases[name]();
  };
  for (const name of Object.keys(cases)) {
    it(`${name}: float64 finite differences`, () => {
      const c = make(name);
      const errs = finiteDifferenceErrors(c);
      expect(errs.size).toBe(c.graph.grads.length + 1);
      for (const [v, err] of errs) expect(err, `${name}: grad.${v}`).toBeLessThan(FD_TOL);
    });

    it(`${name}: ORT fp32 agrees with the float64 reference`, async () => {
      const c = make(name);
      const ref = evaluate(c.graph.bytes, referenceFeeds(c.feeds));
      const got = await runOrt(c.graph.bytes, c.feeds);
      for (const [k, r] of Object.entries(ref)) expect(relErr(got[k], r.data), `${name}: ${k}`).toBeLessThan(ORT_TOL);
    });
  }

  it('batchNorm train: next running statistics use momentum 0.1 and the unbiased variance', () => {
    const c = make('batchNorm train');
    const out = evaluate(c.graph.bytes, referenceFeeds(c.feeds));
    const x = c.feeds.floats.get('x')!, [N, C, H, W] = x.dims, M = N * H * W;
    const rm = c.feeds.floats.get('featurizer.bn.running_mean')!.data, rv = c.feeds.floats.get('featurizer.bn.running_var')!.data;
    expect(c.graph.bufferUpdates).toEqual(['featurizer.bn.running_mean', 'featurizer.bn.running_var']);
    for (let ch = 0; ch < C; ch++) {
      const vals: number[] = [];
      for (let n = 0; n < N; n++) for (let i = 0; i < H * W; i++) vals.push(x.data[(n * C + ch) * H * W + i]);
      const mean = vals.reduce((a, b) => a + b, 0) / M;
      const unbiased = vals.reduce((a, b) => a + (b - mean) ** 2, 0) / (M - 1);
      // The momentum constants are float32 in the graph, hence 1e-7.
      expect(out['next.featurizer.bn.running_mean'].data[ch]).toBeCloseTo(0.9 * rm[ch] + 0.1 * mean, 7);
      expect(out['next.featurizer.bn.running_var'].data[ch]).toBeCloseTo(0.9 * rv[ch] + 0.1 * unbiased, 7);
    }
  });

  it('a missing backward rule throws naming the op and the node', () => {
    const table = OPS as Record<string, OpDef>;
    table.NoGrad = { lower: (c, n) => void c.e.node('Identity', n.inputs, n.outputs[0]) };
    try {
      const net = new Net();
      const x = net.input('x', ['N', 4]);
      const y = net.input('y', ['N'], 'label');
      const h = net.add('NoGrad', 'mystery', [linear(net, 'classifier', x, 4)], [['N', 4]], {})[0];
      const loss = crossEntropy(net, 'loss', h, y);
      expect(() => compileTraining({ net, x, y, logits: h, loss })).toThrow("node mystery: op 'NoGrad' has no backward rule");
      // Nothing to differentiate below it: no rule needed.
      expect(() => compileTraining({ net, x, y, logits: h, loss }, { frozen: new Set(['classifier.weight', 'classifier.bias']) })).not.toThrow();
    } finally {
      delete table.NoGrad;
    }
  });
});
