// Emits an ONNX GraphProto node by node and serialises the ModelProto (ir_version 8, opset 17)
// with onnx-proto's protobufjs classes. Constants become deduplicated initializers; every output
// name may be produced once (SSA), which catches naming bugs in lowering and backward rules.
import onnxProto from 'onnx-proto';
import type { Shape } from './ir.js';

const { onnx } = onnxProto;
const AT = onnx.AttributeProto.AttributeType;

export const OPSET = 17;
export const IR_VERSION = 8;

export type ElemType = 'float' | 'int64';
const ELEM: Record<ElemType, number> = { float: onnx.TensorProto.DataType.FLOAT, int64: onnx.TensorProto.DataType.INT64 };

/** Integer numbers encode as INT(S), `{ float }` as FLOAT, strings as STRING. */
export type AttrValue = number | number[] | string | { float: number };

export class OnnxEmitter {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inits: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly produced = new Set<string>();
  private readonly consts = new Map<string, string>();
  /** Operator domains besides the default one that nodes used (each imported at version 1). */
  private readonly domains = new Set<string>();

  constructor(private readonly batch: number | 'N' = 'N') {}

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** Whether `name` is already a graph input, initializer or node output. */
  has(name: string): boolean {
    return this.produced.has(name);
  }

  /** Appends one node (of `domain`, default ONNX's); returns its first output. */
  node(op: string, inputs: string[], outputs: string | string[], attrs: Record<string, AttrValue> = {}, domain = ''): string {
    const outs = typeof outputs === 'string' ? [outputs] : outputs;
    for (const o of outs) this.claim(o, op);
    if (domain) this.domains.add(domain);
    this.nodes.push({
      name: outs[0],
      opType: op,
      ...(domain ? { domain } : {}),
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
    });
    return outs[0];
  }

  /** ReduceMean takes axes as an attribute up to opset 17, ReduceSum as an input since 13. */
  reduceMean(x: string, axes: number[], out: string, keepdims = true): string {
    return this.node('ReduceMean', [x], out, { axes, keepdims: keepdims ? 1 : 0 });
  }

  reduceSum(x: string, axes: number[], out: string, keepdims = true): string {
    return this.node('ReduceSum', [x, this.i64(axes)], out, { keepdims: keepdims ? 1 : 0 });
  }

  /** A float32 scalar constant. */
  f32(v: number): string {
    return this.constant(`const/f32/${v}`, () => tensor([], 'float', new Float32Array([v])));
  }

  /** A 1-D int64 constant (shapes, axes, slice bounds). */
  i64(v: number[]): string {
    return this.constant(`const/i64/${v.join(',')}`, () => ({ dims: [v.length], dataType: ELEM.int64, int64Data: v }));
  }

  /** A 1-D int64 constant made once per key (e.g. gather indices shared by same-shaped layers). */
  constI64(key: string, make: () => number[]): string {
    return this.constant(`const/${key}`, () => {
      const v = make();
      return { dims: [v.length], dataType: ELEM.int64, int64Data: v };
    });
  }

  /** A float32 constant tensor, made once per key (e.g. the one-hot im2col kernel). */
  constTensor(key: string, dims: number[], make: () => Float32Array): string {
    return this.constant(`const/${key}`, () => tensor(dims, 'float', make()));
  }

  /** A float32 initializer under a chosen name (weights baked into an exported model). */
  tensor(name: string, dims: number[], data: Float32Array): string {
    this.claim(name, 'initializer');
    this.inits.push({ ...tensor(dims, 'float', data), name });
    return name;
  }

  input(name: string, type: ElemType, shape: Shape): string {
    this.claim(name, 'graph input');
    this.inputs.push(this.valueInfo(name, type, shape));
    return name;
  }

  output(name: string, type: ElemType, shape: Shape): void {
    if (!this.produced.has(name)) throw new Error(`graph output ${name}: nothing produces it`);
    this.outputs.push(this.valueInfo(name, type, shape));
  }

  toBytes(graphName: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      producerName: 'model-ratatouille',
      graph: { name: graphName, node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private constant(key: string, make: () => onnxProto.onnx.ITensorProto): string {
    const known = this.consts.get(key);
    if (known) return known;
    this.claim(key, 'constant');
    this.inits.push({ ...make(), name: key });
    this.consts.set(key, key);
    return key;
  }

  private claim(name: string, what: string): void {
    if (this.produced.has(name)) throw new Error(`ONNX ${what}: value ${name} is produced twice`);
    this.produced.add(name);
  }

  private valueInfo(name: string, type: ElemType, shape: Shape): onnxProto.onnx.IValueInfoProto {
    const dim = shape.map((d) => {
      const b = d === 'N' ? this.batch : d;
      return b === 'N' ? { dimParam: 'N' } : { dimValue: b };
    });
    return { name, type: { tensorType: { elemType: ELEM[type], shape: { dim } } } };
  }
}

function tensor(dims: number[], type: 'float', data: Float32Array): onnxProto.onnx.ITensorProto {
  return { dims, dataType: ELEM[type], rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) {
    if (!v.every(Number.isInteger)) throw new Error(`attribute ${name}: INTS must be integers`);
    return { name, type: AT.INTS, ints: v };
  }
  if (typeof v === 'object') return { name, type: AT.FLOAT, f: v.float };
  if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer; wrap floats as { float }`);
  return { name, type: AT.INT, i: v };
}
