// The layer-level IR a model is written in: named values with static shapes (the batch axis may
// stay symbolic), layer nodes in topological order, and the parameter table. Op families
// (ops/*.ts) add nodes through their layer functions; compile.ts lowers a Net to ONNX graphs.

/** A dimension: a size, or 'N' for the batch axis left symbolic until the graph is built. */
export type Dim = number | 'N';
export type Shape = readonly Dim[];

export type ParamGroup = 'featurizer' | 'classifier';

/** How a parameter is initialised (init.ts draws it from a seeded stream per parameter). */
export type ParamInit =
  | { kind: 'uniform'; bound: number } // U(-bound, bound): torch's default for conv/linear
  | { kind: 'normal'; std: number } // N(0, std²): torchvision ResNet convs
  | { kind: 'const'; value: number }
  | { kind: 'values'; values: Float32Array }; // imported weights (import.ts), copied on each init

export interface ParamSpec {
  /** The PyTorch state_dict key. */
  name: string;
  shape: number[];
  /** From the first path component of the name. */
  group: ParamGroup;
  /** 'buffer': a state_dict entry that is never differentiated (BatchNorm running statistics). */
  kind: 'param' | 'buffer';
  trainable: boolean;
  init: ParamInit;
}

export type ValueKind = 'input' | 'label' | 'param' | 'buffer' | 'activation';

export interface Value {
  name: string;
  shape: Shape;
  kind: ValueKind;
}

export type Attrs = Record<string, number | string | boolean>;

export interface IRNode<A extends Attrs = Attrs> {
  name: string;
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: A;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Product of the non-batch dims (the per-example size). */
export function perExample(shape: Shape): number {
  return shape.reduce<number>((a, d) => (d === 'N' ? a : a * d), 1);
}

export function staticDims(shape: Shape, where: string): number[] {
  return shape.map((d) => {
    if (d === 'N') throw new Error(`${where}: shape [${shape.join(',')}] has a symbolic batch axis`);
    return d;
  });
}

export class Net {
  readonly values = new Map<string, Value>();
  readonly nodes: IRNode[] = [];
  readonly params: ParamSpec[] = [];
  private readonly nodeNames = new Set<string>();

  /** A graph input fed per step: the batch (float) or its labels (int64). */
  input(name: string, shape: Shape, kind: 'input' | 'label' = 'input'): string {
    this.define({ name, shape, kind });
    return name;
  }

  /**
   * A parameter or buffer; its group is the first component of its state_dict name unless given
   * (imported models keep their own names and take the group from the split point).
   */
  param(name: string, shape: number[], init: ParamInit, kind: 'param' | 'buffer' = 'param', groupOf?: ParamGroup): string {
    const group = groupOf ?? name.split('.')[0];
    if (group !== 'featurizer' && group !== 'classifier') {
      throw new Error(`parameter ${name}: name must start with 'featurizer.' or 'classifier.'`);
    }
    this.define({ name, shape, kind });
    this.params.push({ name, shape, group, kind, trainable: kind === 'param', init });
    return name;
  }

  /** Adds a node; its first output is named after the node, further ones `<node>:<k>`. */
  add<A extends Attrs>(op: string, name: string, inputs: string[], outShapes: Shape[], attrs: A): string[] {
    if (this.nodeNames.has(name)) throw new Error(`node ${name}: name used twice`);
    for (const i of inputs) this.value(i);
    const outputs = outShapes.map((shape, k) => {
      const out = k === 0 ? name : `${name}:${k}`;
      this.define({ name: out, shape, kind: 'activation' });
      return out;
    });
    this.nodeNames.add(name);
    this.nodes.push({ name, op, inputs, outputs, attrs });
    return outputs;
  }

  value(name: string): Value {
    const v = this.values.get(name);
    if (!v) throw new Error(`value ${name}: not defined in this net`);
    return v;
  }

  shape(name: string): Shape {
    return this.value(name).shape;
  }

  /** The producer of each activation, for walking the graph. */
  producers(): Map<string, IRNode> {
    const m = new Map<string, IRNode>();
    for (const n of this.nodes) for (const o of n.outputs) m.set(o, n);
    return m;
  }

  private define(v: Value): void {
    if (this.values.has(v.name)) throw new Error(`value ${v.name}: defined twice`);
    this.values.set(v.name, v);
  }
}
