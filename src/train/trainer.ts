// Runs one TrainJob: a head-only phase (frozen featurizer, its own optimizer) then full
// fine-tuning with a fresh optimizer, the native optimizer stepping (at the job's scheduled lr)
// the persistent parameter arrays that the ORT sessions read, checkpoints by training-domain
// validation (strict ">", so the earliest best wins), and every output written atomically with
// the `done` marker last. Inputs may be standardised (./standardize.ts).
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { checkShift, createLoader, openDataset, type DomainDataset } from '../data/index.js';
import { InputError } from '../errors.js';
import { createTrainingSession, ForwardSession, ReplicatedTrainingSession, type Model, type ModelSpec, type TrainingSession } from '../graph/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { seedHash } from '../util/seed.js';
import { WeightEma } from './ema.js';
import { Adam, AdamW, SGD } from './optim.js';
import { cloneParams, copyParams, firstNonFinite, OUTPUTS, prepareOutDir, writeCheckpoint, type Params } from './checkpoint.js';
import { jobRecord, lrScheduleOf, parseJob, type TrainJob, type TrainJobInput } from './job.js';
import { evaluate, planData, type DomainScores, type RunData } from './run-data.js';
import { buildRunModel } from './run-model.js';
import { scheduledLr } from './schedule.js';
import { poolStats, prependStandardization, standardizer, type InputStats } from './standardize.js';

export type PhaseName = 'head' | 'full';

/** One line of metrics.jsonl: a checkpoint. */
export interface MetricsRecord {
  /** Index of the update after which it was taken (0-based). */
  readonly step: number;
  readonly phase: PhaseName;
  /** Mean training loss over the updates since the previous checkpoint (DomainBed's record). */
  readonly loss: number;
  readonly val: number;
  readonly test: number | null;
  readonly testFull: number | null;
  readonly holdout?: number;
  readonly domains: DomainScores[];
  /** Timing: seconds since training started, training throughput since the previous checkpoint. */
  readonly seconds: number;
  readonly stepsPerSec: number;
  readonly evalSeconds: number;
}

export type TrainProgress =
  | { readonly kind: 'step'; readonly step: number; readonly steps: number; readonly phase: PhaseName; readonly loss: number; readonly stepsPerSec: number; readonly etaSeconds: number }
  | { readonly kind: 'checkpoint'; readonly record: MetricsRecord; readonly best: boolean };

export interface RunOptions {
  onProgress?: (p: TrainProgress) => void;
  /** Use this dataset instead of opening job.data.dataset (an in-memory task); its name must match. */
  dataset?: DomainDataset;
  /** Checked before each update and evaluation batch: an aborted run stops without a `done` marker. */
  signal?: AbortSignal;
}

/** The scores of a checkpoint without its timings (the part that is reproducible). */
export type CheckpointScores = Omit<MetricsRecord, 'seconds' | 'stepsPerSec' | 'evalSeconds'>;

/** result.json. */
export interface RunResult {
  readonly status: 'done' | 'diverged';
  /** Why a diverged run stopped. */
  readonly message?: string;
  readonly outDir: string;
  readonly job: TrainJob;
  readonly model: ModelSpec;
  readonly dataset: { name: string; domainbedName: string; domains: string[]; classes: string[]; trainDomains: string[]; testDomains: string[]; holdoutSize: number | null; dev: boolean };
  readonly seeds: { dataSeed: number; trialSeed: number; hparamsSeed: number | null; runSeed: number };
  /** Updates completed (a diverged run stops before applying the failing one). */
  readonly stepsDone: number;
  readonly best: CheckpointScores | null;
  readonly last: CheckpointScores | null;
  readonly timings: { setupSeconds: number; trainSeconds: number; evalSeconds: number; writeSeconds: number; totalSeconds: number; stepsPerSec: number };
  /** Data-parallel replicas the steps ran as (1: one session; src/graph/replicas.ts). */
  readonly replicas: number;
  /** Output files present (paths inside outDir). */
  readonly files: string[];
  /** With job.data.standardize: the statistics the inputs were standardised by. */
  readonly inputStats?: InputStats;
}

