// Shared test machinery: tiny nets around one op family, float32-representable random feeds,
// float64 finite differences through the reference interpreter, and ORT fp32 runs of a graph.
import * as ort from 'onnxruntime-node';
import type { TrainingGraph } from '../../src/graph/compile.js';
import { compileTraining } from '../../src/graph/compile.js';
import type { Tuning } from '../../src/graph/op.js';
import { Rng } from '../../src/graph/init.js';
import { Net, numel } from '../../src/graph/ir.js';
import { crossEntropy, flatten } from '../../src/graph/ops/index.js';
import { fillDropoutMask } from '../../src/graph/ops/dropout.js';
import { evaluate } from './reference/eval.js';
import type { RTensor } from './reference/tensor.js';
import { tensor } from './reference/tensor.js';

export interface Feeds {
  floats: Map<string, { dims: number[]; data: Float32Array }>;
  labels: { dims: number[]; data: BigInt64Array };
}

export interface OpCase {
  graph: TrainingGraph;
  net: Net;
  feeds: Feeds;
  /** The NCHWc block the graph was built for (absent or 0: standard ops only). */
  nchwcBlock?: number;
}

/** x → build → (flatten) → CE, differentiated w.r.t. every parameter and x. */
export function opCase(input: number[], build: (net: Net, x: string) => string, o: { dropoutP?: number; seed?: number; tuning?: Partial<Tuning>; nchwcBlock?: number } = {}): OpCase {
  const net = new Net();
  const x = net.input('x', ['N', ...input.slice(1)]);
  const y = net.input('y', ['N'], 'label');
  let h = build(net, x);
  if (net.shape(h).length > 2) h = flatten(net, 'head.flatten', h);
  const loss = crossEntropy(net, 'loss', h, y);
  const graph = compileTraining({ net, x, y, logits: h, loss }, { gradInputs: ['x'], dropoutP: o.dropoutP, logits: true, tuning: o.tuning, nchwcBlock: o.nchwcBlock });
  const rng = new Rng(o.seed ?? 7, 'feeds');
  const f32 = (n: number, f: () => number) => Float32Array.from({ length: n }, f);
  const floats = new Map<string, { dims: number[]; data: Float32Array }>();
  floats.set('x', { dims: input, data: f32(numel(input), () => rng.normal()) });
  for (const p of net.params) {
    const n = numel(p.shape);
    const data = p.name.endsWith('running_var') ? f32(n, () => 0.5 + rng.uniform()) : f32(n, () => 0.5 * rng.normal());
    floats.set(p.name, { dims: p.shape, data });
  }
  for (const m of graph.masks) {
    const dims = [input[0], ...m.perExample];
    floats.set(m.name, { dims, data: fillDropoutMask(new Float32Array(numel(dims)), m.p, () => rng.uniform()) });
  }
  const classes = net.shape(h)[1] as number;
  const labels = { dims: [input[0]], data: BigInt64Array.from({ length: input[0] }, () => BigInt(Math.floor(rng.uniform() * classes))) };
  return { graph, net, feeds: { floats, labels }, nchwcBlock: o.nchwcBlock ?? 0 };
}

export function referenceFeeds(f: Feeds): Record<string, RTensor> {
  const out: Record<string, RTensor> = { y: tensor(f.labels.dims, Array.from(f.labels.data, Number), 'int64') };
  for (const [k, v] of f.floats) out[k] = tensor(v.dims, v.data);
  return out;
}

export async function runOrt(bytes: Uint8Array, f: Feeds, withLabels = true): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of f.floats) if (s.inputNames.includes(k)) feeds[k] = new ort.Tensor('float32', v.data, v.dims);
  if (withLabels && s.inputNames.includes('y')) feeds.y = new ort.Tensor('int64', f.labels.data, f.labels.dims);
  const out = await s.run(feeds);
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
}

/** max |a − b| / max |b|: the error relative to the reference tensor's scale. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths ${a.length} vs ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-12);
}

/**
 * Central finite differences of the loss in float64 against the emitted backward graph, for up
 * to `samples` elements of each differentiated value. Returns the worst relErr per value.
 */
export function finiteDifferenceErrors(c: OpCase, samples = 12, h = 1e-5): Map<string, number> {
  const feeds = referenceFeeds(c.feeds);
  const wrt = [...c.graph.grads, 'x'];
  const analytic = evaluate(c.graph.bytes, feeds, wrt.map((v) => `grad.${v}`), c.nchwcBlock);
  const loss = () => evaluate(c.graph.bytes, feeds, ['loss'], c.nchwcBlock).loss.data[0];
  const rng = new Rng(11, 'fd');
  const errors = new Map<string, number>();
  for (const v of wrt) {
    const t = feeds[v], grad = analytic[`grad.${v}`].data;
    const picks = t.data.length <= samples ? [...t.data.keys()] : Array.from({ length: samples }, () => Math.floor(rng.uniform() * t.data.length));
    const fd: number[] = [], an: number[] = [];
    for (const i of picks) {
      const keep = t.data[i];
      t.data[i] = keep + h;
      const up = loss();
      t.data[i] = keep - h;
      const down = loss();
      t.data[i] = keep;
      fd.push((up - down) / (2 * h));
      an.push(grad[i]);
    }
    // Scale by the whole gradient so near-zero sampled entries do not inflate the error.
    const scale = Math.max(...Array.from(grad, Math.abs), 1e-12);
    errors.set(v, Math.max(...fd.map((d, k) => Math.abs(d - an[k]))) / scale);
  }
  return errors;
}

/** A width-8 MNIST_CNN on 12×12 inputs with 3 classes: the session tests' tiny model. */
export const TINY_CNN = { arch: 'mnist_cnn', inputShape: [1, 12, 12], numClasses: 3, width: 8 } as const;

/** n seeded normal 12×12 inputs with labels in 0..2, for TINY_CNN. */
export function tinyBatch(n: number, seed: number): { x: Float32Array; y: BigInt64Array } {
  const rng = new Rng(seed, 'batch');
  return {
    x: Float32Array.from({ length: n * 144 }, () => rng.normal()),
    y: BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rng.uniform() * 3))),
  };
}
