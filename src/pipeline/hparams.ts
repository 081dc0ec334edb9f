// Hyperparameter distributions of target and auxiliary sweeps and MR's sampling rule: h = 0 takes
// the defaults; h ≥ 1 draws each name from RandomState(seed_hash(seed_hash(h, trial), name)), so
// draws differ by trial and do not depend on the order of the names (DomainBed per-name seeding).
import { RandomState } from '../util/numpy-random.js';
import { seedHash } from '../util/seed.js';

export interface SampledHparams {
  lr: number;
  weightDecay: number;
  dropout: number;
}

export interface HparamDistribution {
  readonly name: string;
  readonly defaults: SampledHparams;
  /** Uniform choices per name (numpy `choice` on the list, as MR's registry). */
  readonly choices: { readonly [K in keyof SampledHparams]: readonly number[] };
}

/** MR/DiWA's registry (spec §2.1), used for every real-image dataset. */
export const IMAGE_HPARAMS: HparamDistribution = {
  name: 'image',
  defaults: { lr: 5e-5, weightDecay: 0, dropout: 0 },
  choices: { lr: [1e-5, 3e-5, 5e-5], weightDecay: [1e-4, 1e-6], dropout: [0.0, 0.1, 0.5] },
};

/**
 * MNIST-sized data (28×28): mini-benchmark recipe R2, the narrow range that kept runs in one
 * basin there (MR's lr ≤ 5e-5 barely moves an MNIST_CNN in a few hundred steps).
 */
export const MNIST_HPARAMS: HparamDistribution = {
  name: 'mnist',
  defaults: { lr: 7e-4, weightDecay: 0, dropout: 0 },
  choices: { lr: [5e-4, 7e-4, 1e-3], weightDecay: [1e-4, 1e-6], dropout: [0.0, 0.05, 0.1] },
};

export const HPARAM_DISTRIBUTIONS = { image: IMAGE_HPARAMS, mnist: MNIST_HPARAMS } as const;
export type HparamDistributionName = keyof typeof HPARAM_DISTRIBUTIONS;

/** The hparam names as MR's registry spells them (the strings that are hashed). */
const REGISTRY_NAMES: { readonly [K in keyof SampledHparams]: string } = { lr: 'lr', weightDecay: 'weight_decay', dropout: 'resnet_dropout' };

/** MR's draw for (hparamsSeed, trialSeed). */
export function sampleHparams(dist: HparamDistribution, hparamsSeed: number, trialSeed: number): SampledHparams {
  if (hparamsSeed === 0) return { ...dist.defaults };
  const seed = seedHash(hparamsSeed, trialSeed);
  const draw = (k: keyof SampledHparams) => new RandomState(seedHash(seed, REGISTRY_NAMES[k])).choice(dist.choices[k]);
  return { lr: draw('lr'), weightDecay: draw('weightDecay'), dropout: draw('dropout') };
}

/** The distribution a dataset gets by default: 'mnist' for 28×28 inputs, 'image' otherwise. */
export function defaultDistribution(shape: readonly number[]): HparamDistributionName {
  return shape[1] <= 32 && shape[2] <= 32 ? 'mnist' : 'image';
}

/** By dataset kind: image folders take MR's registry whatever their size; tensor datasets go by shape. */
export function distributionFor(ds: { readonly kind: 'tensor' | 'folder'; readonly shape: readonly number[] }): HparamDistributionName {
  return ds.kind === 'folder' ? 'image' : defaultDistribution(ds.shape);
}
