// The DomainBed protocol on top of a DomainDataset: per-domain 80/20 in/out splits seeded by
// seed_hash(trialSeed, domain), run seeds, accuracy per domain and split, training-domain
// validation, test accuracy, and mean ± SE over trials (population std / √n).
import { InputError } from '../errors.js';
import { RandomState } from '../util/numpy-random.js';
import { seedHash } from '../util/seed.js';
import { domainSize, type DomainDataset } from './dataset.js';
import type { Batch, DataLoader } from './loader.js';
import { mean, standardError } from '../util/stats.js';

export const HOLDOUT_FRACTION = 0.2;

/** Indices local to one domain: out = first ⌊0.2·n⌋ shuffled (validation), in = the rest. */
export interface DomainSplit {
  readonly in: Int32Array;
  readonly out: Int32Array;
}

export type SplitName = 'in' | 'out' | 'full';

/** The seeds a result depends on, recorded separately with every result. */
export interface SeedRecord {
  /** Domain membership and dataset noise (fixed per dataset build). */
  readonly dataSeed: number;
  /** The in/out split (DomainBed trial_seed). */
  readonly trialSeed: number;
  /** The hparam draw (DomainBed hparams_seed). */
  readonly hparamsSeed: number;
  /** Init, batch order and augmentation: runSeed(...) below. */
  readonly runSeed: number;
}

/** DomainBed misc.split_dataset with seed_hash(trialSeed, domain): shuffle 0..n-1, first ⌊f·n⌋ are out. */
export function splitDomain(n: number, trialSeed: number, domain: number, holdout = HOLDOUT_FRACTION): DomainSplit {
  const keys = new RandomState(seedHash(trialSeed, domain)).permutation(n);
  const nOut = Math.floor(n * holdout);
  return { out: keys.slice(0, nOut), in: keys.slice(nOut) };
}

export function makeSplits(ds: DomainDataset, trialSeed: number, holdout = HOLDOUT_FRACTION): DomainSplit[] {
  return ds.domains.map((_, d) => splitDomain(domainSize(ds, d), trialSeed, d, holdout));
}

/** Global dataset indices of one domain's split (`full` = the whole domain, in order). */
export function splitIndices(ds: DomainDataset, splits: readonly DomainSplit[], domain: number, which: SplitName): Int32Array {
  const o = ds.offsets[domain];
  if (which === 'full') return Int32Array.from({ length: domainSize(ds, domain) }, (_, i) => o + i);
  const local = splits[domain][which];
  const out = new Int32Array(local.length);
  for (let i = 0; i < local.length; i++) out[i] = o + local[i];
  return out;
}

/** The in-split pools of the training domains, for DataLoader.trainStream. */
export function trainingPools(ds: DomainDataset, splits: readonly DomainSplit[], trainDomains: readonly number[]): Int32Array[] {
  return trainDomains.map((d) => splitIndices(ds, splits, d, 'in'));
}

/** Every domain not in testDomains, in order (validating the test domain indices). */
export function trainingDomains(ds: DomainDataset, testDomains: readonly number[]): number[] {
  for (const t of testDomains) {
    if (!Number.isInteger(t) || t < 0 || t >= ds.domains.length) {
      throw new InputError('test domain', `${t} is not a domain index of ${ds.name} (0..${ds.domains.length - 1})`);
    }
  }
  return ds.domains.map((_, d) => d).filter((d) => !testDomains.includes(d));
}

/** DomainBed's run seed: seed_hash(dataset, algorithm, test_envs, hparams_seed, trial_seed). */
export function runSeed(domainbedName: string, algorithm: string, testDomains: readonly number[], hparamsSeed: number, trialSeed: number): number {
  return seedHash(domainbedName, algorithm, [...testDomains], hparamsSeed, trialSeed);
}

// ---- accuracy --------------------------------------------------------------------------------

export interface Accuracy {
  readonly correct: number;
  readonly total: number;
  readonly acc: number;
}

export interface DomainAccuracy {
  readonly domain: string;
  readonly in: Accuracy;
  readonly out: Accuracy;
  /** The whole domain (in ∪ out). */
  readonly full: Accuracy;
}

/** Model outputs for a batch: logits [B, K] (row-major), or predicted class ids [B]. */
export type Predict = (batch: Batch) => Promise<Float32Array | Int32Array> | Float32Array | Int32Array;

const accuracy = (correct: number, total: number): Accuracy => ({ correct, total, acc: total ? correct / total : NaN });

