// Times the ORT training step (forward + backward, gradients copied out) of a model, for the
// `bench` command and for comparisons with PyTorch. Inputs are fixed random data; warm-up steps
// are excluded; the median and the 10th/90th percentiles are reported.
import { performance } from 'node:perf_hooks';
import { Rng } from './init.js';
import { numel } from './ir.js';
import type { ModelSpec } from './models/index.js';
import { buildModel } from './models/index.js';
import { TrainingSession } from './session.js';

export interface StepTiming {
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  sessionCreateMs: number;
  nodeCount: number;
  graphBytes: number;
  trainableParams: number;
}

export async function timeTrainingStep(spec: ModelSpec, o: { batch: number; threads: number; steps?: number; warmup?: number; dropoutP?: number }): Promise<StepTiming> {
  const model = buildModel(spec);
  const params = model.initParams(0);
  const t0 = performance.now();
  const s = await TrainingSession.create(model, params, { threads: o.threads, dropoutP: o.dropoutP ?? 0 });
  const sessionCreateMs = performance.now() - t0;
  const rng = new Rng(0, 'bench');
  const x = Float32Array.from({ length: o.batch * numel(spec.inputShape) }, () => rng.normal());
  const y = BigInt64Array.from({ length: o.batch }, (_, i) => BigInt(i % spec.numClasses));
  const times: number[] = [];
  const warmup = o.warmup ?? 3, steps = o.steps ?? 10;
  for (let i = 0; i < warmup + steps; i++) {
    const t = performance.now();
    await s.step(x, y, i);
    if (i >= warmup) times.push(performance.now() - t);
  }
  await s.release();
  times.sort((a, b) => a - b);
  const q = (f: number) => times[Math.min(times.length - 1, Math.floor(f * times.length))];
  return {
    medianMs: q(0.5),
    p10Ms: q(0.1),
    p90Ms: q(0.9),
    sessionCreateMs,
    nodeCount: s.graph.nodeCount,
    graphBytes: s.graph.bytes.length,
    trainableParams: s.graph.grads.reduce((a, n) => a + params.get(n)!.length, 0),
  };
}
