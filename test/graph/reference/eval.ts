// A float64 reference interpreter for the ONNX ops src/graph emits. It decodes the exact model
// bytes the compiler produced and evaluates the requested outputs in double precision, so finite
// differences can check the emitted backward subgraph (ORT CPU has no float64 Conv kernels).
import onnxProto from 'onnx-proto';
import * as layout from './layout.js';
import * as nchwc from './nchwc.js';
import * as nn from './nn.js';
import * as norm from './norm.js';
import type { RTensor, RType } from './tensor.js';
import { broadcastDims, broadcastMap, coords, flatIndex, size, zeros } from './tensor.js';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number((v as { toString(): string }).toString()));

function elemType(t: number): RType {
  if (t === onnx.TensorProto.DataType.FLOAT) return 'float';
  if (t === onnx.TensorProto.DataType.INT64) return 'int64';
  if (t === onnx.TensorProto.DataType.BOOL) return 'bool';
  throw new Error(`reference: unsupported tensor type ${t}`);
}

function fromProto(t: onnxProto.onnx.ITensorProto): RTensor {
  const dims = (t.dims ?? []).map(num);
  const type = elemType(t.dataType!);
  let vals: ArrayLike<number>;
  if (t.rawData && t.rawData.length) {
    const buf = new Uint8Array(t.rawData).buffer; // a copy: decoded Buffers are views into a pool
    vals = type === 'float' ? new Float32Array(buf) : Array.from(new BigInt64Array(buf), Number);
  } else vals = type === 'float' ? t.floatData ?? [] : (t.int64Data ?? []).map(num);
  return { dims, data: Float64Array.from(vals), type };
}

function attr(n: Node, name: string): onnxProto.onnx.IAttributeProto | undefined {
  return n.attribute?.find((a) => a.name === name);
}
const attrInt = (n: Node, name: string, d: number) => (attr(n, name) ? num(attr(n, name)!.i) : d);
const attrInts = (n: Node, name: string, d: number[]) => (attr(n, name) ? attr(n, name)!.ints!.map(num) : d);
const attrFloat = (n: Node, name: string, d: number) => (attr(n, name) ? attr(n, name)!.f! : d);
const attrStr = (n: Node, name: string, d: string) => (attr(n, name) ? new TextDecoder().decode(attr(n, name)!.s!) : d);

function reduce(x: RTensor, axesIn: number[] | undefined, keep: boolean, mean: boolean): RTensor {
  const r = x.dims.length;
  const axes = new Set((axesIn ?? [...Array(r).keys()]).map((a) => (a < 0 ? a + r : a)));
  const outDims = x.dims.map((d, i) => (axes.has(i) ? 1 : d));
  const y = zeros(outDims);
  for (let i = 0; i < x.data.length; i++) {
    const c = coords(i, x.dims).map((v, d) => (axes.has(d) ? 0 : v));
    y.data[flatIndex(c, outDims)] += x.data[i];
  }
  if (mean) {
    const count = size(x.dims) / size(outDims);
    for (let i = 0; i < y.data.length; i++) y.data[i] /= count;
  }
  return keep ? y : { ...y, dims: x.dims.filter((_, i) => !axes.has(i)) };
}

function reshape(x: RTensor, spec: number[]): RTensor {
  const dims = spec.map((d, i) => (d === 0 ? x.dims[i] : d));
  const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const out = dims.map((d) => (d === -1 ? size(x.dims) / known : d));
  if (size(out) !== size(x.dims)) throw new Error(`Reshape: [${x.dims}] to [${spec}]`);
  return { ...x, dims: out };
}

function transpose(x: RTensor, perm: number[]): RTensor {
  const dims = perm.map((p) => x.dims[p]);
  const y = zeros(dims, x.type);
  for (let i = 0; i < x.data.length; i++) {
    const c = coords(i, x.dims);
    y.data[flatIndex(perm.map((p) => c[p]), dims)] = x.data[i];
  }
  return y;
}

