// MNIST_CNN and small ResNet-18/50 training graphs against PyTorch 1.13 autograd on the same
// weights, batch and dropout mask (fixtures from scripts/gen_graph_fixtures.py, float64 torch).
import { describe, expect, it } from 'vitest';
import type { ModelSpec } from '../../src/graph/models/index.js';
import { buildModel } from '../../src/graph/models/index.js';
import type { Tuning } from '../../src/graph/op.js';
import { nchwcBlockSize } from '../../src/graph/session.js';
import type { Feeds } from './helpers.js';
import { referenceFeeds, relErr, runOrt } from './helpers.js';
import { readFixture } from './fixtures.js';
import { evaluate } from './reference/eval.js';

const CASES = ['mnist_cnn', 'resnet18', 'resnet50', 'resnet18_bntrain'];

// Our float64 interpreter vs torch float64 on identical fp32 inputs: only summation order and
// the fixture's fp32 storage of the gradients (~6e-8 relative) separate them.
const F64_TOL = 1e-6;
// ORT fp32 vs torch float64. fp32 round-off alone is ~1e-6..1e-5 here; a ReLU whose
// pre-activation is within fp32 round-off of 0 can flip and move a gradient by ~1e-3 (see
// ort-training-prototype.md §2). These small batches have no such flip (checked: worst error is
// printed below: ≤ 1e-5), so 1e-4 is kept tight enough to catch a wrong term.
const F32_TOL = 1e-4;

/** `nchwcBlock`: lower the convolutions to ORT's NCHWc kernels for that block, as TrainingSession does. */
function load(name: string, nchwcBlock = 0, tuning: Partial<Tuning> = {}) {
  const fx = readFixture(`${name}.safetensors`);
  const spec = JSON.parse(fx.meta.spec) as ModelSpec;
  const model = buildModel(spec);
  const dropoutP = Number(fx.meta.dropout_p);
  const graph = model.trainingGraph({ dropoutP, logits: true, nchwcBlock, tuning });
  const floats = new Map<string, { dims: number[]; data: Float32Array }>();
  for (const p of model.params) floats.set(p.name, { dims: p.shape, data: fx.f32(`param.${p.name}`) });
  floats.set('x', { dims: fx.shape('x'), data: fx.f32('x') });
  floats.set('featurizer.dropout.mask', { dims: fx.shape('mask'), data: fx.f32('mask') });
  const feeds: Feeds = { floats, labels: { dims: fx.shape('y'), data: fx.i64('y') } };
  return { fx, model, graph, feeds, loss: Number(fx.meta.loss) };
}

describe('models against PyTorch autograd', () => {
  for (const name of CASES) {
    it(`${name}: parameter names, shapes and order are the torch state_dict's`, () => {
      const { fx, model } = load(name);
      const torchParams = fx.names.filter((n) => n.startsWith('param.')).map((n) => [n.slice(6), fx.shape(n)]);
      expect(model.params.map((p) => [p.name, p.shape])).toEqual(torchParams);
    });

    it(`${name}: float64 reference evaluation of the training graph equals torch float64`, () => {
      const { fx, graph, feeds, loss } = load(name);
      const out = evaluate(graph.bytes, referenceFeeds(feeds));
      expect(Math.abs(out.loss.data[0] - loss) / loss).toBeLessThan(1e-9);
      let worst = 0;
      for (const p of graph.grads) {
        const err = relErr(out[`grad.${p}`].data, fx.f32(`grad.${p}`));
        worst = Math.max(worst, err);
        expect(err, p).toBeLessThan(F64_TOL);
      }
      console.log(`${name}: worst float64 reference-vs-torch gradient error ${worst.toExponential(2)}`);
      for (const b of graph.bufferUpdates) expect(relErr(out[`next.${b}`].data, fx.f32(`next.${b}`)), b).toBeLessThan(F64_TOL);
      expect(graph.grads.length).toBe(fx.names.filter((n) => n.startsWith('grad.')).length);
    });

    it(`${name}: float64 reference of the NCHWc-lowered training graph (block 8) equals torch float64`, () => {
      const { fx, graph, feeds } = load(name, 8);
      const out = evaluate(graph.bytes, referenceFeeds(feeds), graph.grads.map((p) => `grad.${p}`), 8);
      for (const p of graph.grads) expect(relErr(out[`grad.${p}`].data, fx.f32(`grad.${p}`)), p).toBeLessThan(F64_TOL);
    });

    // The fixtures' layers are narrower than the auto tuning's Winograd threshold, so force it.
    for (const tile of ['F2', 'F4'] as const) {
      it(`${name}: float64 reference and ORT fp32 with every 3×3 stride-1 conv as Winograd ${tile} equal torch`, async () => {
        const { fx, graph, feeds } = load(name, 0, { convWinograd: tile });
        expect(Buffer.from(graph.bytes).includes('wino/V')).toBe(true);
        const out = evaluate(graph.bytes, referenceFeeds(feeds), graph.grads.map((p) => `grad.${p}`));
        // F(4, 3)'s filter transform holds 1/6, 1/12 and 1/24, which the graph stores as fp32: the
        // float64 evaluation then convolves with weights off by ~1e-8 relative, which training-mode
        // BatchNorm's gradients amplify to ~2e-6. A wrong term would still show as 1e-2 or more.
        const tol = tile === 'F4' ? 1e-5 : F64_TOL;
        for (const p of graph.grads) expect(relErr(out[`grad.${p}`].data, fx.f32(`grad.${p}`)), p).toBeLessThan(tol);
        const ort = await runOrt(graph.bytes, feeds);
        let worst = 0;
        for (const p of graph.grads) {
          const err = relErr(ort[`grad.${p}`], fx.f32(`grad.${p}`));
          worst = Math.max(worst, err);
          expect(err, p).toBeLessThan(F32_TOL);
        }
        console.log(`${name}: Winograd ${tile}, worst ORT-vs-torch gradient error ${worst.toExponential(2)}`);
      });
    }

    it(`${name}: ORT fp32 training graph (NCHWc kernels where they fit, as sessions build it) agrees with torch float64`, async () => {
      const { fx, graph, feeds, loss } = load(name, await nchwcBlockSize());
      const out = await runOrt(graph.bytes, feeds);
      expect(Math.abs(out.loss[0] - loss) / loss).toBeLessThan(1e-6);
      let worst = 0;
      for (const p of graph.grads) {
        const err = relErr(out[`grad.${p}`], fx.f32(`grad.${p}`));
        worst = Math.max(worst, err);
        expect(err, p).toBeLessThan(F32_TOL);
      }
      for (const b of graph.bufferUpdates) expect(relErr(out[`next.${b}`], fx.f32(`next.${b}`)), b).toBeLessThan(1e-5);
      console.log(`${name}: ${graph.nodeCount} nodes, worst ORT-vs-torch gradient error ${worst.toExponential(2)}`);
    });

    it(`${name}: forward and exported graphs give torch's eval-mode logits`, async () => {
      const { fx, model, feeds } = load(name);
      const forward = await runOrt(model.forwardGraph().bytes, feeds, false);
      const weights = new Map(model.params.map((p) => [p.name, fx.f32(`param.${p.name}`)]));
      const exported = await runOrt(model.exportGraph(weights).bytes, { floats: new Map([['x', feeds.floats.get('x')!]]), labels: feeds.labels }, false);
      expect(relErr(forward.logits, fx.f32('logits_eval'))).toBeLessThan(1e-5);
      expect(relErr(exported.logits, forward.logits)).toBeLessThan(1e-6);
    });
  }
});
