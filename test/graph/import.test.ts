// Import of real torch.onnx.export models (scripts/gen_import_fixtures.py): forward equals torch's
// logits and the original model's in ORT, gradients of the imported training graph equal torch
// autograd (float64 reference: tightly; ORT fp32: to fp32 round-off), fine-tuning lowers the
// loss, splits and head resizing, and one-line errors for unsupported ops and garbage.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { importOnnxModel } from '../../src/graph/import.js';
import { Rng } from '../../src/graph/init.js';
import { TrainingSession } from '../../src/graph/session.js';
import { readFixture } from './fixtures.js';
import type { Feeds } from './helpers.js';
import { referenceFeeds, relErr, runOrt } from './helpers.js';
import { evaluate } from './reference/eval.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/import/${name}`, import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'rt-import-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const CASES = ['mnist_cnn', 'mnist_cnn_nofold', 'resnet'];

async function load(name: string, opts = {}) {
  const fx = readFixture(`${name}.safetensors`, 'import');
  const { model, params } = await importOnnxModel(fixture(`${name}.onnx`), opts);
  const floats = new Map([...params].map(([k, v]) => [k, { dims: model.params.find((p) => p.name === k)!.shape, data: v }]));
  floats.set('x', { dims: fx.shape('x'), data: fx.f32('x') });
  const feeds: Feeds = { floats, labels: { dims: fx.shape('y'), data: fx.i64('y') } };
  return { fx, model, params, feeds, loss: Number(fx.meta.loss) };
}

