// Import of external ONNX inference models (e.g. torch.onnx.export of a ResNet or an MNIST CNN)
// as trainable Models: each node maps onto the layer IR (exporter patterns such as GroupNorm's
// Reshape → InstanceNormalization → Reshape → Mul → Add, or MatMul + Add, are recognised), float
// initializers used as weights become parameters under their own names (BatchNorm statistics
// become buffers), and the graph splits into featurizer and classifier at a named tensor, where
// the feature dropout goes, as in buildModel's models.
import { InputError } from '../errors.js';
import { loadOnnxModel } from '../io/onnx.js';
import type { Attrs, ParamGroup, ParamInit, Shape } from './ir.js';
import { Net, numel } from './ir.js';
import type { Known, NodeProto } from './import-onnx.js';
import { attrs, checkSupported, constantValue, decodeTensor } from './import-onnx.js';
import type { Model } from './models/index.js';
import { assembleModel } from './models/index.js';
import { crossEntropy, dropout } from './ops/index.js';

export interface ImportOptions {
  /** Node or tensor after which the classifier starts; default: the input of the last Gemm/MatMul. */
  split?: string;
  /** A different class count: the classifier (one Linear layer) is replaced by a freshly initialised one. */
  numClasses?: number;
}

export interface ImportedModel {
  /** Usable like buildModel()'s; initParams(seed) returns copies of the imported weights. */
  model: Model;
  /** The imported weights (fresh arrays), keyed by initializer name. */
  params: Map<string, Float32Array>;
}

type ParamVal = { kind: 'param'; name: string; dims: number[]; data: Float32Array };
type Val =
  | { kind: 'act'; ir: string }
  | ParamVal
  | { kind: 'const'; k: Known }
  | { kind: 'shape'; of: string }
  // GroupNorm as torch exports it, one stage per node until the affine Add completes it.
  | { kind: 'gn'; stage: 'grouped' | 'normalized' | 'back' | 'scaled'; src: string; groups: number; eps: number; gamma?: ParamVal }
  | { kind: 'matmul'; x: string; w: ParamVal; node: string; group: ParamGroup };

const RESERVED = new Set(['x', 'y', 'loss', 'logits', 'featurizer.dropout', 'featurizer.dropout.mask']);

export async function importOnnxModel(path: string, opts: ImportOptions = {}): Promise<ImportedModel> {
  if (opts.numClasses !== undefined && !(Number.isInteger(opts.numClasses) && opts.numClasses > 0)) throw new InputError('numClasses', `${opts.numClasses} is not a positive integer`);
  const proto = await loadOnnxModel(path);
  const g = proto.graph!;
  const nodes = g.node ?? [];
  checkSupported(nodes, path);
  const opset = proto.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version;
  return new Importer(path, nodes, Number(opset ?? 13), opts).run(g);
}

class Importer {
  readonly net = new Net();
  private readonly vals = new Map<string, Val>();
  private readonly declared = new Map<string, number[]>();
  private readonly classifier = new Set<NodeProto>();
  private split = '';
  /** The IR value at the split (before the feature dropout). */
  private feature = '';
  private head?: string;

  constructor(private readonly path: string, private readonly nodes: NodeProto[], private readonly opset: number, private readonly opts: ImportOptions) {}

  private fail(problem: string): never {
    throw new InputError(this.path, problem);
  }

  run(g: NonNullable<Awaited<ReturnType<typeof loadOnnxModel>>['graph']>): ImportedModel {
    const inits = new Set((g.initializer ?? []).map((t) => t.name!));
    for (const t of g.initializer ?? []) {
      const k = decodeTensor(t, this.path);
      this.vals.set(t.name!, k.f32 ? { kind: 'param', name: t.name!, dims: k.dims, data: k.f32 } : { kind: 'const', k });
    }
    const inputs = (g.input ?? []).filter((i) => !inits.has(i.name!));
    if (inputs.length !== 1 || (g.output ?? []).length !== 1) this.fail(`expected one input and one output, found ${inputs.length} and ${(g.output ?? []).length}`);
    const dims = (inputs[0].type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue ? Number(d.dimValue) : 0));
    const [c, h, w] = dims.slice(1);
    if (dims.length !== 4 || !(c > 0 && h > 0 && w > 0)) this.fail(`input ${inputs[0].name} must be [N, C, H, W] with static C, H, W`);
    const x = this.net.input('x', ['N', c, h, w]);
    const y = this.net.input('y', ['N'], 'label');
    this.vals.set(inputs[0].name!, { kind: 'act', ir: x });
    this.findSplit(inputs[0].name!);

