// onnxruntime-node plumbing: sessions from graph bytes, parameters wrapped once as ort.Tensors
// over the persistent Float32Arrays (zero copy: the native optimizer updates them in place and
// the next run sees it), one training step → {loss, grads}, one forward → logits.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { InputError } from '../errors.js';
import type { TrainingGraph, TrainingGraphOptions } from './compile.js';
import { LOGITS } from './compile.js';
import { Rng } from './init.js';
import type { ParamSpec } from './ir.js';
import { numel } from './ir.js';
import { OnnxEmitter } from './onnx-builder.js';
import { NCHWC_DOMAIN } from './ops/nchwc.js';
import type { Model } from './models/index.js';
import { fillDropoutMask } from './ops/dropout.js';
import type { ProfileSummary } from './profile.js';
import { takeProfile } from './profile.js';

export interface SessionOptions {
  /** ORT intra-op threads (default: ORT's choice, all cores). */
  threads?: number;
  executionProvider?: 'cpu' | 'cuda';
  /**
   * Whether idle intra-op threads spin between kernels. Default false (ORT's own default is true):
   * on a shared machine spinning threads take the cores the working ones need; `bench train --ab`
   * measured a training step 18-19% faster without spinning at load 6-8 on 2 cores.
   */
  spinning?: boolean;
  /** Turns on ORT's profiler, writing `<profile>_<timestamp>.json` (read it with takeProfile). */
  profile?: string;
}

/** The onnxruntime-node version in use. */
export function ortVersion(): string {
  return ort.env.versions.common ?? 'unknown';
}

function cudaProviderPath(): string {
  const main = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
}

/** An ORT session with optimisation level 'all', sequential execution, one inter-op thread, no spinning. */
export async function createSession(bytes: Uint8Array, o: SessionOptions = {}): Promise<ort.InferenceSession> {
  const ep = o.executionProvider ?? 'cpu';
  if (ep !== 'cpu' && ep !== 'cuda') throw new InputError('execution provider', `'${ep}' is not one of cpu, cuda`);
  if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 1)) {
    throw new InputError('threads', `${o.threads} is not a positive integer`);
  }
  if (ep === 'cuda' && !existsSync(cudaProviderPath())) {
    throw new InputError('execution provider', `cuda is not available: the installed onnxruntime-node ${ort.env.versions.common} has no CUDA provider (${cudaProviderPath()} missing); use cpu`);
  }
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    interOpNumThreads: 1,
    ...(o.threads ? { intraOpNumThreads: o.threads } : {}),
    extra: { session: { intra_op: { allow_spinning: o.spinning ? '1' : '0' } } },
    ...(o.profile ? { enableProfiling: true, profileFilePrefix: o.profile } : {}),
  };
  try {
    return await ort.InferenceSession.create(bytes, options);
  } catch (e) {
    if (ep === 'cuda') throw new InputError('execution provider', `cuda failed to start: ${(e as Error).message}`);
    throw e;
  }
}

let nchwcProbe: Promise<number> | undefined;

/**
 * The channel block of onnxruntime's NCHWc kernels on this machine (16 with AVX-512, 8 with AVX2;
 * 0 if this build has none): ReorderInput pads the channels up to whole blocks, so a 4-channel
 * probe (it takes multiples of 4) returns it. TrainingSession builds CPU training graphs for this
 * block, calling the kernels directly (ops/nchwc.ts).
 */
export function nchwcBlockSize(): Promise<number> {
  nchwcProbe ??= (async () => {
    const e = new OnnxEmitter();
    e.input('x', 'float', [1, 4, 1, 1]);
    e.output(e.node('ReorderInput', ['x'], 'y', {}, NCHWC_DOMAIN), 'float', [1, 'N', 1, 1]);
    try {
      const s = await ort.InferenceSession.create(e.toBytes('nchwc-probe'), { graphOptimizationLevel: 'disabled', logSeverityLevel: 4 });
      const y = (await s.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4, 1, 1]) })).y;
      await s.release();
      return y.dims[1];
    } catch {
      return 0;
    }
  })();
  return nchwcProbe;
}

/** Wraps each parameter's array once; checks names, sizes and that ORT shares the memory. */
export function wrapParams(specs: ParamSpec[], params: ReadonlyMap<string, Float32Array>): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const p of specs) {
    const data = params.get(p.name);
    if (!data) throw new InputError('params', `missing ${p.name}`);
    if (data.length !== numel(p.shape)) throw new InputError('params', `${p.name} has ${data.length} values, expected ${numel(p.shape)} for [${p.shape}]`);
    const t = new ort.Tensor('float32', data, p.shape);
    if (t.data !== data) throw new Error(`onnxruntime-node copied ${p.name}: parameters would not see in-place updates`);
    out[p.name] = t;
  }
  return out;
}

export function batchOf(x: Float32Array, inputShape: readonly number[], where: string): number {
  const per = numel([...inputShape]);
  const n = x.length / per;
  if (!Number.isInteger(n) || n < 1) throw new InputError(where, `x has ${x.length} values, not a multiple of [${inputShape}] (${per})`);
  return n;
}

/** Where a replica's rows sit in the whole batch of a step. */
export interface BatchRows {
  readonly offset: number;
  readonly total: number;
}

/** A model's training graph for the execution provider that will run it (CPU: this machine's NCHWc block). */
export async function compileFor(model: Model, opts: TrainingGraphOptions & SessionOptions): Promise<TrainingGraph> {
  const cpu = (opts.executionProvider ?? 'cpu') === 'cpu';
  return model.trainingGraph({ nchwcBlock: cpu ? await nchwcBlockSize() : 0, ...opts });
}