describe('importOnnxModel on torch.onnx.export models', () => {
  for (const name of CASES) {
    it(`${name}: forward and export give torch's logits and the original model's`, async () => {
      const { fx, model, params, feeds } = await load(name);
      const forward = await runOrt(model.forwardGraph().bytes, feeds, false);
      expect(relErr(forward.logits, fx.f32('logits'))).toBeLessThan(1e-5);
      const s = await ort.InferenceSession.create(fixture(`${name}.onnx`));
      const original = (await s.run({ x: new ort.Tensor('float32', fx.f32('x'), fx.shape('x')) })).logits.data as Float32Array;
      const exported = await runOrt(model.exportGraph(params).bytes, { floats: new Map([['x', feeds.floats.get('x')!]]), labels: feeds.labels }, false);
      expect(relErr(exported.logits, original)).toBeLessThan(1e-5);
    });

    it(`${name}: training-graph gradients equal torch autograd`, async () => {
      const { fx, model, feeds, loss } = await load(name);
      const graph = model.trainingGraph();
      const grads = fx.names.filter((n) => n.startsWith('grad.')).map((n) => n.slice(5));
      expect([...graph.grads].sort()).toEqual([...grads].sort());
      // float64 reference interpreter: only summation order separates it from torch float64.
      const ref = evaluate(graph.bytes, referenceFeeds(feeds));
      expect(Math.abs(ref.loss.data[0] - loss) / loss).toBeLessThan(1e-9);
      for (const p of grads) expect(relErr(ref[`grad.${p}`].data, fx.f32(`grad.${p}`)), `float64 ${p}`).toBeLessThan(1e-6);
      // ORT fp32 (no ReLU kink within fp32 round-off on this batch, as in models-torch.test.ts).
      const out = await runOrt(graph.bytes, feeds);
      expect(Math.abs(out.loss[0] - loss) / loss).toBeLessThan(1e-6);
      for (const p of grads) expect(relErr(out[`grad.${p}`], fx.f32(`grad.${p}`)), `fp32 ${p}`).toBeLessThan(1e-4);
    });
  }

  it('keeps initializer names; BatchNorm statistics are buffers; the last Gemm is the classifier', async () => {
    const { model } = await load('resnet');
    const classifier = model.params.filter((p) => p.group === 'classifier').map((p) => p.name);
    expect(classifier).toEqual(['classifier.weight', 'classifier.bias']);
    expect(model.params.find((p) => p.name === 'featurizer.bn1.running_var')).toMatchObject({ kind: 'buffer', trainable: false, group: 'featurizer' });
    expect(model.spec).toMatchObject({ arch: 'onnx', inputShape: [3, 32, 32], numClasses: 5 });
    expect(model.featureDim).toBe(16);
    expect(model.multi).toBeUndefined();
    const folded = await load('mnist_cnn');
    expect(folded.model.params.map((p) => p.name)).toContain('onnx::Mul_83'); // the exporter's name for bn0's γ
  });

  it('fine-tuning steps lower the loss', async () => {
    const { model, params, fx } = await load('mnist_cnn');
    const s = await TrainingSession.create(model, params, { threads: 1, dropoutP: 0.1 });
    const losses: number[] = [];
    for (let t = 0; t < 25; t++) {
      const { loss, grads } = await s.step(fx.f32('x'), fx.i64('y'), t);
      losses.push(loss);
      for (const [k, g] of grads) {
        const w = params.get(k)!;
        for (let i = 0; i < w.length; i++) w[i] -= 0.1 * g[i];
      }
    }
    await s.release();
    console.log('import fine-tuning losses', losses.map((l) => l.toFixed(3)).join(' '));
    expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]);
  });

  it('splits at a named node or tensor; a resized head keeps the imported featurizer', async () => {
    const byTensor = await load('mnist_cnn', { split: '/featurizer/avgpool/GlobalAveragePool_output_0' });
    const byNode = await load('mnist_cnn', { split: '/featurizer/avgpool/GlobalAveragePool' });
    expect(byNode.model.spec).toEqual(byTensor.model.spec);
    expect(byTensor.model.featureDim).toBe(16);
    expect(byTensor.model.trainingGraph({ dropoutP: 0.5 }).masks).toEqual([{ name: 'featurizer.dropout.mask', perExample: [16, 1, 1], p: 0.5 }]);
    const early = await load('mnist_cnn', { split: '/featurizer/bn3/Add_output_0' });
    expect(early.model.featureDim).toBe(16 * 7 * 7);
    expect(early.model.params.filter((p) => p.group === 'classifier').map((p) => p.name)).toEqual(['classifier.weight', 'classifier.bias']);

    const { model, params } = await importOnnxModel(fixture('mnist_cnn.onnx'), { numClasses: 3 });
    const base = await load('mnist_cnn');
    expect(model.spec.numClasses).toBe(3);
    expect(model.params.find((p) => p.name === 'classifier.weight')!.shape).toEqual([3, 16]);
    for (const [k, v] of base.params) if (!k.startsWith('classifier')) expect(params.get(k), k).toEqual(v);
    expect(model.initParams(1).get('classifier.weight')).not.toEqual(model.initParams(2).get('classifier.weight'));
    expect(model.initParams(1).get('featurizer.conv1.weight')).toEqual(params.get('featurizer.conv1.weight'));
  });

  it('rejects bad splits with one line naming the problem', async () => {
    await expect(importOnnxModel(fixture('mnist_cnn.onnx'), { split: 'nope' })).rejects.toThrow('split: no node or tensor named "nope"');
    await expect(importOnnxModel(fixture('mnist_cnn.onnx'), { split: '/featurizer/bn3/Mul_output_0' })).rejects.toThrow(/split .* is inside a pattern \(GroupNorm\)/);
    await expect(importOnnxModel(fixture('resnet.onnx'), { split: '/featurizer/layer4/layer4.0/bn2/BatchNormalization_output_0' })).rejects.toThrow(/also reads .* from before the split/);
  });

  it('lists every unsupported op with its count in one error', async () => {
    const err = await importOnnxModel(fixture('unsupported.onnx')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    for (const op of ['LSTM ×1', 'Sigmoid ×2', 'Tanh ×1', 'Transpose ×2', 'Gather ×2', 'ConstantOfShape ×1', 'Concat ×1']) expect(msg).toContain(op);
    expect(msg).not.toContain('Conv ×');
    expect(msg.split('\n')).toHaveLength(1);
  });

  it('garbage and non-models get a one-line error', async () => {
    const dir = scratch;
    writeFileSync(join(dir, 'junk.onnx'), Buffer.from('this is not a protobuf at all \x00\xff\xfe'));
    const err = await importOnnxModel(join(dir, 'junk.onnx')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message.split('\n')).toHaveLength(1);
    await expect(importOnnxModel(join(dir, 'missing.onnx'))).rejects.toThrow();
  });
});

