// CUDA multi-tensor SGD / Adam against the CPU kernels, on a machine with a GPU (skipped without
// one). The CUDA kernels use explicitly rounded intrinsics in the CPU SIMD op order, so they are
// expected to match the AVX2/AVX-512 kernels bit for bit, and the scalar reference to fp32
// rounding (same tolerance and rationale as levels.test.ts).
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../bindings/native.js';
import { relMaxDiff } from './torch-fixture.js';
import { adamGroups, adamOutputs, adamSteps, cloneAdam, cloneSgd, expectSameBits, sgdGroups, sgdOutputs, sgdSteps } from './helpers.js';

const n = native();
const noGpu = n.info().cudaDevices === 0;
const supported = n.info().cpuLevelSupported;
// Chunk edges (65536) and float4 tails are the interesting CUDA sizes.
const SIZES = [0, 1, 7, 17, 65536, 65536 * 2 + 5, 1000003];
const STEPS = 3;
const TOLERANCE = 1e-6;
afterAll(() => n.setCpuLevel(supported));

describe.skipIf(noGpu)('CUDA optimizer kernels', () => {
  it('SGD: one launch per step over all groups matches the CPU kernels', () => {
    const start = sgdGroups(SIZES);
    const gpu = cloneSgd(start);
    const r = n.cudaSgdSteps(gpu, { steps: STEPS });
    expect(r.steps).toBe(STEPS);
    expect(r.medianMs).toBeGreaterThan(0);
    const gpuOut = sgdOutputs(gpu);
    n.setCpuLevel('scalar');
    const ref = sgdSteps(cloneSgd(start), STEPS, n.sgdStep);
    gpuOut.forEach((a, i) => expect(relMaxDiff(a, ref[i]), `array ${i}`).toBeLessThanOrEqual(TOLERANCE));
    if (supported !== 'scalar') {
      n.setCpuLevel(supported);
      expectSameBits(gpuOut, sgdSteps(cloneSgd(start), STEPS, n.sgdStep), `sgd cuda vs ${supported}`);
    }
  });

  it('Adam/AdamW: matches the CPU kernels over several steps', () => {
    const start = adamGroups(SIZES);
    const gpu = cloneAdam(start);
    n.cudaAdamSteps(gpu, { steps: STEPS });
    const gpuOut = adamOutputs(gpu);
    n.setCpuLevel('scalar');
    const ref = adamSteps(cloneAdam(start), STEPS, n.adamStep);
    gpuOut.forEach((a, i) => expect(relMaxDiff(a, ref[i]), `array ${i}`).toBeLessThanOrEqual(TOLERANCE));
    if (supported !== 'scalar') {
      n.setCpuLevel(supported);
      expectSameBits(gpuOut, adamSteps(cloneAdam(start), STEPS, n.adamStep), `adam cuda vs ${supported}`);
    }
  });

  it('measures a positive device triad bandwidth', () => {
    const r = n.memoryBandwidth({ device: 'cuda', arrayBytes: 256 << 20, repeats: 3 });
    expect(r.device).toBe('cuda');
    expect(Number.isFinite(r.gbs) && r.gbs > 0).toBe(true);
  });
});
