// The data side of one run: which domains train and which test, the DomainBed in/out splits (or,
// for a single-domain dataset, a fixed holdout test set with the in/out split taken from the
// rest), the training pools, and the evaluation of a checkpoint on every split it scores.
import { InputError } from '../errors.js';
import {
  accuracyOn,
  makeSplits,
  splitDomain,
  splitIndices,
  trainingDomains,
  trainingPools,
  type DataLoader,
  type DomainDataset,
  type DomainSplit,
  type Predict,
} from '../data/index.js';
import { domainSize } from '../data/dataset.js';
import { holdoutSplit } from '../data/holdout.js';
import { seedHash } from '../util/seed.js';
import type { TrainJob } from './job.js';

export interface RunData {
  readonly trainDomains: number[];
  readonly testDomains: number[];
  /** Per domain, local indices; with a holdout, domain 0's in/out cover only its non-test part. */
  readonly splits: DomainSplit[];
  /** Global in-split indices of each training domain. */
  readonly pools: Int32Array[];
  /** Global indices of the holdout test set, or null. */
  readonly holdout: Int32Array | null;
}

export function planData(job: TrainJob, ds: DomainDataset): RunData {
  const { trialSeed, testEnvs, holdout } = job.data;
  let splits: DomainSplit[];
  let test: Int32Array | null = null;
  if (holdout) {
    if (ds.domains.length !== 1) throw new InputError('job.data.holdout', `needs a single-domain dataset; ${ds.name} has ${ds.domains.length} domains (use testEnvs)`);
    const n = domainSize(ds, 0);
    if (holdout.testSize >= n) throw new InputError('job.data.holdout.testSize', `${holdout.testSize} leaves nothing to train on (${ds.name} has ${n} samples)`);
    let { train, test: local } = holdoutSplit(n, holdout.testSize, holdout.seed);
    if (holdout.devSize !== undefined) {
      if (holdout.devSize >= train.length) throw new InputError('job.data.holdout.devSize', `${holdout.devSize} leaves nothing to train on (${train.length} samples outside the test set)`);
      const dev = holdoutSplit(train.length, holdout.devSize, holdout.seed);
      local = dev.test.map((i) => train[i]);
      train = dev.train.map((i) => train[i]);
    }
    // valFraction 0: train on every non-test sample; with no validation the last checkpoint is kept.
    const s = splitDomain(train.length, trialSeed, 0, holdout.valFraction);
    splits = [{ in: s.in.map((i) => train[i]), out: s.out.map((i) => train[i]) }];
    test = local.map((i) => i + ds.offsets[0]);
  } else {
    splits = makeSplits(ds, trialSeed);
  }
  const trainDomains = trainingDomains(ds, testEnvs);
  if (trainDomains.length === 0) throw new InputError('job.data.testEnvs', `[${testEnvs}] leaves no training domain in ${ds.name}`);
  const pools = trainingPools(ds, splits, trainDomains);
  return { trainDomains, testDomains: [...testEnvs], splits, pools, holdout: test };
}

export interface DomainScores {
  readonly domain: string;
  /** Accuracies in [0, 1]; a split that was not evaluated is absent. */
  readonly in?: number;
  readonly out?: number;
  readonly full?: number;
}

export interface Scores {
  readonly domains: DomainScores[];
  /** Training-domain validation: the unweighted mean of the training domains' out accuracies. */
  readonly val: number;
  /** DomainBed's single-model test: mean over test domains of their in-split accuracy; or the holdout accuracy. */
  readonly test: number | null;
  /** The same on whole test domains (MR/DiWA weight averages); or the holdout accuracy. */
  readonly testFull: number | null;
  readonly holdout?: number;
}

export interface EvalOptions {
  readonly batchSize: number;
  /** 'selection' skips training domains' in-splits (the bulk of the work). */
  readonly splits: 'all' | 'selection';
  /** Folder datasets evaluate training domains with their training augmentation, as DomainBed. */
  readonly augmentSeed: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Scores the current weights (through `predict`) on the run's splits. */
export async function evaluate(loader: DataLoader, data: RunData, predict: Predict, o: EvalOptions): Promise<Scores> {
  const ds = loader.dataset;
  const augment = ds.kind === 'folder';
  const domains: DomainScores[] = [];
  for (let d = 0; d < ds.domains.length; d++) {
    const isTrain = data.trainDomains.includes(d);
    const wanted: ('in' | 'out')[] = o.splits === 'all' || !isTrain ? ['in', 'out'] : ['out'];
    const counts: Partial<Record<'in' | 'out', { correct: number; total: number }>> = {};
    for (const split of wanted) {
      const augmentSeed = augment && isTrain ? seedHash(o.augmentSeed, d, split) : null;
      counts[split] = await accuracyOn(loader, splitIndices(ds, data.splits, d, split), predict, { batchSize: o.batchSize, augmentSeed });
    }
    const acc = (c: { correct: number; total: number }) => (c.total ? c.correct / c.total : NaN);
    const { in: i, out } = counts;
    domains.push({
      domain: ds.domains[d],
      ...(i ? { in: acc(i) } : {}),
      ...(out ? { out: acc(out) } : {}),
      ...(i && out ? { full: acc({ correct: i.correct + out.correct, total: i.total + out.total }) } : {}),
    });
  }
  const val = mean(data.trainDomains.map((d) => domains[d].out!));
  if (data.holdout) {
    const h = (await accuracyOn(loader, data.holdout, predict, { batchSize: o.batchSize })).acc;
    return { domains, val, test: h, testFull: h, holdout: h };
  }
  if (data.testDomains.length === 0) return { domains, val, test: null, testFull: null };
  return {
    domains,
    val,
    test: mean(data.testDomains.map((d) => domains[d].in!)),
    testFull: mean(data.testDomains.map((d) => domains[d].full!)),
  };
}
