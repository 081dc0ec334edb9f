// Reading an ONNX inference model for import.ts: tensor values (raw or typed fields, no external
// data), node attributes, the values a model computes at import time (initializers, Constant
// nodes), and the per-op-type support check that lists every unsupported op in one error.
import onnxProto from 'onnx-proto';
import { InputError } from '../errors.js';

export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

const FLOAT = 1, INT64 = 7, INT32 = 6, DOUBLE = 11;

/** int64 fields decode to numbers or Long-like objects. */
export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number((v as { toString(): string }).toString());
}

/** A tensor known at import time: float data (weights, constants) or integers (shapes, axes). */
export interface Known {
  dims: number[];
  f32?: Float32Array;
  ints?: number[];
}

export function decodeTensor(t: TensorProto, where: string): Known {
  const dims = (t.dims ?? []).map(num);
  if (t.dataLocation === onnxProto.onnx.TensorProto.DataLocation.EXTERNAL) throw new InputError(where, `tensor ${t.name} uses external data, which import does not read`);
  const raw = t.rawData && t.rawData.length ? new Uint8Array(t.rawData).buffer : undefined; // aligned copy
  switch (t.dataType) {
    case FLOAT:
      return { dims, f32: raw ? new Float32Array(raw) : Float32Array.from(t.floatData ?? []) };
    case DOUBLE:
      return { dims, f32: Float32Array.from(raw ? new Float64Array(raw) : t.doubleData ?? []) };
    case INT64:
      return { dims, ints: raw ? Array.from(new BigInt64Array(raw), Number) : (t.int64Data ?? []).map(num) };
    case INT32:
      return { dims, ints: raw ? Array.from(new Int32Array(raw)) : (t.int32Data ?? []).map(num) };
    default:
      throw new InputError(where, `tensor ${t.name} has ONNX data type ${t.dataType}; import reads float and integer tensors`);
  }
}

function attribute(n: NodeProto, name: string): AttributeProto | undefined {
  return n.attribute?.find((a) => a.name === name);
}

export const attrs = {
  int: (n: NodeProto, name: string, d: number) => (attribute(n, name) ? num(attribute(n, name)!.i) : d),
  ints: (n: NodeProto, name: string, d: number[] | undefined) => (attribute(n, name) ? attribute(n, name)!.ints!.map(num) : d),
  float: (n: NodeProto, name: string, d: number) => attribute(n, name)?.f ?? d,
  str: (n: NodeProto, name: string, d: string) => (attribute(n, name) ? new TextDecoder().decode(attribute(n, name)!.s!) : d),
  has: (n: NodeProto, name: string) => attribute(n, name) !== undefined,
};

/** The value of a Constant node (tensor, or one of the scalar/list forms). */
export function constantValue(n: NodeProto, where: string): Known {
  const a = n.attribute?.[0];
  if (!a) throw new InputError(where, `Constant node ${n.name} has no value`);
  if (a.name === 'value') return decodeTensor(a.t!, where);
  if (a.name === 'value_float') return { dims: [], f32: Float32Array.of(a.f ?? 0) };
  if (a.name === 'value_floats') return { dims: [a.floats!.length], f32: Float32Array.from(a.floats!) };
  if (a.name === 'value_int') return { dims: [], ints: [num(a.i)] };
  if (a.name === 'value_ints') return { dims: [a.ints!.length], ints: a.ints!.map(num) };
  throw new InputError(where, `Constant node ${n.name}: ${a.name} is not a numeric value`);
}

/** Op types import maps onto the layer IR (some only inside patterns, e.g. Mul as GroupNorm's scale). */
export const SUPPORTED_OPS = [
  'Conv', 'Gemm', 'MatMul', 'Relu', 'BatchNormalization', 'MaxPool', 'GlobalAveragePool', 'ReduceMean', 'Flatten', 'Reshape', 'Add',
  'Mul', 'InstanceNormalization', 'GroupNormalization', 'Dropout', 'Identity', 'Constant', 'Shape', 'Unsqueeze', 'Squeeze',
] as const;

/** Attribute values import cannot express, per node (e.g. dilated or asymmetric convolutions). */
function variantProblem(n: NodeProto): string | undefined {
  const square = (v: number[] | undefined) => !v || v.every((x) => x === v[0]);
  const pads = attrs.ints(n, 'pads', undefined);
  const autoPad = attrs.str(n, 'auto_pad', 'NOTSET');
  switch (n.opType) {
    case 'Conv':
    case 'MaxPool':
      if (autoPad !== 'NOTSET') return `auto_pad ${autoPad}`;
      if (!square(attrs.ints(n, 'kernel_shape', undefined)) || !square(attrs.ints(n, 'strides', undefined)) || !square(pads)) return 'non-square kernel, stride or padding';
      if ((attrs.ints(n, 'dilations', []) ?? []).some((d) => d !== 1)) return 'dilation';
      if (n.opType === 'MaxPool' && (attrs.int(n, 'ceil_mode', 0) !== 0 || attrs.int(n, 'storage_order', 0) !== 0)) return 'ceil_mode or storage_order';
      if (n.opType === 'MaxPool' && (n.output?.length ?? 1) > 1 && n.output![1]) return 'Indices output';
      return undefined;
    case 'Gemm':
      return attrs.int(n, 'transA', 0) || attrs.float(n, 'alpha', 1) !== 1 || attrs.float(n, 'beta', 1) !== 1 ? 'transA, alpha or beta' : undefined;
    case 'Flatten':
      return attrs.int(n, 'axis', 1) !== 1 ? 'axis other than 1' : undefined;
    case 'BatchNormalization':
      return attrs.int(n, 'training_mode', 0) !== 0 ? 'training_mode 1 (import expects an inference model)' : undefined;
    default:
      return undefined;
  }
}

/** Throws one InputError listing every unsupported op type (with counts) and unsupported variant. */
export function checkSupported(nodes: readonly NodeProto[], path: string): void {
  const unsupported = new Map<string, number>();
  const variants: string[] = [];
  for (const n of nodes) {
    const op = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.opType}` : n.opType!;
    if (!(SUPPORTED_OPS as readonly string[]).includes(op)) unsupported.set(op, (unsupported.get(op) ?? 0) + 1);
    else {
      const v = variantProblem(n);
      if (v) variants.push(`${op} ${n.name || n.output?.[0]} (${v})`);
    }
  }
  if (!unsupported.size && !variants.length) return;
  const parts: string[] = [];
  if (unsupported.size) parts.push(`unsupported ops ${[...unsupported].map(([op, k]) => `${op} ×${k}`).join(', ')}`);
  if (variants.length) parts.push(`unsupported variants ${variants.join(', ')}`);
  throw new InputError(path, `${parts.join('; ')} (import supports ${SUPPORTED_OPS.join(', ')})`);
}
