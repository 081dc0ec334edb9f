// Lowers a Net to its three ONNX graphs: the training graph (inputs x, y, every parameter and
// buffer, dropout masks; outputs loss, grad.<param>, next.<buffer>), the forward graph (inputs x
// and parameters; output `logits`) and the export graph (forward with the weights baked in).
import { InputError } from '../errors.js';
import { emitBackward, gradName, nodesFor } from './autodiff.js';
import type { IRNode, Net } from './ir.js';
import { numel } from './ir.js';
import type { LowerCtx, Mode, Tuning } from './op.js';
import { DEFAULT_TUNING } from './op.js';
import { OnnxEmitter } from './onnx-builder.js';
import { opDef } from './ops/index.js';

/** The values of a Net a compiled graph is built around. */
export interface NetRoles {
  net: Net;
  x: string;
  y: string;
  logits: string;
  loss: string;
  /** Further values the training graph outputs under the given names (e.g. per-member losses). */
  outputs?: { name: string; value: string }[];
}

export const LOGITS = 'logits';

export interface TrainingGraphOptions {
  /** Parameter names to hold fixed (no grad.<name> output, no backward through them). */
  frozen?: ReadonlySet<string>;
  /** Dropout probability for Dropout nodes (0: no mask inputs). */
  dropoutP?: number;
  /** A fixed batch size, or 'N' (default) for a symbolic batch axis. */
  batch?: number | 'N';
  /** Also output the logits. */
  logits?: boolean;
  /** Extra non-parameter values to differentiate (tests: 'x'); output grad.<value>. */
  gradInputs?: string[];
  /** Formulation overrides (A/B benchmarks, tests); the defaults are the measured fastest. */
  tuning?: Partial<Tuning>;
  /**
   * ORT's NCHWc channel block on the machine that will run the graph (session.ts nchwcBlockSize);
   * 0 or absent: standard ONNX ops only. The graph is then specific to that block size.
   */
  nchwcBlock?: number;
}

/** A per-step dropout mask input: float [N, ...perExample], 0 or 1/(1-p). */
export interface MaskInput {
  name: string;
  perExample: number[];
  p: number;
}

export interface CompiledGraph {
  bytes: Uint8Array;
  nodeCount: number;
}

export interface TrainingGraph extends CompiledGraph {
  /** Parameters with a grad.<name> output, in state_dict order. */
  grads: string[];
  /** Buffers with a next.<name> output (BatchNorm in training mode). */
  bufferUpdates: string[];
  masks: MaskInput[];
  /** The NCHWc block the graph's convolutions were lowered for (0: standard ops only). */
  nchwcBlock: number;
}

class Lowering implements LowerCtx {
  readonly masks: MaskInput[] = [];
  readonly updates: string[] = [];
  readonly tuning: Readonly<Tuning>;
  constructor(readonly e: OnnxEmitter, readonly net: Net, readonly mode: Mode, readonly dropoutP: number, tuning: Partial<Tuning> = {}, readonly nchwcBlock = 0) {
    this.tuning = { ...DEFAULT_TUNING, ...tuning };
  }

  randomInput(name: string, perExample: number[], p: number): string {
    this.masks.push({ name, perExample, p });
    return this.e.input(name, 'float', ['N', ...perExample]);
  }

  bufferUpdate(buffer: string): string {
    this.updates.push(buffer);
    return `next.${buffer}`;
  }

  /** Declares the graph inputs `nodes` read (or bakes weights in) and lowers the nodes. */
  lower(nodes: IRNode[], weights?: ReadonlyMap<string, Float32Array>): void {
    const used = new Set(nodes.flatMap((n) => n.inputs));
    for (const [name, v] of this.net.values) {
      if (!used.has(name) || v.kind === 'activation') continue;
      if (weights && (v.kind === 'param' || v.kind === 'buffer')) {
        const data = weights.get(name);
        const shape = v.shape as number[];
        if (!data) throw new InputError('export weights', `no weights for ${name}`);
        if (data.length !== numel(shape)) throw new InputError('export weights', `${name} has ${data.length} values, expected ${numel(shape)} for [${shape}]`);
        this.e.tensor(name, shape, data);
      } else {
        this.e.input(name, v.kind === 'label' ? 'int64' : 'float', v.shape);
      }
    }
    for (const n of nodes) opDef(n).lower(this, n);
  }
}

/** Graph output `logits` (the classifier node's value keeps its layer name inside the graph). */
function outputLogits(e: OnnxEmitter, r: NetRoles): void {
  e.node('Identity', [r.logits], LOGITS);
  e.output(LOGITS, 'float', r.net.shape(r.logits));
}

function dropoutP(p: number | undefined): number {
  const v = p ?? 0;
  if (!(v >= 0 && v < 1)) throw new InputError('dropoutP', `${p} is not in [0, 1)`);
  return v;
}

export function compileTraining(r: NetRoles, opts: TrainingGraphOptions = {}): TrainingGraph {
  const { net } = r;
  const frozen = opts.frozen ?? new Set<string>();
  const names = new Set(net.params.map((p) => p.name));
  for (const f of frozen) if (!names.has(f)) throw new InputError('frozen', `${f} is not a parameter of this model`);
  const trainable = net.params.filter((p) => p.trainable && !frozen.has(p.name)).map((p) => p.name);
  for (const v of opts.gradInputs ?? []) net.value(v);

  const e = new OnnxEmitter(opts.batch ?? 'N');
  const c = new Lowering(e, net, 'train', dropoutP(opts.dropoutP), opts.tuning, opts.nchwcBlock ?? 0);
  const nodes = nodesFor(net, [r.loss, ...(opts.logits ? [r.logits] : [])]);
  c.lower(nodes);
  emitBackward(c, nodes, r.loss, new Set([...trainable, ...(opts.gradInputs ?? [])]));

  e.output(r.loss, 'float', []);
  for (const o of r.outputs ?? []) e.output(e.node('Identity', [o.value], o.name), 'float', net.shape(o.value));
  if (opts.logits) outputLogits(e, r);
  for (const v of [...trainable, ...(opts.gradInputs ?? [])]) e.output(gradName(v), 'float', net.shape(v));
  for (const b of c.updates) e.output(`next.${b}`, 'float', net.shape(b));
  return { bytes: e.toBytes('training'), nodeCount: e.nodeCount, grads: trainable, bufferUpdates: c.updates, masks: c.masks, nchwcBlock: c.nchwcBlock };
}

/** Evaluation graph: x (+ parameters as inputs, unless `weights` bakes them in) → logits. */
export function compileForward(r: NetRoles, opts: { batch?: number | 'N'; weights?: ReadonlyMap<string, Float32Array>; tuning?: Partial<Tuning> } = {}): CompiledGraph {
  const e = new OnnxEmitter(opts.batch ?? 'N');
  const c = new Lowering(e, r.net, 'eval', 0, opts.tuning);
  c.lower(nodesFor(r.net, [r.logits]), opts.weights);
  outputLogits(e, r);
  return { bytes: e.toBytes(opts.weights ? 'model' : 'forward'), nodeCount: e.nodeCount };
}