    for (const n of this.nodes) this.node(n);
    const logits = this.act(g.output![0].name!, 'graph output');
    const out = this.net.shape(logits);
    if (out.length !== 2) this.fail(`output ${g.output![0].name} is [${out.join(',')}], expected [N, classes]`);
    if (this.opts.numClasses !== undefined && (this.opts.numClasses !== out[1] || (this.head !== undefined && this.vals.get(this.head)?.kind === 'act' && (this.vals.get(this.head) as { ir: string }).ir !== logits))) {
      this.fail(`numClasses: the classifier after ${this.split} is not a single Linear layer ending the model, so it cannot be resized`);
    }
    if (!this.feature) this.fail(`split ${this.split} is not computed on the way to the output`);
    const featureDim = numel(this.net.shape(this.feature).slice(1) as number[]);
    const loss = crossEntropy(this.net, 'loss', logits, y);
    const spec = { arch: 'onnx' as const, path: this.path, split: this.split, inputShape: [c, h, w] as const, numClasses: out[1] as number };
    const model = assembleModel(spec, { net: this.net, x, y, logits, loss }, featureDim);
    return { model, params: model.initParams(0) };
  }

  /** The split tensor and the nodes after it (the classifier). */
  private findSplit(input: string): void {
    let s = this.opts.split;
    if (s === undefined) {
      const last = [...this.nodes].reverse().find((n) => n.opType === 'Gemm' || n.opType === 'MatMul');
      if (!last) this.fail('no Gemm or MatMul to take as the classifier; name the split tensor');
      s = last.input![0];
    } else {
      const byNode = this.nodes.find((n) => n.name === s);
      if (byNode) s = byNode.output![0];
      else if (!this.nodes.some((n) => n.output?.includes(s!))) this.fail(`split: no node or tensor named ${JSON.stringify(s)}`);
    }
    if (s === input) this.fail(`split ${s} is the model input: nothing would be left for the featurizer`);
    const after = new Set([s]);
    for (const n of this.nodes) {
      if (!n.input?.some((i) => after.has(i))) continue;
      this.classifier.add(n);
      for (const o of n.output ?? []) after.add(o);
    }
    this.split = s;
  }

  private val(name: string, where: string): Val {
    const v = this.vals.get(name);
    if (!v) this.fail(`${where}: input ${name} is not known (not an initializer, input or earlier output)`);
    return v;
  }

  /** An IR activation (completing a pending MatMul as a Linear without bias). */
  private act(name: string, where: string): string {
    const v = this.val(name, where);
    if (v.kind === 'act') return v.ir;
    if (v.kind === 'matmul') return this.linear(v.node, v.x, v.w, undefined, v.group, true);
    this.fail(`${where}: ${name} is not an activation here (${v.kind === 'gn' ? 'an incomplete GroupNorm pattern' : v.kind})`);
  }

  private param(name: string, where: string): ParamVal {
    const v = this.val(name, where);
    if (v.kind !== 'param') this.fail(`${where}: ${name} must be a float initializer`);
    return v;
  }

  private ints(name: string, where: string): number[] {
    const v = this.val(name, where);
    if (v.kind !== 'const' || !v.k.ints) this.fail(`${where}: ${name} must be a constant integer tensor`);
    return v.k.ints;
  }

  /**
   * Declares an IR parameter once, in the layout the IR op needs: the imported values (reshaped,
   * or `data` when transposed/expanded), or a fresh seeded init (`fresh`, a resized head).
   */
  private declare(p: ParamVal, shape: number[], group: ParamGroup, kind: 'param' | 'buffer' = 'param', data = p.data, fresh?: ParamInit): string {
    const known = this.declared.get(p.name);
    if (known) {
      if (known.join() !== shape.join()) this.fail(`initializer ${p.name} is used as [${known}] and as [${shape}]`);
      return p.name;
    }
    if (!fresh && data.length !== numel(shape)) this.fail(`initializer ${p.name} has ${data.length} values, expected [${shape}]`);
    this.declared.set(p.name, shape);
    return this.net.param(p.name, shape, fresh ?? { kind: 'values', values: data }, kind, group);
  }

  /** Binds an ONNX tensor; at the split, the feature dropout goes between it and the classifier. */
  private bind(tensor: string, v: Val): void {
    if (tensor === this.split) {
      if (v.kind === 'matmul') v = { kind: 'act', ir: this.linear(`${tensor}.linear`, v.x, v.w, undefined, v.group, true) };
      if (v.kind !== 'act') this.fail(`split ${tensor} is inside a pattern (${v.kind === 'gn' ? 'GroupNorm' : v.kind}); split at a layer's output`);
      this.feature = v.ir;
      v = { kind: 'act', ir: dropout(this.net, 'featurizer.dropout', v.ir) };
    }
    this.vals.set(tensor, v);
  }

  /** Adds an IR node named after the ONNX tensor it computes and binds that tensor. */
  private emit(op: string, tensor: string, inputs: string[], shape: Shape, a: Attrs = {}): string {
    const name = RESERVED.has(tensor) || tensor.startsWith('grad.') || tensor.startsWith('next.') ? `${tensor}.onnx` : tensor;
    const ir = this.net.add(op, name, inputs, [shape], a)[0];
    this.bind(tensor, { kind: 'act', ir });
    return ir;
  }

  private nchw(ir: string, where: string): [number, number, number] {
    const s = this.net.shape(ir);
    if (s.length !== 4) this.fail(`${where}: expected an [N, C, H, W] input, got [${s.join(',')}]`);
    return s.slice(1) as [number, number, number];
  }

  private linear(tensor: string, x: string, w: ParamVal, b: ParamVal | undefined, group: ParamGroup, transposed = false): string {
    const s = this.net.shape(x);
    if (s.length !== 2) this.fail(`${tensor}: Linear input must be [N, F], got [${s.join(',')}]`);
    const f = s[1] as number;
    let out = transposed ? w.dims[1] : w.dims[0];
    if (w.dims.length !== 2 || (transposed ? w.dims[0] : w.dims[1]) !== f) this.fail(`${tensor}: weight ${w.name} [${w.dims}] does not fit ${f} features`);
    // The IR's Linear holds nn.Linear's [out, F]; MatMul / Gemm(transB=0) weights are [F, out].
    const wData = transposed ? Float32Array.from({ length: w.data.length }, (_, i) => w.data[(i % f) * out + Math.floor(i / f)]) : w.data;
    let fresh: ParamInit | undefined;
    const resize = this.opts.numClasses;
    if (group === 'classifier' && resize !== undefined && resize !== out) {
      if (this.head) this.fail(`numClasses: the classifier after ${this.split} has more than one Linear layer`);
      [out, fresh, this.head] = [resize, { kind: 'uniform', bound: 1 / Math.sqrt(f) }, tensor]; // nn.Linear's default init
    }
    const inputs = [x, this.declare(w, [out, f], group, 'param', wData, fresh)];
    if (b) inputs.push(this.declare(b, [out], group, 'param', b.data, fresh));
    return this.emit('Linear', tensor, inputs, [s[0], out], { bias: b !== undefined });
  }

  private node(n: NodeProto): void {
    const op = n.opType!, out = n.output![0], ins = n.input ?? [];
    const where = `${op} ${n.name || out}`;
    const group: ParamGroup = this.classifier.has(n) ? 'classifier' : 'featurizer';
    if (group === 'classifier') {
      for (const i of ins) {
        const v = this.vals.get(i);
        if (i && i !== this.split && v && v.kind !== 'param' && v.kind !== 'const' && !this.isAfterSplit(i)) this.fail(`split ${this.split}: ${where} also reads ${i} from before the split`);
      }
    }
    const opt = (k: number) => (ins[k] ? ins[k] : undefined);
    switch (op) {
      case 'Identity':
      case 'Dropout': // inference models: Dropout is the identity
        this.bind(out, this.val(ins[0], where));
        return;
      case 'Constant':
        this.bind(out, { kind: 'const', k: constantValue(n, this.path) });
        return;
      case 'Conv': {
        const x = this.act(ins[0], where), [ci, h, w] = this.nchw(x, where);
        const wt = this.param(ins[1], where), groups = attrs.int(n, 'group', 1);
        const k = wt.dims[2], stride = attrs.ints(n, 'strides', [1])![0], pad = attrs.ints(n, 'pads', [0])![0];
        if (wt.dims.length !== 4 || wt.dims[1] * groups !== ci || wt.dims[3] !== k) this.fail(`${where}: weight [${wt.dims}] does not fit ${ci} input channels in ${groups} groups`);
        const b = opt(2) ? this.param(ins[2], where) : undefined;
        const inputs = [x, this.declare(wt, wt.dims, group)];
        if (b) inputs.push(this.declare(b, [wt.dims[0]], group));
        const size = (d: number) => Math.floor((d + 2 * pad - k) / stride) + 1;
        this.emit('Conv2d', out, inputs, ['N', wt.dims[0], size(h), size(w)], { k, stride, pad, groups, bias: b !== undefined });
        return;
      }
      case 'Relu': {
        const x = this.act(ins[0], where);
        this.emit('ReLU', out, [x], this.net.shape(x));
        return;
      }
      case 'BatchNormalization': {
        const x = this.act(ins[0], where), [ch] = this.nchw(x, where);
        const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => this.param(ins[i], where));
        const inputs = [x, this.declare(scale, [ch], group), this.declare(bias, [ch], group), this.declare(mean, [ch], group, 'buffer'), this.declare(variance, [ch], group, 'buffer')];
        this.emit('BatchNorm', out, inputs, this.net.shape(x), { mode: 'frozen', eps: attrs.float(n, 'epsilon', 1e-5), momentum: 0.1 });
        return;
      }
      case 'MaxPool': {
        const x = this.act(ins[0], where), [ch, h, w] = this.nchw(x, where);
        const k = attrs.ints(n, 'kernel_shape', [1])![0], stride = attrs.ints(n, 'strides', [1])![0], pad = attrs.ints(n, 'pads', [0])![0];
        const size = (d: number) => Math.floor((d + 2 * pad - k) / stride) + 1;
        this.emit('MaxPool', out, [x], ['N', ch, size(h), size(w)], { k, stride, pad });
        return;
      }
      case 'GlobalAveragePool':
      case 'ReduceMean': {
        const x = this.act(ins[0], where), [ch] = this.nchw(x, where);
        if (op === 'ReduceMean') {
          const axes = (this.opset >= 18 ? (opt(1) ? this.ints(ins[1], where) : undefined) : attrs.ints(n, 'axes', undefined))?.map((a) => (a < 0 ? a + 4 : a));
          if (!axes || axes.sort().join() !== '2,3') this.fail(`${where}: only a mean over the spatial axes [2, 3] is supported`);
          if (attrs.int(n, 'keepdims', 1) === 0) {
            const gap = this.net.add('GlobalAvgPool', `${out}/gap`, [x], [['N', ch, 1, 1]], {})[0];
            this.emit('Reshape', out, [gap], ['N', ch], { shape: `${ch}` });
            return;
          }
        }
        this.emit('GlobalAvgPool', out, [x], ['N', ch, 1, 1]);
        return;
      }
      case 'Flatten': {
        const x = this.act(ins[0], where), f = numel(this.net.shape(x).slice(1) as number[]);
        this.emit('Reshape', out, [x], ['N', f], { shape: `${f}` });
        return;
      }
      case 'Shape':
        if (attrs.has(n, 'start') || attrs.has(n, 'end')) this.fail(`${where}: Shape with start/end is not supported`);
        this.bind(out, { kind: 'shape', of: this.act(ins[0], where) });
        return;
      case 'Reshape':
        return this.reshape(n, where);
      case 'Unsqueeze':
      case 'Squeeze':
        return this.squeeze(n, where);
      case 'InstanceNormalization':
      case 'GroupNormalization':
        return this.norm(n, where, group);
      case 'Mul': {
        const v = this.val(ins[0], where), gamma = this.param(ins[1], where);
        if (v.kind !== 'gn' || v.stage !== 'back') this.fail(`${where}: Mul is supported only as GroupNorm's scale`);
        this.bind(out, { ...v, stage: 'scaled', gamma });
        return;
      }
      case 'Add': {
        // Pattern values (a pending GroupNorm affine or MatMul) may be either operand.
        const [a, b] = [this.val(ins[0], where), this.val(ins[1], where)].sort((p, q) => Number(p.kind === 'param') - Number(q.kind === 'param'));
        if (a.kind === 'gn' && a.stage === 'scaled' && b.kind === 'param') {
          const ch = this.nchw(a.src, where)[0];
          this.emit('GroupNorm', out, [a.src, this.declare(a.gamma!, [ch], group), this.declare(b, [ch], group)], this.net.shape(a.src), { groups: a.groups, eps: a.eps });
        } else if (a.kind === 'matmul' && b.kind === 'param') {
          this.linear(out, a.x, a.w, b, a.group, true);
        } else {
          const [x, z] = [this.act(ins[0], where), this.act(ins[1], where)]; // a param here fails: no broadcast Add
          if (this.net.shape(x).join() !== this.net.shape(z).join()) this.fail(`${where}: only same-shape (residual) Add is supported`);
          this.emit('Add', out, [x, z], this.net.shape(x));
        }
        return;
      }
      case 'Gemm': {
        const c = opt(2) ? this.param(ins[2], where) : undefined;
        this.linear(out, this.act(ins[0], where), this.param(ins[1], where), c, group, attrs.int(n, 'transB', 0) === 0);
        return;
      }
      case 'MatMul':
        this.bind(out, { kind: 'matmul', x: this.act(ins[0], where), w: this.param(ins[1], where), node: out, group });
        return;
      default:
        this.fail(`${where}: not supported`);
    }
  }

  private isAfterSplit(tensor: string): boolean {
    return [...this.classifier].some((n) => n.output?.includes(tensor));
  }

  private reshape(n: NodeProto, where: string): void {
    const [src, shapeIn] = n.input!, out = n.output![0];
    const v = this.val(src, where), target = this.val(shapeIn, where);
    if (v.kind === 'param' && target.kind === 'const' && target.k.ints) {
      this.bind(out, { ...v, dims: target.k.ints });
      return;
    }
    if (v.kind === 'gn' && v.stage === 'normalized') {
      const back = target.kind === 'shape' ? target.of === v.src : target.kind === 'const' && target.k.ints?.slice(1).join() === this.net.shape(v.src).slice(1).join();
      if (!back) this.fail(`${where}: GroupNorm pattern must reshape back to its input's shape`);
      this.bind(out, { ...v, stage: 'back' });
      return;
    }
    const x = this.act(src, where), s = this.net.shape(x);
    let per: number[];
    if (target.kind === 'shape') per = this.net.shape(target.of).slice(1) as number[];
    else if (target.kind === 'const' && target.k.ints) {
      // Dim 0 is the batch: 0 or -1, or a batch size the exporter traced in (x.view(len(x), -1)).
      const t = target.k.ints.slice(1).map((d, i) => (d === 0 ? (s[i + 1] as number) : d));
      const total = numel(s.slice(1) as number[]), known = t.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      per = t.map((d) => (d === -1 ? total / known : d));
      if (s.length === 4 && per.length === 2 && this.next(out)?.opType === 'InstanceNormalization') {
        this.bind(out, { kind: 'gn', stage: 'grouped', src: x, groups: per[0], eps: 0 });
        return;
      }
      if (!Number.isInteger(numel(per)) || numel(per) !== total) this.fail(`${where}: cannot reshape [${s.join(',')}] to [${target.k.ints}]`);
    } else this.fail(`${where}: the target shape must be a constant or Shape() of an activation`);
    this.emit('Reshape', out, [x], ['N', ...per], { shape: per.join(',') });
  }

  /** The single consumer of a tensor, if it has exactly one. */
  private next(tensor: string): NodeProto | undefined {
    const users = this.nodes.filter((m) => m.input?.includes(tensor));
    return users.length === 1 ? users[0] : undefined;
  }

  private squeeze(n: NodeProto, where: string): void {
    const v = this.val(n.input![0], where);
    if (v.kind !== 'param' && v.kind !== 'const') this.fail(`${where}: ${n.opType} is supported only on initializers and constants`);
    const dims = v.kind === 'param' ? v.dims : v.k.dims;
    const raw = this.opset >= 13 ? (n.input![1] ? this.ints(n.input![1], where) : undefined) : attrs.ints(n, 'axes', undefined);
    let next: number[];
    if (n.opType === 'Unsqueeze') {
      next = [...dims];
      const rank = dims.length + (raw ?? []).length;
      for (const a of (raw ?? []).map((a) => (a < 0 ? a + rank : a)).sort((p, q) => p - q)) next.splice(a, 0, 1);
    } else {
      const axes = new Set((raw ?? dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => (a < 0 ? a + dims.length : a)));
      next = dims.filter((_, i) => !axes.has(i));
    }
    this.bind(n.output![0], v.kind === 'param' ? { ...v, dims: next } : { kind: 'const', k: { ...v.k, dims: next } });
  }

  private norm(n: NodeProto, where: string, group: ParamGroup): void {
    const out = n.output![0], ins = n.input!, eps = attrs.float(n, 'epsilon', 1e-5);
    const v = this.val(ins[0], where);
    const values = (name: string) => {
      const s = this.val(name, where);
      return s.kind === 'param' ? s.data : s.kind === 'const' ? s.k.f32 : undefined;
    };
    if (n.opType === 'InstanceNormalization' && v.kind === 'gn' && v.stage === 'grouped') {
      const [scale, bias] = [values(ins[1]), values(ins[2])];
      if (!scale?.every((s) => s === 1) || !bias?.every((b) => b === 0)) this.fail(`${where}: a GroupNorm pattern needs InstanceNormalization with unit scale and zero bias`);
      this.bind(out, { ...v, stage: 'normalized', eps });
      return;
    }
    const x = this.act(ins[0], where), [ch] = this.nchw(x, where);
    const [scale, bias] = [this.param(ins[1], where), this.param(ins[2], where)];
    // InstanceNormalization is GroupNorm with one channel per group. GroupNormalization before
    // opset 21 has one scale/bias per group: it is imported per channel (repeated), untying them.
    const groups = n.opType === 'InstanceNormalization' ? ch : attrs.int(n, 'num_groups', 0);
    if (!(groups > 0 && ch % groups === 0)) this.fail(`${where}: ${ch} channels do not divide into ${groups} groups`);
    const perChannel = (p: ParamVal) => (p.data.length === ch ? p.data : Float32Array.from({ length: ch }, (_, c) => p.data[Math.floor(c / (ch / groups))]));
    const inputs = [x, this.declare(scale, [ch], group, 'param', perChannel(scale)), this.declare(bias, [ch], group, 'param', perChannel(bias))];
    this.emit('GroupNorm', out, inputs, this.net.shape(x), { groups, eps });
  }
}