function slice(x: RTensor, starts: number[], ends: number[], axes: number[], steps: number[]): RTensor {
  const ranges = x.dims.map((d) => [...Array(d).keys()]);
  axes.forEach((a0, k) => {
    const a = a0 < 0 ? a0 + x.dims.length : a0, d = x.dims[a], step = steps[k];
    const adj = (v: number) => (v < 0 ? v + d : v);
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const s = step > 0 ? clamp(adj(starts[k]), 0, d) : clamp(adj(starts[k]), 0, d - 1);
    const e = step > 0 ? clamp(adj(ends[k]), 0, d) : clamp(adj(ends[k]), -1, d - 1);
    const r: number[] = [];
    for (let i = s; step > 0 ? i < e : i > e; i += step) r.push(i);
    ranges[a] = r;
  });
  const dims = ranges.map((r) => r.length);
  const y = zeros(dims, x.type);
  for (let i = 0; i < y.data.length; i++) y.data[i] = x.data[flatIndex(coords(i, dims).map((c, d) => ranges[d][c]), x.dims)];
  return y;
}

const unary: Record<string, (v: number) => number> = {
  Relu: (v) => Math.max(v, 0),
  Exp: Math.exp,
  Sqrt: Math.sqrt,
  Reciprocal: (v) => 1 / v,
  Identity: (v) => v,
  Neg: (v) => -v,
  Sign: Math.sign,
};

const binary: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
};

/** ORT's blocked-layout ops (src/graph/ops/nchwc.ts), for a graph built with channel block B. */
function runNchwc(n: Node, x: (RTensor | undefined)[], B: number): RTensor[] {
  if (!B) throw new Error(`reference: node ${n.name} is an NCHWc op but no block size was given`);
  if (attrInt(n, 'channels_last', 0)) throw new Error(`${n.opType}: channels_last unsupported`);
  switch (n.opType) {
    case 'ReorderInput': return [nchwc.reorderInput(x[0]!, B)];
    case 'ReorderOutput': return [nchwc.reorderOutput(x[0]!, B, attrInt(n, 'channels', 0))];
    case 'Conv': {
      if (x[3]) throw new Error('nchwc Conv: Sum input unsupported');
      const p = { strides: attrInts(n, 'strides', [1, 1]), pads: attrInts(n, 'pads', [0, 0, 0, 0]), group: attrInt(n, 'group', 1) };
      return [nchwc.conv(x[0]!, x[1]!, x[2], p, B, attrStr(n, 'activation', ''))];
    }
    default: throw new Error(`reference: NCHWc op ${n.opType} not implemented`);
  }
}