export interface StepResult {
  loss: number;
  /** grad.<name> for each trainable parameter of the graph (fresh arrays, owned by the caller). */
  grads: Map<string, Float32Array>;
  /** Present when the graph was built with `logits: true`. */
  logits?: Float32Array;
}

export class TrainingSession {
  private readonly masks = new Map<string, Float32Array>();

  private constructor(
    readonly session: ort.InferenceSession,
    readonly graph: TrainingGraph,
    readonly params: ReadonlyMap<string, Float32Array>,
    private readonly tensors: Record<string, ort.Tensor>,
    private readonly inputShape: readonly number[],
    private readonly fixedBatch: number | undefined,
  ) {}

  /** `params` are the persistent arrays: updates to them in place are seen by the next step. */
  static async create(model: Model, params: ReadonlyMap<string, Float32Array>, opts: TrainingGraphOptions & SessionOptions = {}): Promise<TrainingSession> {
    const graph = await compileFor(model, opts);
    return TrainingSession.fromGraph(graph, model.params, model.spec.inputShape, params, opts);
  }

  /** A session over an already compiled training graph (a replica in another thread). */
  static async fromGraph(
    graph: TrainingGraph,
    specs: ParamSpec[],
    inputShape: readonly number[],
    params: ReadonlyMap<string, Float32Array>,
    opts: SessionOptions & { batch?: number | 'N' } = {},
  ): Promise<TrainingSession> {
    const tensors = wrapParams(specs, params);
    const session = await createSession(graph.bytes, opts);
    return new TrainingSession(session, graph, params, tensors, inputShape, typeof opts.batch === 'number' ? opts.batch : undefined);
  }

  /**
   * One forward + backward pass on a batch (x: N×C×H×W floats, y: N labels). `seed` draws the
   * dropout masks (required when the graph has any). BatchNorm running statistics in training
   * mode are written back into their buffers in place, as torch's forward does.
   */
  async step(x: Float32Array, y: BigInt64Array, seed?: number, rows?: BatchRows): Promise<StepResult> {
    const n = batchOf(x, this.inputShape, 'x');
    if (y.length !== n) throw new InputError('y', `${y.length} labels for a batch of ${n}`);
    if (this.fixedBatch !== undefined && n !== this.fixedBatch) throw new InputError('x', `batch of ${n}, but the graph was built for ${this.fixedBatch}`);
    const feeds: Record<string, ort.Tensor> = {
      ...this.tensors,
      x: new ort.Tensor('float32', x, [n, ...this.inputShape]),
      y: new ort.Tensor('int64', y, [n]),
    };
    for (const m of this.graph.masks) {
      if (seed === undefined) throw new InputError('seed', 'required: the training graph has dropout masks');
      const per = numel(m.perExample);
      // A replica draws the whole batch's mask and feeds its own rows, so masks do not depend on
      // how the batch was split.
      const { offset, total } = rows ?? { offset: 0, total: n };
      if (offset + n > total) throw new InputError('rows', `rows ${offset}..${offset + n - 1} exceed the batch of ${total}`);
      let buf = this.masks.get(m.name);
      if (!buf || buf.length !== total * per) this.masks.set(m.name, (buf = new Float32Array(total * per)));
      const rng = new Rng(seed, m.name);
      fillDropoutMask(buf, m.p, () => rng.uniform());
      feeds[m.name] = new ort.Tensor('float32', buf.subarray(offset * per, (offset + n) * per), [n, ...m.perExample]);
    }
    const out = await this.session.run(feeds);
    for (const b of this.graph.bufferUpdates) this.params.get(b)!.set(out[`next.${b}`].data as Float32Array);
    const grads = new Map(this.graph.grads.map((p) => [p, out[`grad.${p}`].data as Float32Array]));
    const logits = out[LOGITS];
    return { loss: (out['loss'].data as Float32Array)[0], grads, ...(logits ? { logits: logits.data as Float32Array } : {}) };
  }

  /** Stops ORT's profiler (SessionOptions.profile) and returns where the time went, dropping `skipRuns` warm-up runs. */
  endProfile(prefix: string, skipRuns = 0): ProfileSummary {
    this.session.endProfiling();
    return takeProfile(prefix, skipRuns);
  }

  /** The ort.Tensor fed for a parameter; its `data` is the caller's array itself. */
  paramTensor(name: string): ort.Tensor | undefined {
    return this.tensors[name];
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export class ForwardSession {
  private constructor(
    readonly session: ort.InferenceSession,
    private readonly tensors: Record<string, ort.Tensor>,
    private readonly inputShape: readonly number[],
  ) {}

  /** Evaluation graph over the same persistent parameter arrays (no copy). */
  static async create(model: Model, params: ReadonlyMap<string, Float32Array>, opts: SessionOptions = {}): Promise<ForwardSession> {
    const tensors = wrapParams(model.params, params);
    const session = await createSession(model.forwardGraph().bytes, opts);
    return new ForwardSession(session, tensors, model.spec.inputShape);
  }

  /** Logits [N, classes], row-major. */
  async logits(x: Float32Array): Promise<Float32Array> {
    const n = batchOf(x, this.inputShape, 'x');
    const out = await this.session.run({ ...this.tensors, x: new ort.Tensor('float32', x, [n, ...this.inputShape]) });
    return out[LOGITS].data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