/** Counts rows whose argmax (first maximum on ties) equals the label. */
export function countCorrect(out: Float32Array | Int32Array, y: BigInt64Array, numClasses: number): number {
  const b = y.length;
  let correct = 0;
  if (out instanceof Int32Array) {
    if (out.length !== b) throw new Error(`predict returned ${out.length} class ids for a batch of ${b}`);
    for (let r = 0; r < b; r++) if (BigInt(out[r]) === y[r]) correct++;
    return correct;
  }
  if (out.length !== b * numClasses) throw new Error(`predict returned ${out.length} logits for a batch of ${b} × ${numClasses} classes`);
  for (let r = 0; r < b; r++) {
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (out[r * numClasses + k] > out[r * numClasses + best]) best = k;
    if (BigInt(best) === y[r]) correct++;
  }
  return correct;
}

/** Correct predictions over a list of global indices. */
export async function accuracyOn(
  loader: DataLoader,
  indices: Int32Array,
  predict: Predict,
  opts: { batchSize?: number; augmentSeed?: number | null } = {},
): Promise<Accuracy> {
  let correct = 0;
  for await (const batch of loader.indexStream(indices, opts)) {
    correct += countCorrect(await predict(batch), batch.y, loader.dataset.classes.length);
  }
  return accuracy(correct, indices.length);
}

export interface EvaluateOptions {
  readonly batchSize?: number;
  /** Domains to evaluate (default all). */
  readonly domains?: readonly number[];
  /**
   * Folder datasets: augment these domains' samples (DomainBed evaluates training domains
   * with their training augmentation); seeds come from seed_hash(augmentSeed, domain, split).
   */
  readonly augmentDomains?: readonly number[];
  readonly augmentSeed?: number;
}

/** Accuracy of every (selected) domain's in and out split; full is their pooled count. */
export async function evaluateDomains(
  loader: DataLoader,
  splits: readonly DomainSplit[],
  predict: Predict,
  opts: EvaluateOptions = {},
): Promise<DomainAccuracy[]> {
  const ds = loader.dataset;
  const domains = opts.domains ?? ds.domains.map((_, d) => d);
  const result: DomainAccuracy[] = [];
  for (const d of domains) {
    const aug = opts.augmentDomains?.includes(d) ?? false;
    const seedFor = (s: string) => (aug ? seedHash(opts.augmentSeed ?? 0, d, s) : null);
    const a = await accuracyOn(loader, splitIndices(ds, splits, d, 'in'), predict, { batchSize: opts.batchSize, augmentSeed: seedFor('in') });
    const b = await accuracyOn(loader, splitIndices(ds, splits, d, 'out'), predict, { batchSize: opts.batchSize, augmentSeed: seedFor('out') });
    result.push({ domain: ds.domains[d], in: a, out: b, full: accuracy(a.correct + b.correct, a.total + b.total) });
  }
  return result;
}

function byName(acc: readonly DomainAccuracy[], ds: DomainDataset, d: number): DomainAccuracy {
  const a = acc.find((x) => x.domain === ds.domains[d]);
  if (!a) throw new InputError('accuracy', `no result for domain ${ds.domains[d]}`);
  return a;
}

/** Training-domain validation (IIDAccuracySelectionMethod): unweighted mean of the training domains' out accuracies. */
export function trainingDomainValidation(ds: DomainDataset, acc: readonly DomainAccuracy[], testDomains: readonly number[]): number {
  const train = trainingDomains(ds, testDomains);
  return train.reduce((s, d) => s + byName(acc, ds, d).out.acc, 0) / train.length;
}

/** Pooled (sample-weighted) out-split accuracy over the training domains: greedy soup's acceptance metric. */
export function pooledValidation(ds: DomainDataset, acc: readonly DomainAccuracy[], testDomains: readonly number[]): number {
  let c = 0;
  let t = 0;
  for (const d of trainingDomains(ds, testDomains)) {
    c += byName(acc, ds, d).out.correct;
    t += byName(acc, ds, d).out.total;
  }
  return c / t;
}

/**
 * Test accuracy of one test domain: `in` (80% in-split; DomainBed single-model selection) or
 * `full` (the whole domain; MR/DiWA weight averages).
 */
export function testAccuracy(ds: DomainDataset, acc: readonly DomainAccuracy[], testDomain: number, which: 'in' | 'full'): number {
  return byName(acc, ds, testDomain)[which].acc;
}

/** Mean ± standard error the DomainBed way: population std (ddof 0) / √n. */
export function meanAndStandardError(xs: readonly number[]): { mean: number; se: number; n: number } {
  const n = xs.length;
  if (n === 0) return { mean: NaN, se: NaN, n };
  return { mean: mean(xs), se: standardError(xs), n };
}
