// Accuracy of a predictor on a dataset, by the dataset's protocol:
// - domain datasets (≥ 2 domains): every domain's in/out/full accuracy on DomainBed's splits of
//   the trial seed, and with test envs the training-domain validation score and test accuracy
//   (in-split for a single model, full domain for weight averages);
// - single-domain datasets (the MNIST digits): the fixed train/test holdout of the data seed.
// `evaluateOnnx` and `evaluateWeights` wrap this for a model file and for one of our models.
import type { DomainDataset } from '../data/dataset.js';
import { domainSize } from '../data/dataset.js';
import { holdoutSplit, holdoutTestSize } from '../data/holdout.js';
import { createLoader, type DataLoader } from '../data/loader.js';
import {
  accuracyOn,
  evaluateDomains,
  makeSplits,
  pooledValidation,
  testAccuracy,
  trainingDomainValidation,
  type Accuracy,
  type DomainAccuracy,
  type DomainSplit,
  type Predict,
} from '../data/protocol.js';
import { InputError } from '../errors.js';
import type { Model, ModelSpec } from '../graph/index.js';
import { loadOnnxClassifier, type LoadOptions } from './onnx-classifier.js';
import { checkCompatible, toPredict, type PredictLike, type Predictor } from './predictor.js';
import { weightsPredictor } from './weights.js';

export const DEFAULT_EVAL_BATCH = 256;

export interface EvalOptions {
  /** Rows per inference batch (default 256). */
  readonly batch?: number;
  /** DomainBed trial seed of the per-domain in/out splits (default 0). */
  readonly trialSeed?: number;
  /** Precomputed splits (e.g. the trainer's); take precedence over trialSeed. */
  readonly splits?: readonly DomainSplit[];
  /** Test domains: adds the training-domain validation score and test accuracies. */
  readonly testEnvs?: readonly number[];
  /** Domains to evaluate (default all). */
  readonly domains?: readonly number[];
  /** Single-domain datasets: seed of the train/test holdout (default: the dataset's data seed, else 0). */
  readonly dataSeed?: number;
  /** Single-domain datasets: test samples of the holdout (default 20%: 2,000 of the 10,000 digits). */
  readonly holdoutSize?: number;
  /** Folder datasets: evaluate these domains with the training augmentation (as DomainBed's checkpoints do). */
  readonly augmentDomains?: readonly number[];
  readonly augmentSeed?: number;
  /** A loader to reuse (left open); by default one is made for the dataset and closed. */
  readonly loader?: DataLoader;
  /** Decode workers of the loader made for folder datasets. */
  readonly workers?: number;
  /** Called after each batch with samples done and the total. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Names the model in errors (default: the file for evaluateOnnx, else 'model'). */
  readonly where?: string;
}

export interface DomainResult extends DomainAccuracy {
  readonly index: number;
  readonly test: boolean;
}

export interface Selection {
  /** Unweighted mean over training domains of out-split accuracy (DomainBed's training-domain validation). */
  readonly trainingDomainValidation: number;
  /** Sample-weighted out-split accuracy over the training domains (greedy soup's acceptance metric). */
  readonly pooledValidation: number;
  /** Per test domain: in-split accuracy (single-model DomainBed selection) and full-domain accuracy (weight averages). */
  readonly tests: readonly { readonly env: number; readonly domain: string; readonly in: number; readonly full: number }[];
}

interface ResultCommon {
  readonly dataset: string;
  readonly batch: number;
  /** Samples run through the model, and the wall time of the whole evaluation. */
  readonly images: number;
  readonly seconds: number;
}

export interface DomainEvalResult extends ResultCommon {
  readonly protocol: 'domains';
  readonly seeds: { readonly dataSeed: number | null; readonly trialSeed: number | null };
  readonly domains: readonly DomainResult[];
  readonly testEnvs: readonly number[];
  readonly selection: Selection | null;
}

export interface HoldoutEvalResult extends ResultCommon {
  readonly protocol: 'holdout';
  readonly dataSeed: number;
  readonly test: Accuracy;
  readonly train: Accuracy;
}

export type EvalResult = DomainEvalResult | HoldoutEvalResult;

/** Single-domain datasets are evaluated on a train/test holdout instead of DomainBed splits. */
export function usesHoldout(ds: DomainDataset): boolean {
  return ds.domains.length === 1;
}

/** Validates test domain indices against the dataset; `where` names the option in the error. */
export function checkTestEnvs(ds: DomainDataset, envs: readonly number[], where = 'test env'): void {
  if (envs.length && usesHoldout(ds)) {
    throw new InputError(where, `${ds.name} has a single domain and is evaluated on its train/test holdout; test envs apply to datasets with several domains`);
  }
  for (const t of envs) {
    if (!Number.isInteger(t) || t < 0 || t >= ds.domains.length) {
      throw new InputError(where, `${t} is out of range: ${ds.name} has domains 0..${ds.domains.length - 1} (${ds.domains.join(', ')})`);
    }
  }
  if (envs.length && envs.length >= ds.domains.length) throw new InputError(where, `every domain of ${ds.name} is a test env; none is left to validate on`);
}

function checkBatch(batch: number): number {
  if (!Number.isInteger(batch) || batch < 1) throw new InputError('batch', `must be a positive integer, got ${batch}`);
  return batch;
}

/** Counts samples for progress and checks the class count of unannounced logits. */
function instrument(predict: Predict, ds: DomainDataset, where: string, total: number, onProgress?: (done: number, total: number) => void): Predict {
  const k = ds.classes.length;
  let done = 0;
  return async (batch) => {
    const out = await predict(batch);
    const n = batch.shape[0];
    if (out instanceof Float32Array && out.length !== n * k) {
      throw new InputError(where, `the model gives ${out.length / n} logits per sample but ${ds.name} has ${k} classes`);
    }
    done += n;
    onProgress?.(done, total);
    return out;
  };
}