function run(n: Node, x: (RTensor | undefined)[], nchwcBlock: number): RTensor[] {
  const op = n.opType!;
  if (n.domain === 'com.microsoft.nchwc') return runNchwc(n, x, nchwcBlock);
  if (n.domain) throw new Error(`reference: domain ${n.domain} (node ${n.name}) not implemented`);
  const ints = (t: RTensor | undefined) => Array.from(t!.data);
  if (op in unary) return [broadcastMap([x[0]!], x[0]!.type, unary[op])];
  if (op in binary) return [broadcastMap([x[0]!, x[1]!], x[0]!.type, binary[op])];
  const convParams = (): nn.ConvParams => ({
    strides: attrInts(n, 'strides', [1, 1]),
    pads: attrInts(n, 'pads', [0, 0, 0, 0]),
    group: attrInt(n, 'group', 1),
    outputPadding: attrInts(n, 'output_padding', [0, 0]),
  });
  if (attrInts(n, 'dilations', [1, 1]).some((d) => d !== 1)) throw new Error(`${op}: dilations unsupported`);
  switch (op) {
    case 'Pad': {
      if (attrStr(n, 'mode', 'constant') !== 'constant') throw new Error('Pad: only constant mode');
      return [layout.pad(x[0]!, ints(x[1]), x[2] ? x[2].data[0] : 0)];
    }
    case 'Gather': return [layout.gather(x[0]!, x[1]!, attrInt(n, 'axis', 0))];
    case 'Concat': return [layout.concat(x as RTensor[], attrInt(n, 'axis', 0))];
    case 'Split': {
      const axis = attrInt(n, 'axis', 0), d = x[0]!.dims[axis < 0 ? axis + x[0]!.dims.length : axis], k = n.output!.length;
      return layout.split(x[0]!, axis, x[1] ? ints(x[1]) : Array(k).fill(d / k));
    }
    case 'Tile': return [layout.tile(x[0]!, ints(x[1]))];
    case 'Unsqueeze': {
      const r = x[0]!.dims.length + x[1]!.data.length;
      const axes = ints(x[1]).map((a) => (a < 0 ? a + r : a));
      const dims = [...x[0]!.dims];
      for (const a of [...axes].sort((p, q) => p - q)) dims.splice(a, 0, 1);
      return [{ ...x[0]!, dims }];
    }
    case 'Squeeze': {
      const r = x[0]!.dims.length;
      const axes = new Set(x[1] ? ints(x[1]).map((a) => (a < 0 ? a + r : a)) : x[0]!.dims.flatMap((d, i) => (d === 1 ? [i] : [])));
      return [{ ...x[0]!, dims: x[0]!.dims.filter((_, i) => !axes.has(i)) }];
    }
    case 'LayerNormalization': {
      if (attrInt(n, 'stash_type', 1) !== 1) throw new Error('LayerNormalization: only stash_type 1');
      return norm.layerNormalization(x[0]!, x[1]!, x[2], attrInt(n, 'axis', -1), attrFloat(n, 'epsilon', 1e-5));
    }
    case 'BatchNormalization': {
      if (attrInt(n, 'training_mode', 0) !== 0) throw new Error('BatchNormalization: only inference mode');
      return [norm.batchNormalization(x[0]!, x[1]!, x[2]!, x[3]!, x[4]!, attrFloat(n, 'epsilon', 1e-5))];
    }
    case 'Sum': return [broadcastMap(x as RTensor[], 'float', (...v) => v.reduce((a, b) => a + b, 0))];
    case 'Greater': return [broadcastMap([x[0]!, x[1]!], 'bool', (a, b) => (a > b ? 1 : 0))];
    case 'Where': return [broadcastMap([x[0]!, x[1]!, x[2]!], x[1]!.type, (c, a, b) => (c ? a : b))];
    case 'Cast': return [{ ...x[0]!, type: attrInt(n, 'to', 1) === 1 ? 'float' : 'int64' }];
    case 'Reshape': return [reshape(x[0]!, ints(x[1]))];
    case 'Flatten': return [reshape(x[0]!, [size(x[0]!.dims.slice(0, attrInt(n, 'axis', 1))), -1])];
    case 'Transpose': return [transpose(x[0]!, attrInts(n, 'perm', [...x[0]!.dims.keys()].reverse()))];
    case 'Slice': return [slice(x[0]!, ints(x[1]), ints(x[2]), x[3] ? ints(x[3]) : [...x[0]!.dims.keys()], x[4] ? ints(x[4]) : ints(x[1]).map(() => 1))];
    case 'Shape': {
      const d = x[0]!.dims;
      const dims = d.slice(attrInt(n, 'start', 0), attr(n, 'end') ? attrInt(n, 'end', d.length) : d.length);
      return [{ dims: [dims.length], data: Float64Array.from(dims), type: 'int64' }];
    }
    case 'Expand': return [broadcastMap([x[0]!, zeros(broadcastDims(x[0]!.dims, ints(x[1])))], x[0]!.type, (a) => a)];
    case 'ConstantOfShape': {
      const v = attr(n, 'value')?.t;
      const t = v ? fromProto(v) : { dims: [1], data: Float64Array.of(0), type: 'float' as RType };
      const y = zeros(ints(x[0]), t.type);
      return [{ ...y, data: y.data.fill(t.data[0]) }];
    }
    case 'ReduceMean': return [reduce(x[0]!, attr(n, 'axes') ? attrInts(n, 'axes', []) : undefined, attrInt(n, 'keepdims', 1) === 1, true)];
    case 'ReduceSum': return [reduce(x[0]!, x[1] ? ints(x[1]) : undefined, attrInt(n, 'keepdims', 1) === 1, false)];
    case 'Conv': return [nn.conv(x[0]!, x[1]!, x[2], convParams())];
    case 'ConvTranspose': return [nn.convTranspose(x[0]!, x[1]!, x[2], convParams())];
    case 'Gemm': return [nn.gemm(x[0]!, x[1]!, x[2], attrInt(n, 'transA', 0) === 1, attrInt(n, 'transB', 0) === 1)];
    case 'MatMul': return [nn.matmul(x[0]!, x[1]!)];
    case 'MaxPool': return nn.maxPool(x[0]!, attrInts(n, 'kernel_shape', []), attrInts(n, 'strides', [1, 1]), attrInts(n, 'pads', [0, 0, 0, 0]));
    case 'GlobalAveragePool': return [nn.globalAveragePool(x[0]!)];
    case 'SoftmaxCrossEntropyLoss': {
      const reduction = attrStr(n, 'reduction', 'mean');
      if (reduction !== 'mean' && reduction !== 'none') throw new Error(`SoftmaxCrossEntropyLoss: reduction ${reduction} unsupported`);
      return nn.softmaxCrossEntropy(x[0]!, x[1]!, reduction);
    }
    case 'OneHot':
      if (attrInt(n, 'axis', -1) !== -1) throw new Error('OneHot: only axis -1');
      return [nn.oneHot(x[0]!, x[1]!.data[0], x[2]!)];
    case 'ScatterElements': return [nn.scatterElements(x[0]!, x[1]!, x[2]!, attrInt(n, 'axis', 0), attrStr(n, 'reduction', 'none'))];
    default: throw new Error(`reference: op ${op} (node ${n.name}) not implemented`);
  }
}

