// One ORT session stepping M members of a model at once (models/multi.ts). Each member keeps its
// own batch, dropout seed, parameters and gradients; parameters live in stacked arrays fed to ORT
// without copying, and each member sees zero-copy views of its block, so an optimizer per member
// (e.g. Adam.forModels over the views) updates what the next step reads.
import * as ort from 'onnxruntime-node';
import { InputError } from '../errors.js';
import type { TrainingGraph, TrainingGraphOptions } from './compile.js';
import { Rng } from './init.js';
import { numel } from './ir.js';
import type { Model } from './models/index.js';
import type { MultiModel } from './models/multi.js';
import { MEMBER_LOSSES } from './models/multi.js';
import { fillDropoutMask } from './ops/dropout.js';
import type { SessionOptions } from './session.js';
import { batchOf, createSession, wrapParams } from './session.js';

export interface MultiStepResult {
  /** Each member's mean cross-entropy. */
  losses: number[];
  /** Per member, grad.<name> as views into this step's stacked gradient outputs (owned by the caller). */
  grads: Map<string, Float32Array>[];
}

/** Member m's contiguous block of each stacked array, under the single model's names. */
function memberViews(stacked: ReadonlyMap<string, Float32Array>, members: number): Map<string, Float32Array>[] {
  return Array.from({ length: members }, (_, m) => {
    const views = new Map<string, Float32Array>();
    for (const [name, a] of stacked) {
      const size = a.length / members;
      views.set(name, a.subarray(m * size, (m + 1) * size));
    }
    return views;
  });
}

export class MultiTrainingSession {
  private readonly maskBuffers = new Map<string, Float32Array>();

  private constructor(
    readonly session: ort.InferenceSession,
    readonly multi: MultiModel,
    readonly graph: TrainingGraph,
    /** The stacked parameter and buffer arrays ORT reads. */
    readonly stacked: ReadonlyMap<string, Float32Array>,
    /** Member m's parameters: views into `stacked`, keyed like the single model's. */
    readonly memberParams: Map<string, Float32Array>[],
    private readonly tensors: Record<string, ort.Tensor>,
    private readonly fixedBatch: number | undefined,
  ) {}

  /**
   * `inits[m]` are member m's starting parameters and buffers (single-model names and shapes,
   * e.g. model.initParams(seed_m) or a checkpoint); they are copied into the stacked arrays.
   */
  static async create(model: Model, members: number, inits: readonly ReadonlyMap<string, Float32Array>[], opts: TrainingGraphOptions & SessionOptions = {}): Promise<MultiTrainingSession> {
    if (!model.multi) throw new InputError('members', `multi-member graphs are not implemented for ${model.spec.arch}`);
    const multi = model.multi(members);
    if (inits.length !== members) throw new InputError('inits', `${inits.length} parameter sets for ${members} members`);
    const stacked = new Map<string, Float32Array>();
    for (const p of model.params) {
      const size = numel(p.shape), all = new Float32Array(members * size);
      inits.forEach((init, m) => {
        const v = init.get(p.name);
        if (!v) throw new InputError(`inits[${m}]`, `missing ${p.name}`);
        if (v.length !== size) throw new InputError(`inits[${m}]`, `${p.name} has ${v.length} values, expected ${size} for [${p.shape}]`);
        all.set(v, m * size);
      });
      stacked.set(p.name, all);
    }
    const tensors = wrapParams(multi.params, stacked);
    const graph = multi.trainingGraph(opts);
    const session = await createSession(graph.bytes, opts);
    return new MultiTrainingSession(session, multi, graph, stacked, memberViews(stacked, members), tensors, typeof opts.batch === 'number' ? opts.batch : undefined);
  }

  get members(): number {
    return this.multi.members;
  }

  /**
   * One forward + backward pass of every member: member m on (xs[m], ys[m]), with dropout masks
   * drawn from seeds[m] exactly as a single-member TrainingSession.step(xs[m], ys[m], seeds[m]).
   */
  async step(xs: readonly Float32Array[], ys: readonly BigInt64Array[], seeds?: readonly number[]): Promise<MultiStepResult> {
    const M = this.members, shape = this.multi.model.spec.inputShape;
    if (xs.length !== M || ys.length !== M) throw new InputError('batch', `${xs.length} inputs and ${ys.length} label sets for ${M} members`);
    const n = batchOf(xs[0], shape, 'xs[0]');
    const per = numel([...shape]);
    xs.forEach((x, m) => {
      if (x.length !== n * per) throw new InputError(`xs[${m}]`, `${x.length} values, but member 0's batch is ${n} × ${per}`);
      if (ys[m].length !== n) throw new InputError(`ys[${m}]`, `${ys[m].length} labels for a batch of ${n}`);
    });
    if (this.fixedBatch !== undefined && n !== this.fixedBatch) throw new InputError('xs', `batch of ${n}, but the graph was built for ${this.fixedBatch}`);
    // Example n of member m goes to channel block m of row n.
    const x = new Float32Array(n * M * per), y = new BigInt64Array(M * n);
    for (let m = 0; m < M; m++) {
      for (let i = 0; i < n; i++) x.set(xs[m].subarray(i * per, (i + 1) * per), (i * M + m) * per);
      y.set(ys[m], m * n);
    }
    const [c, h, w] = shape;
    const feeds: Record<string, ort.Tensor> = { ...this.tensors, x: new ort.Tensor('float32', x, [n, M * c, h, w]), y: new ort.Tensor('int64', y, [M, n]) };
    for (const mask of this.graph.masks) {
      if (!seeds || seeds.length !== M) throw new InputError('seeds', `one per member required: the training graph has dropout masks`);
      const f = numel(mask.perExample) / M;
      const all = new Float32Array(n * M * f);
      let buf = this.maskBuffers.get(mask.name);
      if (!buf || buf.length !== n * f) this.maskBuffers.set(mask.name, (buf = new Float32Array(n * f)));
      for (let m = 0; m < M; m++) {
        const rng = new Rng(seeds[m], mask.name);
        fillDropoutMask(buf, mask.p, () => rng.uniform());
        for (let i = 0; i < n; i++) all.set(buf.subarray(i * f, (i + 1) * f), (i * M + m) * f);
      }
      feeds[mask.name] = new ort.Tensor('float32', all, [n, ...mask.perExample]);
    }
    const out = await this.session.run(feeds);
    for (const b of this.graph.bufferUpdates) (this.stacked.get(b) as Float32Array).set(out[`next.${b}`].data as Float32Array);
    const stackedGrads = new Map(this.graph.grads.map((p) => [p, out[`grad.${p}`].data as Float32Array]));
    return { losses: Array.from(out[MEMBER_LOSSES].data as Float32Array), grads: memberViews(stackedGrads, M) };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
