// Input standardisation for a run: per-channel pixel mean/std of the training pools (never the
// validation or test samples), applied to every batch the sessions see, and prepended to the
// exported model.onnx as Sub/Div nodes so that the exported model still takes raw [0, 1] pixels.
import onnxProto from 'onnx-proto';
import type { DomainDataset } from '../data/index.js';
import { InputError } from '../errors.js';

const { onnx } = onnxProto;

export interface InputStats {
  /** Per channel, over every pixel of every training-pool sample, in [0, 1] pixel units. */
  readonly mean: number[];
  /** Population standard deviation per channel. */
  readonly std: number[];
}

/** Mean/std per channel of the samples in `pools` (global indices); tensor datasets only. */
export function poolStats(ds: DomainDataset, pools: readonly Int32Array[]): InputStats {
  if (ds.kind !== 'tensor') throw new InputError('job.data.standardize', `applies to tensor datasets only; ${ds.name} is an image folder (already normalised)`);
  const [c, h, w] = ds.shape;
  const plane = h * w;
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  let samples = 0;
  for (const pool of pools) {
    for (const i of pool) {
      for (let ch = 0; ch < c; ch++) {
        const at = (i * c + ch) * plane;
        let s = 0;
        let q = 0;
        for (let k = 0; k < plane; k++) {
          const v = ds.images[at + k] / 255;
          s += v;
          q += v * v;
        }
        sum[ch] += s;
        sq[ch] += q;
      }
      samples++;
    }
  }
  const n = samples * plane;
  const mean = Array.from(sum, (s) => s / n);
  const std = Array.from(sq, (q, ch) => Math.sqrt(Math.max(q / n - mean[ch] ** 2, 0)));
  const flat = std.findIndex((s) => !(s > 0));
  if (flat >= 0) throw new InputError('job.data.standardize', `channel ${flat} of the training samples is constant; nothing to standardise`);
  return { mean, std };
}

/** (x - mean) / std per channel of a [N, C, H, W] batch, into a new array (the batch stays as read). */
export function standardizer(stats: InputStats, shape: readonly [number, number, number]): (x: Float32Array) => Float32Array {
  const [c, h, w] = shape;
  const plane = h * w;
  const mean = Float32Array.from(stats.mean);
  const std = Float32Array.from(stats.std);
  return (x) => {
    const out = new Float32Array(x.length);
    // float32 Sub then Div, as the exported nodes (a double op rounded to float32 is the float32 op).
    for (let at = 0, ch = 0; at < x.length; at += plane, ch = (ch + 1) % c) {
      for (let k = at; k < at + plane; k++) out[k] = Math.fround(x[k] - mean[ch]) / std[ch];
    }
    return out;
  };
}

/**
 * The exported model with the standardisation in front: the graph input keeps its name and now
 * takes raw pixels; Sub(mean) then Div(std), the same float32 arithmetic as `standardizer`.
 */
export function prependStandardization(bytes: Uint8Array, stats: InputStats): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const initNames = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((v) => !initNames.has(v.name));
  if (inputs.length !== 1) throw new Error(`prependStandardization: expected one data input, found ${inputs.length}`);
  const x = inputs[0].name!;
  const [centered, scaled] = [`${x}.centered`, `${x}.standardized`];
  for (const node of graph.node ?? []) node.input = (node.input ?? []).map((n) => (n === x ? scaled : n));
  const c = stats.mean.length;
  const constant = (name: string, values: number[]) =>
    onnx.TensorProto.create({ name, dims: [1, c, 1, 1], dataType: onnx.TensorProto.DataType.FLOAT, floatData: Array.from(Float32Array.from(values)) });
  graph.initializer = [...(graph.initializer ?? []), constant(`${x}.mean`, stats.mean), constant(`${x}.std`, stats.std)];
  graph.node = [
    onnx.NodeProto.create({ name: 'standardize.sub', opType: 'Sub', input: [x, `${x}.mean`], output: [centered] }),
    onnx.NodeProto.create({ name: 'standardize.div', opType: 'Div', input: [centered, `${x}.std`], output: [scaled] }),
    ...(graph.node ?? []),
  ];
  return onnx.ModelProto.encode(model).finish();
}
