// The fixed train/test holdout for datasets without domains (the MNIST digits: 2,000 of 10,000
// held out). numpy's `RandomState(seed).permutation(n)`: the first `testSize` indices are the
// test set, the rest train; both returned sorted so batches read the source in order.

import { RandomState } from '../util/numpy-random.js';
import { HOLDOUT_FRACTION } from './protocol.js';

export function holdoutSplit(n: number, testSize: number, seed: number): { train: Int32Array; test: Int32Array } {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`holdoutSplit: n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(testSize) || testSize < 0 || testSize > n) {
    throw new RangeError(`holdoutSplit: testSize must be an integer in [0, ${n}], got ${testSize}`);
  }
  const perm = new RandomState(seed).permutation(n);
  const test = perm.slice(0, testSize).sort();
  const train = perm.slice(testSize).sort();
  return { train, test };
}

/** Test samples of the holdout of n samples: DomainBed's 20% (2,000 of the 10,000 digits). */
export function holdoutTestSize(n: number): number {
  return Math.floor(n * HOLDOUT_FRACTION);
}
