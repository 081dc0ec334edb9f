// Conv2d lowered to onnxruntime's NCHWc kernels (src/graph/ops/nchwc.ts): the blocked graph's
// gradients against float64 finite differences (reference interpreter, any block size), and ORT's
// real kernels at this machine's block size against the float64 reference of the same graph.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import type { Net } from '../../src/graph/ir.js';
import { conv2d, groupNorm, relu } from '../../src/graph/ops/index.js';
import { nchwcBlockSize } from '../../src/graph/session.js';
import { finiteDifferenceErrors, opCase, referenceFeeds, relErr, runOrt } from './helpers.js';
import { evaluate } from './reference/eval.js';

type Build = (net: Net, x: string) => string;

/** The cases for block B: [input shape, network]; each exercises a different filter layout. */
function cases(B: number): Record<string, [number[], Build]> {
  return {
    // Forward OIHWBiBo, dX OIHWBiBo (transposed + flipped).
    'blocked in and out, 3×3 s1 p1': [[2, B, 5, 4], (n, x) => conv2d(n, 'featurizer.c', x, { out: B, k: 3, pad: 1 })],
    // Strided forward (dX stays ConvTranspose), even and odd input, non-square map, 5×5.
    'blocked, 3×3 s2 p1, even input': [[2, B, 6, 4], (n, x) => conv2d(n, 'featurizer.c', x, { out: 2 * B, k: 3, stride: 2, pad: 1 })],
    'blocked, 3×3 s2 p1, odd input': [[2, B, 7, 7], (n, x) => conv2d(n, 'featurizer.c', x, { out: B, k: 3, stride: 2, pad: 1 })],
    'blocked, 5×5 s2 p2, no bias': [[2, B, 8, 8], (n, x) => conv2d(n, 'featurizer.c', x, { out: B, k: 5, stride: 2, pad: 2, bias: false })],
    // Forward with NCHW input (OIHWBo) and the ReLU fused into the kernel.
    'NCHW input (Ci < B) → fused ReLU': [[2, 3, 5, 5], (n, x) => relu(n, 'r', conv2d(n, 'featurizer.c', x, { out: B, k: 3, pad: 1 }))],
    // Forward not blocked (Co < B); dX with NCHW input (transposed OIHWBo).
    'dX only (Co < B), no bias': [[2, B, 4, 5], (n, x) => conv2d(n, 'featurizer.c', x, { out: 2, k: 3, pad: 1, bias: false })],
    '1×1, blocked': [[2, B, 3, 3], (n, x) => conv2d(n, 'featurizer.c', x, { out: B, k: 1 })],
    'conv → ReLU → GroupNorm → conv (MNIST blocks)': [[2, 1, 6, 6], (n, x) => {
      const h = groupNorm(n, 'featurizer.bn0', relu(n, 'r1', conv2d(n, 'featurizer.conv1', x, { out: B, k: 3, pad: 1 })), 2);
      return relu(n, 'r2', conv2d(n, 'featurizer.conv2', h, { out: B, k: 3, pad: 1 }));
    }],
  };
}

const nchwcNodes = (bytes: Uint8Array) =>
  onnxProto.onnx.ModelProto.decode(bytes).graph!.node!.filter((n) => n.domain === 'com.microsoft.nchwc').map((n) => n.opType);

describe('NCHWc convolution lowering', () => {
  // A small block keeps float64 finite differences cheap; the layouts are the same for any B.
  for (const [name, [input, build]] of Object.entries(cases(4))) {
    it(`${name}: float64 finite differences (block 4)`, () => {
      const c = opCase(input, build, { nchwcBlock: 4 });
      expect(nchwcNodes(c.graph.bytes)).toContain('Conv');
      for (const [v, err] of finiteDifferenceErrors(c)) expect(err, `${name}: grad.${v}`).toBeLessThan(1e-6);
    });
  }

  it('the blocked graph computes what the standard one does (float64, block 4)', () => {
    for (const [name, [input, build]] of Object.entries(cases(4))) {
      const blocked = opCase(input, build, { nchwcBlock: 4 }), plain = opCase(input, build);
      expect(nchwcNodes(plain.graph.bytes)).toEqual([]);
      const a = evaluate(blocked.graph.bytes, referenceFeeds(blocked.feeds), undefined, 4);
      const b = evaluate(plain.graph.bytes, referenceFeeds(plain.feeds));
      for (const [k, r] of Object.entries(b)) expect(relErr(a[k].data, r.data), `${name}: ${k}`).toBeLessThan(1e-12);
    }
  });

  it('onnxruntime reports its block size and its kernels agree with the float64 reference', async () => {
    const B = await nchwcBlockSize();
    expect([4, 8, 16]).toContain(B);
    for (const [name, [input, build]] of Object.entries(cases(B))) {
      const c = opCase(input, build, { nchwcBlock: B });
      const ref = evaluate(c.graph.bytes, referenceFeeds(c.feeds), undefined, B);
      const got = await runOrt(c.graph.bytes, c.feeds);
      for (const [k, r] of Object.entries(ref)) expect(relErr(got[k], r.data), `${name}: ${k}`).toBeLessThan(1e-5);
    }
  });

  it('channels that do not fit the block, grouped convolutions and convLayout nchw use the standard Conv', () => {
    const odd = opCase([2, 6, 4, 4], (n, x) => conv2d(n, 'featurizer.c', x, { out: 6, k: 3, pad: 1 }), { nchwcBlock: 4 });
    const grouped = opCase([2, 8, 4, 4], (n, x) => conv2d(n, 'featurizer.c', x, { out: 8, k: 3, pad: 1, groups: 2 }), { nchwcBlock: 4 });
    const off = opCase([2, 8, 4, 4], (n, x) => conv2d(n, 'featurizer.c', x, { out: 8, k: 3, pad: 1 }), { nchwcBlock: 4, tuning: { convLayout: 'nchw' } });
    for (const c of [odd, grouped, off]) expect(nchwcNodes(c.graph.bytes)).toEqual([]);
  });
});