type Optimizer = SGD | Adam;

interface Phase {
  readonly name: PhaseName;
  readonly session: TrainingSession | ReplicatedTrainingSession;
  /** Parameters with gradients, in the graph's order (= the optimizer's). */
  readonly names: string[];
  readonly optimizer: Optimizer;
}

function makeOptimizer(h: TrainJob['hparams'], params: Float32Array[]): Optimizer {
  if (h.optimizer === 'sgd') return new SGD(params, { lr: h.lr, momentum: h.momentum, weightDecay: h.weightDecay });
  if (h.optimizer === 'adamw') return new AdamW(params, { lr: h.lr, weightDecay: h.weightDecay });
  return new Adam(params, { lr: h.lr, weightDecay: h.weightDecay });
}

/** A phase's training graph and a fresh optimizer over exactly the parameters it differentiates. */
async function startPhase(name: PhaseName, model: Model, params: Params, job: TrainJob, batch: number): Promise<Phase> {
  const frozen = name === 'head' ? new Set(model.params.filter((p) => p.group === 'featurizer' && p.kind === 'param').map((p) => p.name)) : undefined;
  const session = await createTrainingSession(model, params, {
    frozen,
    dropoutP: job.hparams.dropout,
    executionProvider: job.ep,
    threads: job.threads ?? availableParallelism(),
    batch,
    replicas: job.replicas ?? 'auto',
  });
  const names = session.graph.grads;
  return { name, session, names, optimizer: makeOptimizer(job.hparams, names.map((n) => params.get(n)!)) };
}

const now = () => performance.now() / 1000;
const scoresOf = ({ seconds: _s, stepsPerSec: _r, evalSeconds: _e, ...rest }: MetricsRecord): CheckpointScores => rest;

/** Whether checkpoint `step` is one: step index a multiple of evalEvery, or the last step. */
export function isCheckpointStep(step: number, job: TrainJob): boolean {
  return step % job.evalEvery === 0 || step === job.hparams.steps - 1;
}

function seedsOf(j: TrainJob): RunResult['seeds'] {
  return { dataSeed: j.data.dataSeed, trialSeed: j.data.trialSeed, hparamsSeed: j.seeds.hparamsSeed ?? null, runSeed: j.seeds.runSeed };
}

/** The dataset part of result.json. */
function datasetInfo(ds: DomainDataset, data: RunData, job: TrainJob): RunResult['dataset'] {
  return {
    name: ds.name,
    domainbedName: ds.domainbedName,
    domains: [...ds.domains],
    classes: [...ds.classes],
    trainDomains: data.trainDomains.map((d) => ds.domains[d]),
    testDomains: data.testDomains.map((d) => ds.domains[d]),
    holdoutSize: data.holdout?.length ?? null,
    dev: job.data.holdout?.devSize !== undefined,
  };
}

/** Checkpoint bookkeeping: metrics.jsonl, and the best weights in memory and in weights.safetensors. */
class Checkpoints {
  readonly records: MetricsRecord[] = [];
  best: CheckpointScores | null = null;
  readonly bestParams: Params;

  constructor(
    private readonly job: TrainJob,
    private readonly model: Model,
    private readonly params: Params,
    private readonly inputStats: InputStats | null,
  ) {
    this.bestParams = cloneParams(params);
  }

  /** Checkpoint metadata: no timings and no outDir, so the same job writes the same bytes. */
  metadata(scores: CheckpointScores): Record<string, unknown> {
    const stats = this.inputStats ? { inputStats: this.inputStats } : {};
    return { format: 'ratatouille-train/1', job: jobRecord(this.job), step: scores.step, scores, seeds: seedsOf(this.job), ...stats };
  }