async function withLoader<T>(ds: DomainDataset, o: EvalOptions, fn: (loader: DataLoader) => Promise<T>): Promise<T> {
  if (o.loader) {
    if (o.loader.dataset !== ds) throw new Error('evaluate: the loader given is for another dataset');
    return fn(o.loader);
  }
  const loader = createLoader(ds, { workers: o.workers });
  try {
    return await fn(loader);
  } finally {
    await loader.close();
  }
}

async function evaluateOnDomains(predict: Predict, ds: DomainDataset, o: EvalOptions, where: string): Promise<DomainEvalResult> {
  const testEnvs = [...(o.testEnvs ?? [])];
  const domains = o.domains ?? ds.domains.map((_, d) => d);
  for (const d of domains) if (!(Number.isInteger(d) && d >= 0 && d < ds.domains.length)) throw new InputError('domains', `${d} is not a domain of ${ds.name}`);
  const splits = o.splits ?? makeSplits(ds, o.trialSeed ?? 0);
  const batch = checkBatch(o.batch ?? DEFAULT_EVAL_BATCH);
  const total = domains.reduce((a, d) => a + domainSize(ds, d), 0);
  const t0 = performance.now();
  const acc = await withLoader(ds, o, (loader) =>
    evaluateDomains(loader, splits, instrument(predict, ds, where, total, o.onProgress), {
      batchSize: batch,
      domains,
      augmentDomains: o.augmentDomains,
      augmentSeed: o.augmentSeed,
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const selection: Selection | null = testEnvs.length
    ? {
        trainingDomainValidation: trainingDomainValidation(ds, acc, testEnvs),
        pooledValidation: pooledValidation(ds, acc, testEnvs),
        tests: testEnvs.map((env) => ({ env, domain: ds.domains[env], in: testAccuracy(ds, acc, env, 'in'), full: testAccuracy(ds, acc, env, 'full') })),
      }
    : null;
  return {
    protocol: 'domains',
    dataset: ds.name,
    batch,
    images: total,
    seconds,
    seeds: { dataSeed: ds.kind === 'tensor' ? ds.dataSeed : null, trialSeed: o.splits && o.trialSeed === undefined ? null : (o.trialSeed ?? 0) },
    domains: acc.map((a, i) => ({ index: domains[i], domain: a.domain, test: testEnvs.includes(domains[i]), in: a.in, out: a.out, full: a.full })),
    testEnvs,
    selection,
  };
}

async function evaluateOnHoldout(predict: Predict, ds: DomainDataset, o: EvalOptions, where: string): Promise<HoldoutEvalResult> {
  const dataSeed = o.dataSeed ?? (ds.kind === 'tensor' ? ds.dataSeed : 0);
  const n = domainSize(ds, 0);
  const testSize = o.holdoutSize ?? holdoutTestSize(n);
  if (!Number.isInteger(testSize) || testSize < 1 || testSize >= n) throw new InputError('holdout size', `must be an integer in [1, ${n - 1}] for ${ds.name}, got ${testSize}`);
  const { train, test } = holdoutSplit(n, testSize, dataSeed);
  const batch = checkBatch(o.batch ?? DEFAULT_EVAL_BATCH);
  const counted = instrument(predict, ds, where, n, o.onProgress);
  const t0 = performance.now();
  const [testAcc, trainAcc] = await withLoader(ds, o, async (loader) => [
    await accuracyOn(loader, test, counted, { batchSize: batch }),
    await accuracyOn(loader, train, counted, { batchSize: batch }),
  ]);
  return { protocol: 'holdout', dataset: ds.name, batch, images: n, seconds: (performance.now() - t0) / 1000, dataSeed, test: testAcc, train: trainAcc };
}

/** Evaluates by the dataset's protocol (see the header); a Predictor's shapes are checked first. */
export async function evaluate(p: PredictLike, ds: DomainDataset, o: EvalOptions = {}): Promise<EvalResult> {
  const where = o.where ?? 'model';
  if (typeof p !== 'function') checkCompatible(p as Predictor, ds, where);
  checkTestEnvs(ds, o.testEnvs ?? []);
  const predict = toPredict(p);
  return usesHoldout(ds) ? evaluateOnHoldout(predict, ds, o, where) : evaluateOnDomains(predict, ds, o, where);
}

/** Loads an ONNX classifier (file or bytes), checks it against the dataset, evaluates it and releases it. */
export async function evaluateOnnx(model: string | Uint8Array, ds: DomainDataset, o: EvalOptions & LoadOptions = {}): Promise<EvalResult> {
  const classifier = await loadOnnxClassifier(model, o);
  try {
    return await evaluate(classifier, ds, { ...o, where: o.where ?? classifier.source });
  } finally {
    await classifier.release();
  }
}

/** Evaluates one of our models with a weights map (no export; see weights.ts). */
export async function evaluateWeights(
  model: Model | ModelSpec,
  weights: ReadonlyMap<string, Float32Array>,
  ds: DomainDataset,
  o: EvalOptions & { threads?: number; executionProvider?: 'cpu' | 'cuda' } = {},
): Promise<EvalResult> {
  const p = await weightsPredictor(model, weights, { threads: o.threads, executionProvider: o.executionProvider });
  try {
    return await evaluate(p, ds, o);
  } finally {
    await p.release();
  }
}