const decoded = new WeakMap<Uint8Array, onnxProto.onnx.IGraphProto>();

/**
 * Evaluates `outputs` (default: the graph outputs) of the model in float64. `nchwcBlock`: the
 * channel block a graph with NCHWc ops was compiled for (TrainingGraphOptions.nchwcBlock).
 */
export function evaluate(bytes: Uint8Array, feeds: Record<string, RTensor>, outputs?: string[], nchwcBlock = 0): Record<string, RTensor> {
  let g = decoded.get(bytes);
  if (!g) decoded.set(bytes, (g = onnx.ModelProto.decode(bytes).graph!));
  const values = new Map<string, RTensor>();
  for (const t of g.initializer ?? []) values.set(t.name!, fromProto(t));
  for (const i of g.input ?? []) {
    const f = feeds[i.name!];
    if (!f) throw new Error(`reference: missing feed ${i.name}`);
    values.set(i.name!, f);
  }
  const want = outputs ?? (g.output ?? []).map((o) => o.name!);
  const producer = new Map<string, Node>();
  for (const n of g.node ?? []) for (const o of n.output ?? []) producer.set(o, n);
  const needed = new Set<Node>();
  const stack = [...want];
  while (stack.length) {
    const n = producer.get(stack.pop()!);
    if (!n || needed.has(n)) continue;
    needed.add(n);
    stack.push(...(n.input ?? []).filter((s) => s));
  }
  for (const n of g.node ?? []) {
    if (!needed.has(n)) continue;
    const ins = (n.input ?? []).map((s) => {
      if (!s) return undefined;
      const v = values.get(s);
      if (!v) throw new Error(`reference: node ${n.name} reads ${s} before it is computed`);
      return v;
    });
    run(n, ins, nchwcBlock).forEach((t, k) => n.output![k] && values.set(n.output![k], t));
  }
  return Object.fromEntries(want.map((o) => [o, values.get(o)!]));
}
