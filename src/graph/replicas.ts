// Data-parallel training steps across worker threads: each replica runs the same training graph on
// its slice of the batch in its own onnxruntime session (one intra-op thread by default), and the
// step's gradients are the slices' gradients weighted by their share of the batch, exactly the
// mean-loss gradient of the whole batch. On the 2-core machine two single-threaded replicas step
// MNIST_CNN 1.02-1.31x (median 1.08x) faster than one two-threaded session, and more steadily (ORT's intra-op
// threads meet at every one of ~270 small kernels; replicas once per step). `bench train` measures it.
//
// onnxruntime-node refuses SharedArrayBuffer-backed tensors, so each replica keeps private copies
// of the parameters and refreshes them from a shared staging copy at every step; the caller's
// arrays stay the master that the optimizer updates in place. The replicas write their gradients
// into one flat shared buffer each, which the native average kernel sums in a single pass (our
// addon reads shared memory; the JS loop it replaced cost 2 ms a step). Training-mode BatchNorm would see
// per-replica batch statistics, so graphs with buffer updates are not replicated (planReplicas).
import type { Worker } from 'node:worker_threads';
import { native } from '../../bindings/native.js';
import { startWorker } from '../data/ts-worker.js';
import { InputError } from '../errors.js';
import type { TrainingGraph, TrainingGraphOptions } from './compile.js';
import type { Net, ParamSpec } from './ir.js';
import { numel } from './ir.js';
import type { Model } from './models/index.js';
import { batchOf, compileFor, TrainingSession, type SessionOptions, type StepResult } from './session.js';

/** Smallest slice a replica is given by the automatic plan: below it per-kernel overheads win. */
export const MIN_ROWS_PER_REPLICA = 16;

/**
 * Forward multiply-adds per step per trainable parameter below which 'auto' keeps one session: a
 * replicated step moves every parameter and gradient through shared memory (~10 ns each), which
 * only pays where compute dwarfs it. Measured on 2 cores: MNIST_CNN at batch 64 (12,500) steps
 * 1.01-1.31x faster replicated; ResNet-18 at 224 px, batch 16 (2,600) even; at 64 px (213) 0.69x.
 */
export const MIN_MACS_PER_PARAM = 5000;

/** Forward multiply-adds of one example through the net's convolutions and linear layers. */
export function macsPerExample(net: Net): number {
  let macs = 0;
  for (const n of net.nodes) {
    if (n.op !== 'Conv2d' && n.op !== 'Linear') continue;
    const out = net.shape(n.outputs[0]).slice(2) as number[]; // conv: [ho, wo]; linear: []
    macs += numel(net.shape(n.inputs[1]) as number[]) * numel(out);
  }
  return macs;
}

/** Parent → replica. */
export type ReplicaRequest =
  | { readonly type: 'step'; readonly x: Float32Array; readonly y: BigInt64Array; readonly seed?: number; readonly offset: number; readonly total: number }
  | { readonly type: 'release' };

/** Replica → parent. */
export type ReplicaReply = { readonly type: 'ready' } | { readonly type: 'stepped'; readonly loss: number } | { readonly type: 'error'; readonly message: string };

export interface ReplicaInit {
  readonly graph: TrainingGraph;
  readonly specs: ParamSpec[];
  readonly inputShape: readonly number[];
  /** Staging copies of every parameter and buffer (shared; written by the parent before each step). */
  readonly staging: Map<string, Float32Array>;
  /** This replica's gradient outputs (shared; read by the parent after each step). */
  readonly grads: Map<string, Float32Array>;
  readonly threads: number;
}

export interface ReplicaPlan {
  readonly replicas: number;
  /** ORT intra-op threads of each replica. */
  readonly threadsEach: number;
}

/**
 * How to spread `threads` over replicas for batches of `batch`: `requested` replicas, or 'auto' =
 * one single-threaded replica per thread while each keeps MIN_ROWS_PER_REPLICA rows, where the
 * step's compute per parameter (`macsPerParam`: forward MACs of the batch / trainable parameters)
 * reaches MIN_MACS_PER_PARAM. One replica (a plain session) for CUDA and for graphs that update buffers.
 */
