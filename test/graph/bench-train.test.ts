// The plumbing of `bench train` (no timing assertions): ORT's profiler output summarised by op,
// layer and pass (and its file removed), a tiny run with every contender, and the PyTorch child
// process protocol when a python with torch is around.
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatTrainBench, runTrainBench } from '../../src/bench/train.js';
import { findTorchPython, TorchStepper } from '../../src/bench/train-torch.js';
import { Rng } from '../../src/graph/init.js';
import { buildModel } from '../../src/graph/models/index.js';
import { TrainingSession } from '../../src/graph/session.js';

describe('ORT profile summary', () => {
  it('splits kernel time by op type, layer and forward/backward, and deletes the file', async () => {
    const model = buildModel({ arch: 'mnist_cnn', inputShape: [1, 10, 10], numClasses: 3, width: 8 });
    const prefix = join(tmpdir(), `rt-profile-test-${process.pid}`);
    const s = await TrainingSession.create(model, model.initParams(0), { threads: 1, profile: prefix });
    const rng = new Rng(1, 'x');
    for (let i = 0; i < 3; i++) await s.step(Float32Array.from({ length: 200 }, () => rng.normal()), new BigInt64Array([0n, 2n]));
    const p = s.endProfile(prefix, 1);
    await s.release();
    expect(p.runs).toBe(2);
    expect(p.forwardMs).toBeGreaterThan(0);
    expect(p.backwardMs).toBeGreaterThan(0);
    expect(p.forwardMs + p.backwardMs).toBeCloseTo(p.kernelMs, 6);
    expect(p.byOp.reduce((a, e) => a + e.share, 0)).toBeCloseTo(1, 6);
    expect(p.byOp.map((e) => e.name)).toContain('Gemm');
    expect(p.byLayer.map((e) => e.name)).toContain('featurizer.conv3');
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith(`rt-profile-test-${process.pid}`))).toEqual([]);
  });
});

describe('bench train', () => {
  it('runs ours, A/B levers and multi-member contenders in alternating rounds and formats them', async () => {
    const r = await runTrainBench({ model: 'mnist_cnn', width: 8, batch: 4, image: 32, threads: 1, replicas: 'auto', steps: 1, rounds: 2, warmup: 1, members: 2, torch: false, profileSteps: 1, ab: true });
    expect(r.config.replicas).toBe(1);
    expect(r.ours.stepMs).toBeGreaterThan(0);
    expect(r.ours.cpuMs).toBeGreaterThan(0);
    expect(r.load.cores).toBeGreaterThan(0);
    expect(r.config.channels).toEqual([8, 16, 16, 16]);
    for (const v of r.variants) expect(v.cpuVsOurs).toBeCloseTo(v.cpuMs / (v.perMemberMs === undefined ? 1 : 2) / r.ours.cpuMs, 9);
    expect(r.torch).toEqual({ unavailable: 'not requested (--no-torch)' });
    expect(r.variants.map((v) => v.label)).toEqual([
      'prototype formulations (standard Conv, one-hot dW, flipped-Conv dX, decomposed norm, Where ReLU)',
      'without Winograd 3×3 convolutions (direct NCHWc forward and dX, im2col dW)',
      'without NCHWc convolutions (standard Conv: im2col + GEMM)',
      'without Gather-im2col dW (one-hot Conv + MatMul)',
      'without batch-innermost im2col dW (batch-major rows, packed by the Gemm)',
      'without fused norm (ReduceMean chains)',
      'without float-mask ReLU backward (Where)',
      "one session, intra-op threads spinning (ORT's default)",
      '2 separate sessions',
      'one 2-member graph',
    ]);
    expect(r.variants.at(-1)!.perMemberMs).toBeCloseTo(r.variants.at(-1)!.stepMs / 2, 9);
    expect(r.profile!.byOp.length).toBeGreaterThan(5);
    const text = formatTrainBench(r);
    expect(text).toContain('torch: skipped, not requested (--no-torch)');
    expect(text).toContain('where the time goes');
    expect(text).toContain('conv channels 8-16-16-16, 16 features');
  });

  it('times replicas against one session with the same threads', async () => {
    const r = await runTrainBench({ model: 'mnist_cnn', width: 8, batch: 32, image: 32, threads: 2, replicas: 2, steps: 1, rounds: 1, warmup: 1, members: 1, torch: false, profileSteps: 0, ab: false });
    expect(r.config.replicas).toBe(2);
    expect(r.variants.map((v) => v.label)).toEqual(['one session with 2 intra-op threads instead of 2 replicas']);
    expect(formatTrainBench(r)).toContain('2 threads as 2 data-parallel replicas');
  });

  const py = findTorchPython();
  it.skipIf(!('python' in py))('talks to scripts/bench_train_torch.py: timed rounds, then peak RSS on quit', async () => {
    const t = await TorchStepper.start((py as { python: string }).python, ['--width', '8', '--batch', '4', '--threads', '1']);
    const round = await t.run(2);
    expect(round.fb).toHaveLength(2);
    expect(round.opt).toHaveLength(2);
    expect(round.cpu).toHaveLength(2);
    expect(round.loss).toBeGreaterThan(0);
    const exit = await t.quit();
    expect(exit.threads).toBe(1);
    expect(exit.peakRssBytes).toBeGreaterThan(1 << 20);
  }, 60_000);
});