  /** Records a checkpoint; keeps it as the best on a strict improvement (ties keep the earlier). */
  add(rec: MetricsRecord): boolean {
    this.records.push(rec);
    const b = this.best;
    // A best without a validation score is replaced by any later checkpoint: a real score beats
    // none, and with no validation split at all (val NaN throughout) the latest checkpoint wins.
    const improved = b === null || rec.val > b.val || Number.isNaN(b.val);
    writeFileAtomic(join(this.job.outDir, OUTPUTS.metrics), this.records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    if (improved) {
      this.best = scoresOf(rec);
      copyParams(this.bestParams, this.params);
      writeCheckpoint(join(this.job.outDir, OUTPUTS.weights), this.model, this.bestParams, this.metadata(this.best));
    }
    return improved;
  }

  get last(): CheckpointScores | null {
    return this.records.length ? scoresOf(this.records[this.records.length - 1]) : null;
  }
}

/** Runs a job to completion (or divergence); writes its outputs; resolves to result.json's content. */
export async function runJob(input: TrainJobInput | TrainJob, opts: RunOptions = {}): Promise<RunResult> {
  const t0 = now();
  const job = parseJob(input);
  if (opts.dataset && opts.dataset.name !== job.data.dataset) {
    throw new InputError('job.data.dataset', `'${job.data.dataset}' but the dataset given is '${opts.dataset.name}'`);
  }
  // Everything that can reject the input happens before outDir is touched.
  const ds = opts.dataset ?? (await openDataset(job.data.dataset, { dataSeed: job.data.dataSeed }));
  const data = planData(job, ds);
  checkShift(ds, job.data.shift ?? 0, 'job.data.shift');
  const inputStats = job.data.standardize ? poolStats(ds, data.pools) : null;
  const prepare = inputStats ? standardizer(inputStats, ds.shape) : (x: Float32Array) => x;
  const { model, params } = await buildRunModel(job, ds);
  prepareOutDir(job.outDir);

  const h = job.hparams;
  const schedule = lrScheduleOf(h);
  const out = (f: string) => join(job.outDir, f);
  const ckpt = new Checkpoints(job, model, params, inputStats);
  const time = { setup: 0, train: 0, eval: 0, write: 0 };
  const loader = createLoader(ds);
  let fwd: ForwardSession | null = null;
  let phase: Phase | null = null;
  let failure: string | null = null;
  let stepsDone = 0;
  let replicas = 1;
  const ema = h.ema !== undefined ? new WeightEma(params, h.ema) : null;
  /** Evaluation and checkpoints see the averaged weights when the job keeps an average. */
  const averaged = <T>(fn: () => Promise<T> | T): Promise<T> => (ema ? ema.withAverage(fn) : Promise.resolve(fn()));
  try {
    fwd = await ForwardSession.create(model, params, { threads: job.threads, executionProvider: job.ep });
    const predict = (b: { x: Float32Array }) => {
      if (opts.signal?.aborted) throw new InputError('training', 'cancelled during evaluation');
      return fwd!.logits(prepare(b.x));
    };
    const stream = loader.trainStream({ domains: data.trainDomains, pools: data.pools, batchSizePerDomain: h.batchPerDomain, runSeed: job.seeds.runSeed, shift: job.data.shift });
    time.setup = now() - t0;
    let lossSum = 0;
    let lossCount = 0;
    let intervalTrain = 0;
    for (let t = 0; t < h.steps; t++) {
      if (opts.signal?.aborted) throw new InputError('training', `cancelled at step ${t}`);
      const want: PhaseName = t < h.headOnlySteps ? 'head' : 'full';
      if (phase?.name !== want) {
        await phase?.session.release();
        phase = null;
        phase = await startPhase(want, model, params, job, h.batchPerDomain * data.trainDomains.length);
        replicas = phase.session instanceof ReplicatedTrainingSession ? phase.session.size : 1;
      }
      const ts = now();
      const batch = (await stream.next())!;
      const { loss, grads } = await phase.session.step(prepare(batch.x), batch.y, seedHash(job.seeds.runSeed, 'dropout', t));
      if (!Number.isFinite(loss)) {
        failure = `loss is ${loss} at step ${t} (${phase.name} phase)`;
        break;
      }
      const lr = scheduledLr(h.lr, t, h.steps, schedule);
      for (const g of phase.optimizer.groups) g.hparams.lr = lr;
      phase.optimizer.step(phase.names.map((n) => grads.get(n)!));
      ema?.update();
      stepsDone = t + 1;
      const dt = now() - ts;
      time.train += dt;
      intervalTrain += dt;
      lossSum += loss;
      lossCount++;
      const rate = stepsDone / time.train;
      opts.onProgress?.({ kind: 'step', step: t, steps: h.steps, phase: phase.name, loss, stepsPerSec: rate, etaSeconds: (h.steps - stepsDone) / rate });
      if (!isCheckpointStep(t, job)) continue;

      const bad = firstNonFinite(params);
      if (bad) {
        failure = `weights are not finite after step ${t} (${phase.name} phase): ${bad}`;
        break;
      }
      const te = now();
      const s = await averaged(() => evaluate(loader, data, predict, { batchSize: job.evalBatch, splits: job.evalSplits, augmentSeed: job.seeds.runSeed }));
      const evalSeconds = now() - te;
      time.eval += evalSeconds;
      const rec: MetricsRecord = {
        step: t,
        phase: phase.name,
        loss: lossSum / lossCount,
        val: s.val,
        test: s.test,
        testFull: s.testFull,
        ...(s.holdout !== undefined ? { holdout: s.holdout } : {}),
        domains: s.domains,
        seconds: now() - t0 - time.setup,
        stepsPerSec: lossCount / intervalTrain,
        evalSeconds,
      };
      lossSum = lossCount = intervalTrain = 0;
      const tw = now();
      const improved = await averaged(() => ckpt.add(rec));
      time.write += now() - tw;
      opts.onProgress?.({ kind: 'checkpoint', record: rec, best: improved });
    }

    const { best, last } = ckpt;
    const tw = now();
    if (!failure) {
      await averaged(() => writeCheckpoint(out(OUTPUTS.last), model, params, ckpt.metadata(last!)));
      const onnx = model.exportGraph(ckpt.bestParams).bytes;
      writeFileAtomic(out(OUTPUTS.onnx), inputStats ? prependStandardization(onnx, inputStats) : onnx);
    }
    time.write += now() - tw;
    const result: RunResult = {
      status: failure ? 'diverged' : 'done',
      ...(failure ? { message: `${failure}; ${best ? `weights.safetensors holds step ${best.step}` : 'no checkpoint was written'}` } : {}),
      outDir: job.outDir,
      job,
      model: model.spec,
      dataset: datasetInfo(ds, data, job),
      seeds: seedsOf(job),
      stepsDone,
      best,
      last,
      timings: {
        setupSeconds: time.setup,
        trainSeconds: time.train,
        evalSeconds: time.eval,
        writeSeconds: time.write,
        totalSeconds: now() - t0,
        stepsPerSec: time.train > 0 ? stepsDone / time.train : 0,
      },
      replicas,
      files: [...(best ? [OUTPUTS.weights] : []), ...(failure ? [] : [OUTPUTS.last, OUTPUTS.onnx]), ...(ckpt.records.length ? [OUTPUTS.metrics] : []), OUTPUTS.result],
      ...(inputStats ? { inputStats } : {}),
    };
    writeFileAtomic(out(OUTPUTS.result), JSON.stringify(result, null, 2) + '\n');
    if (!failure) writeFileAtomic(out(OUTPUTS.done), 'done\n');
    return result;
  } finally {
    await phase?.session.release();
    await fwd?.release();
    await loader.close();
  }
}