/**
 * A small hand-built model: Conv → native GroupNormalization (opset 18: per-group affine; 21:
 * per-channel) → Relu → GlobalAveragePool → Flatten → head, where the head is a Gemm, or a
 * MatMul with its [F, out] weight followed by a bias Add (bias first, as some exporters write it).
 */
function smallModel(opset: 18 | 21, head: 'gemm' | 'matmul' = 'gemm'): Uint8Array {
  const { onnx } = onnxProto;
  const f32 = (name: string, dims: number[], seed: number) => {
    const rng = new Rng(seed, name);
    const data = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => 0.5 * rng.normal() + (name.endsWith('scale') ? 1 : 0));
    return { name, dims, dataType: 1, rawData: new Uint8Array(data.buffer) };
  };
  const perAffine = opset === 18 ? 2 : 4;
  const graph = {
    name: 'gn',
    input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 2 }, { dimValue: 5 }, { dimValue: 5 }] } } } }],
    output: [{ name: 'logits', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }] } } } }],
    initializer: [f32('conv.weight', [4, 2, 3, 3], 1), f32('conv.bias', [4], 2), f32('gn.scale', [perAffine], 3), f32('gn.bias', [perAffine], 4), f32('fc.weight', head === 'gemm' ? [3, 4] : [4, 3], 5), f32('fc.bias', [3], 6)],
    node: [
      { opType: 'Conv', name: 'conv', input: ['x', 'conv.weight', 'conv.bias'], output: ['c'], attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] },
      { opType: 'GroupNormalization', name: 'gn', input: ['c', 'gn.scale', 'gn.bias'], output: ['g'], attribute: [{ name: 'num_groups', type: 2, i: 2 }] },
      { opType: 'Relu', name: 'relu', input: ['g'], output: ['r'] },
      { opType: 'GlobalAveragePool', name: 'gap', input: ['r'], output: ['p'] },
      { opType: 'Flatten', name: 'flat', input: ['p'], output: ['f'] },
      ...(head === 'gemm'
        ? [{ opType: 'Gemm', name: 'fc', input: ['f', 'fc.weight', 'fc.bias'], output: ['logits'], attribute: [{ name: 'transB', type: 2, i: 1 }] }]
        : [{ opType: 'MatMul', name: 'fc', input: ['f', 'fc.weight'], output: ['m'] }, { opType: 'Add', name: 'bias', input: ['fc.bias', 'm'], output: ['logits'] }]),
    ],
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: opset }], graph })).finish();
}

describe('importOnnxModel on hand-built models (native GroupNormalization, MatMul + Add head)', () => {
  for (const [opset, head] of [[18, 'gemm'], [21, 'gemm'], [21, 'matmul']] as const) {
    it(`opset ${opset}, ${head} head: the imported forward equals onnxruntime running the original`, async () => {
      const file = join(scratch, `gn${opset}${head}.onnx`);
      writeFileSync(file, smallModel(opset, head));
      const { model, params } = await importOnnxModel(file);
      expect(model.params.find((p) => p.name === 'gn.scale')!.shape).toEqual([4]); // per channel (opset 18: repeated per group)
      const rng = new Rng(9, 'x');
      const x = Float32Array.from({ length: 3 * 50 }, () => rng.normal());
      const s = await ort.InferenceSession.create(file);
      const original = (await s.run({ x: new ort.Tensor('float32', x, [3, 2, 5, 5]) })).logits.data as Float32Array;
      const ours = await runOrt(model.exportGraph(params).bytes, { floats: new Map([['x', { dims: [3, 2, 5, 5], data: x }]]), labels: { dims: [3], data: new BigInt64Array(3) } }, false);
      expect(relErr(ours.logits, original)).toBeLessThan(1e-5);
      // nn.Linear's [out, F] layout under the initializer's own name, whatever the file held.
      expect(model.params.find((p) => p.name === 'fc.weight')).toMatchObject({ shape: [3, 4], group: 'classifier' });
    });
  }
});
