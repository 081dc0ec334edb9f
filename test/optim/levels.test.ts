// Every CPU kernel level against the scalar reference and the TypeScript loop, on awkward sizes
// (0, 1, 7, 17 and 1000003: empty, below and across vector widths, many chunks with a ragged end),
// with several groups of different hyperparameters in one call, and across thread counts.
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../bindings/native.js';
import { adamStepTs, sgdStepTs } from '../../src/train/optim.js';
import { relMaxDiff } from './torch-fixture.js';
import { adamGroups, adamSteps, cloneAdam, cloneSgd, expectSameBits, sgdGroups, sgdOutputs, sgdSteps } from './helpers.js';

const SIZES = [0, 1, 7, 17, 1000003];
// Scalar (no FMA) vs SIMD (FMA where torch fuses) after two steps: a few fp32 roundings apart.
const LEVEL_TOLERANCE = 1e-6;

const n = native();
const supported = n.info().cpuLevelSupported;
const simd = (['avx2', 'avx512'] as const).slice(0, ['scalar', 'avx2', 'avx512'].indexOf(supported));
const startThreads = n.info().threads;
afterAll(() => {
  n.setCpuLevel(supported);
  n.setThreads(startThreads);
});

function atLevel<T>(level: 'scalar' | 'avx2' | 'avx512', fn: () => T): T {
  expect(n.setCpuLevel(level)).toBe(level);
  return fn();
}

describe('SGD kernels across levels', () => {
  const start = sgdGroups(SIZES);
  const ref = atLevel('scalar', () => sgdSteps(cloneSgd(start), 2, n.sgdStep));

  it('the step changes every non-empty array', () => {
    const before = sgdOutputs(start);
    ref.forEach((a, i) => {
      if (a.length && relMaxDiff(a, before[i]) === 0 && i % 2 === 0) throw new Error(`array ${i} unchanged`);
    });
    expect(relMaxDiff(ref[4], before[4])).toBeGreaterThan(1e-3);
  });

  it('scalar native reference equals the TypeScript loop bit for bit', () => {
    expectSameBits(ref, sgdSteps(cloneSgd(start), 2, sgdStepTs), 'sgd scalar vs ts');
  });

  for (const level of simd) {
    it(`${level} agrees with the reference to fp32 rounding`, () => {
      const out = atLevel(level, () => sgdSteps(cloneSgd(start), 2, n.sgdStep));
      out.forEach((a, i) => expect(relMaxDiff(a, ref[i]), `array ${i}`).toBeLessThanOrEqual(LEVEL_TOLERANCE));
    });
  }

  it.skipIf(simd.length < 2)('avx2 and avx512 are bit-identical (same FMA placement)', () => {
    const a = atLevel('avx2', () => sgdSteps(cloneSgd(start), 2, n.sgdStep));
    const b = atLevel('avx512', () => sgdSteps(cloneSgd(start), 2, n.sgdStep));
    expectSameBits(a, b, 'sgd avx2 vs avx512');
  });

  it('results do not depend on the thread count', () => {
    const level = supported;
    const runs = [1, 2, 3].map((t) => {
      n.setThreads(t);
      return atLevel(level, () => sgdSteps(cloneSgd(start), 2, n.sgdStep));
    });
    expectSameBits(runs[0], runs[1], 'sgd 1 vs 2 threads');
    expectSameBits(runs[0], runs[2], 'sgd 1 vs 3 threads');
  });
});

describe('Adam kernels across levels', () => {
  const start = adamGroups(SIZES);
  const ref = atLevel('scalar', () => adamSteps(cloneAdam(start), 2, n.adamStep));

  it('scalar native reference equals the TypeScript loop bit for bit', () => {
    expectSameBits(ref, adamSteps(cloneAdam(start), 2, adamStepTs), 'adam scalar vs ts');
  });

  for (const level of simd) {
    it(`${level} agrees with the reference to fp32 rounding`, () => {
      const out = atLevel(level, () => adamSteps(cloneAdam(start), 2, n.adamStep));
      out.forEach((a, i) => expect(relMaxDiff(a, ref[i]), `array ${i}`).toBeLessThanOrEqual(LEVEL_TOLERANCE));
    });
  }

  it.skipIf(simd.length < 2)('avx2 and avx512 are bit-identical (same FMA placement)', () => {
    const a = atLevel('avx2', () => adamSteps(cloneAdam(start), 2, n.adamStep));
    const b = atLevel('avx512', () => adamSteps(cloneAdam(start), 2, n.adamStep));
    expectSameBits(a, b, 'adam avx2 vs avx512');
  });

  it('results do not depend on the thread count', () => {
    const runs = [1, 3].map((t) => {
      n.setThreads(t);
      return atLevel(supported, () => adamSteps(cloneAdam(start), 2, n.adamStep));
    });
    expectSameBits(runs[0], runs[1], 'adam 1 vs 3 threads');
  });
});