export function planReplicas(threads: number, batch: number, requested: number | 'auto', o: { cuda: boolean; updatesBuffers: boolean; macsPerParam: number }): ReplicaPlan {
  if (o.cuda || o.updatesBuffers || (requested === 'auto' && o.macsPerParam < MIN_MACS_PER_PARAM)) return { replicas: 1, threadsEach: threads };
  const r = requested === 'auto' ? Math.max(1, Math.min(threads, Math.floor(batch / MIN_ROWS_PER_REPLICA))) : Math.min(requested, batch);
  return { replicas: r, threadsEach: Math.max(1, Math.floor(threads / r)) };
}

const sharedCopy = (a: Float32Array) => {
  const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
};

interface Replica {
  readonly worker: Worker;
  /** Every gradient output back to back (graph.grads order), as bytes for the native sum. */
  readonly flatGrads: Uint8Array;
  /** The pending request's settlement. */
  pending?: { resolve: (r: ReplicaReply) => void; reject: (e: Error) => void };
  failed?: Error;
}

function request(r: Replica, m: ReplicaRequest): Promise<ReplicaReply> {
  if (r.failed) return Promise.reject(r.failed);
  return new Promise((resolve, reject) => {
    r.pending = { resolve, reject };
    r.worker.postMessage(m);
  });
}

export class ReplicatedTrainingSession {
  private released = false;

  private constructor(
    readonly graph: TrainingGraph,
    readonly params: ReadonlyMap<string, Float32Array>,
    private readonly staging: Map<string, Float32Array>,
    private readonly replicas: Replica[],
    private readonly inputShape: readonly number[],
  ) {}

  /** `replicas` ≥ 2 threads stepping `model` on slices of each batch; `params` are the caller's master arrays. */
  static async create(
    model: Model,
    params: ReadonlyMap<string, Float32Array>,
    replicas: number,
    opts: Omit<TrainingGraphOptions, 'batch'> & SessionOptions & { threadsEach?: number } = {},
  ): Promise<ReplicatedTrainingSession> {
    if ((opts.executionProvider ?? 'cpu') !== 'cpu') throw new InputError('replicas', 'data-parallel replicas run on the CPU execution provider only');
    if (opts.logits || opts.gradInputs?.length) throw new InputError('replicas', 'logits and input gradients are not gathered from replicas');
    return ReplicatedTrainingSession.fromGraph(await compileFor(model, opts), model, params, replicas, opts.threadsEach ?? 1);
  }

  /**
   * Replicas of a compiled CPU training graph. Its batch axis must be symbolic: slices differ by a
   * row when the batch does not divide (a fixed batch measured no faster on ORT CPU).
   */
  static async fromGraph(graph: TrainingGraph, model: Model, params: ReadonlyMap<string, Float32Array>, replicas: number, threadsEach: number): Promise<ReplicatedTrainingSession> {
    if (!Number.isInteger(replicas) || replicas < 2) throw new InputError('replicas', `${replicas}: a replicated session needs at least 2`);
    if (graph.bufferUpdates.length) throw new InputError('replicas', `${model.spec.arch} updates buffers in training (BatchNorm statistics); it cannot be split across replicas`);
    const staging = new Map(model.params.map((p) => [p.name, sharedCopy(params.get(p.name)!)]));
    const started: Replica[] = [];
    try {
      for (let k = 0; k < replicas; k++) {
        const flat = new Float32Array(new SharedArrayBuffer(4 * gradElements(graph, params)));
        const init: ReplicaInit = { graph, specs: model.params, inputShape: model.spec.inputShape, staging, grads: gradViews(graph, params, flat), threads: threadsEach };
        const r: Replica = { worker: startWorker(new URL('./replica-worker.js', import.meta.url), { workerData: init }), flatGrads: new Uint8Array(flat.buffer) };
        started.push(r);
        listen(r);
      }
      // Each replica answers 'ready' once its session exists (or 'error').
      await Promise.all(started.map((r) => new Promise<ReplicaReply>((resolve, reject) => (r.pending = { resolve, reject }))));
    } catch (e) {
      await Promise.all(started.map((r) => r.worker.terminate()));
      throw e;
    }
    return new ReplicatedTrainingSession(graph, params, staging, started, model.spec.inputShape);
  }

  /** Number of replicas. */
  get size(): number {
    return this.replicas.length;
  }

  /** One step on the whole batch: the same contract as TrainingSession.step (fresh gradient arrays). */
  async step(x: Float32Array, y: BigInt64Array, seed?: number): Promise<StepResult> {
    if (this.released) throw new Error('ReplicatedTrainingSession: used after release()');
    const n = batchOf(x, this.inputShape, 'x');
    if (y.length !== n) throw new InputError('y', `${y.length} labels for a batch of ${n}`);
    if (this.graph.masks.length && seed === undefined) throw new InputError('seed', 'required: the training graph has dropout masks');
    for (const [name, a] of this.staging) a.set(this.params.get(name)!);
    const per = x.length / n;
    const R = Math.min(this.replicas.length, n);
    const rows = Array.from({ length: R }, (_, k) => [Math.floor((k * n) / R), Math.floor(((k + 1) * n) / R)] as const);
    // Every replica settles before the step does, so a failed step leaves none of them busy.
    const settled = await Promise.allSettled(
      rows.map(([a, b], k) =>
        request(this.replicas[k], { type: 'step', x: x.slice(a * per, b * per), y: y.slice(a, b), ...(seed !== undefined ? { seed } : {}), offset: a, total: n }),
      ),
    );
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    // The mean loss over the batch is the row-weighted mean of the slices' mean losses.
    const w = rows.map(([a, b]) => (b - a) / n);
    let loss = 0;
    settled.forEach((r, k) => (loss += w[k] * ((r as PromiseFulfilledResult<ReplicaReply>).value as { loss: number }).loss));
    // Σ w_k·g_k over the flat gradient buffers in one native pass (the checkpoint average's kernel).
    const sum = native().averageKernel(rows.map((_, k) => this.replicas[k].flatGrads), rows.map(() => 'F32' as const), w, 'F32').out;
    const grads = gradViews(this.graph, this.params, new Float32Array(sum.buffer, sum.byteOffset, sum.byteLength / 4));
    return { loss, grads };
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await Promise.all(this.replicas.map((r) => request(r, { type: 'release' }).catch(() => undefined).then(() => r.worker.terminate())));
  }
}

const gradElements = (graph: TrainingGraph, params: ReadonlyMap<string, Float32Array>) => graph.grads.reduce((a, n) => a + params.get(n)!.length, 0);

/** Per-parameter views, in graph.grads order, into one flat gradient array. */
function gradViews(graph: TrainingGraph, params: ReadonlyMap<string, Float32Array>, flat: Float32Array): Map<string, Float32Array> {
  const views = new Map<string, Float32Array>();
  let at = 0;
  for (const n of graph.grads) {
    const len = params.get(n)!.length;
    views.set(n, flat.subarray(at, at + len));
    at += len;
  }
  return views;
}

/**
 * The training session a trainer should use for batches of `batch` rows on `threads` threads:
 * replicated per planReplicas (`replicas`: a count or 'auto'), else one session.
 */
export async function createTrainingSession(
  model: Model,
  params: ReadonlyMap<string, Float32Array>,
  o: Omit<TrainingGraphOptions, 'batch'> & SessionOptions & { threads: number; batch: number; replicas: number | 'auto' },
): Promise<TrainingSession | ReplicatedTrainingSession> {
  const cuda = (o.executionProvider ?? 'cpu') === 'cuda';
  const { batch, replicas, ...graphOpts } = o;
  const graph = await compileFor(model, graphOpts);
  const whole = !!(o.logits || o.gradInputs?.length);
  const trainable = gradElements(graph, params);
  const macsPerParam = (macsPerExample(model.roles.net) * batch) / Math.max(1, trainable);
  const plan = planReplicas(o.threads, batch, whole ? 1 : replicas, { cuda, updatesBuffers: graph.bufferUpdates.length > 0, macsPerParam });
  if (plan.replicas > 1) return ReplicatedTrainingSession.fromGraph(graph, model, params, plan.replicas, plan.threadsEach);
  return TrainingSession.fromGraph(graph, model.params, model.spec.inputShape, params, graphOpts);
}

function listen(r: Replica): void {
  const fail = (e: Error) => {
    r.failed = e;
    r.pending?.reject(e);
    r.pending = undefined;
  };
  r.worker.on('message', (m: ReplicaReply) => {
    const p = r.pending;
    r.pending = undefined;
    // A failed step leaves the replica usable, as a failed run leaves an ORT session.
    if (m.type === 'error') p?.reject(new Error(`training replica: ${m.message}`));
    else p?.resolve(m);
  });
  r.worker.on('error', (e) => fail(new Error(`training replica: ${String(e?.message ?? e).split('\n')[0]}`)));
  r.worker.on('exit', (code) => fail(new Error(`training replica exited with code ${code}`)));
}
