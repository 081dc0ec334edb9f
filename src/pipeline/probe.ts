// The shared linear probe (spec §1.1) on cached features of the frozen foundation: features of
// every sample are computed once (the model with an identity head outputs them), then a softmax
// regression head is trained with the native Adam on per-domain batches drawn with replacement
// from the training in-splits, keeping the best head by training-domain validation (strict ">").
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLoader, type DomainDataset } from '../data/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { Model, ModelSpec } from '../graph/index.js';
import { weightsPredictor } from '../eval/index.js';
import { Adam } from '../train/optim.js';
import { RandomState } from '../util/numpy-random.js';
import { linearHead, loadModel } from './models.js';

/** Featurizer outputs [count, dim] for every sample of the dataset (dropout is off at inference). */
export async function computeFeatures(spec: ModelSpec, featurizer: ReadonlyMap<string, Float32Array>, ds: DomainDataset, threads?: number): Promise<{ features: Float32Array; dim: number }> {
  const probeModel = await loadModel(spec);
  const dim = probeModel.featureDim;
  // The same network with a dim×dim identity head: its logits are the features.
  const identity = await loadModel({ ...spec, numClasses: dim } as ModelSpec);
  const head = linearHead(identity);
  const w = new Map<string, Float32Array>();
  for (const p of identity.params) {
    if (p.name === head.weight) {
      const eye = new Float32Array(dim * dim);
      for (let i = 0; i < dim; i++) eye[i * dim + i] = 1;
      w.set(p.name, eye);
    } else if (p.name === head.bias) {
      w.set(p.name, new Float32Array(dim));
    } else {
      const v = featurizer.get(p.name);
      if (!v) throw new Error(`features: featurizer tensor ${p.name} is missing`);
      w.set(p.name, v);
    }
  }
  const count = ds.labels.length;
  const features = new Float32Array(count * dim);
  const predictor = await weightsPredictor(identity, w, { threads });
  const loader = createLoader(ds);
  try {
    const all = Int32Array.from({ length: count }, (_, i) => i);
    let at = 0;
    for await (const batch of loader.indexStream(all, { batchSize: 512 })) {
      features.set(await predictor.logits(batch.x, batch.shape), at * dim);
      at += batch.shape[0];
    }
  } finally {
    await predictor.release();
    await loader.close();
  }
  return { features, dim };
}

export interface ProbeData {
  readonly features: Float32Array;
  readonly dim: number;
  readonly labels: Int32Array;
  readonly numClasses: number;
  /** Per training domain, the global indices it draws batches from (in-splits). */
  readonly trainPools: readonly Int32Array[];
  /** Per training domain, its validation (out-split) indices. */
  readonly valSets: readonly Int32Array[];
}

export interface ProbeOptions {
  readonly steps: number;
  readonly lr: number;
  readonly batchPerDomain: number;
  readonly evalEvery: number;
  readonly seed: number;
  /** Initial head ([classes, dim] row-major and [classes]); PyTorch-style init from the model otherwise. */
  readonly init: { weight: Float32Array; bias: Float32Array };
}

export interface ProbeResult {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  readonly step: number;
  /** Training-domain validation of the kept head. */
  readonly val: number;
  readonly history: { step: number; loss: number; val: number }[];
}

/** Mean over domains of the head's accuracy on each domain's validation set. */
export function probeValidation(d: ProbeData, weight: Float32Array, bias: Float32Array): number {
  let sum = 0;
  for (const set of d.valSets) {
    let correct = 0;
    for (const i of set) if (argmaxRow(d, weight, bias, i) === d.labels[i]) correct++;
    sum += set.length ? correct / set.length : 0;
  }
  return sum / d.valSets.length;
}

function argmaxRow(d: ProbeData, weight: Float32Array, bias: Float32Array, i: number): number {
  let best = 0;
  let bestV = -Infinity;
  for (let c = 0; c < d.numClasses; c++) {
    let z = bias[c];
    for (let j = 0; j < d.dim; j++) z += weight[c * d.dim + j] * d.features[i * d.dim + j];
    if (z > bestV) {
      bestV = z;
      best = c;
    }
  }
  return best;
}

/** Softmax regression with Adam (no weight decay), best head by validation, earliest on ties. */
export function trainProbe(d: ProbeData, o: ProbeOptions): ProbeResult {
  const { dim, numClasses: k } = d;
  const weight = o.init.weight.slice();
  const bias = o.init.bias.slice();
  const gw = new Float32Array(weight.length);
  const gb = new Float32Array(bias.length);
  const opt = new Adam([weight, bias], { lr: o.lr, weightDecay: 0 });
  const rs = new RandomState(o.seed);
  const rows = new Int32Array(o.batchPerDomain * d.trainPools.length);
  const z = new Float64Array(k);
  let best = { weight: weight.slice(), bias: bias.slice(), step: -1, val: -Infinity };
  const history: ProbeResult['history'] = [];
  let lossSum = 0;
  let lossCount = 0;
  for (let t = 0; t < o.steps; t++) {
    d.trainPools.forEach((pool, p) => {
      const draw = rs.randintArray(0, pool.length, o.batchPerDomain);
      for (let i = 0; i < draw.length; i++) rows[p * o.batchPerDomain + i] = pool[draw[i]];
    });
    gw.fill(0);
    gb.fill(0);
    let loss = 0;
    for (const i of rows) {
      const x = d.features.subarray(i * dim, (i + 1) * dim);
      let max = -Infinity;
      for (let c = 0; c < k; c++) {
        let s = bias[c];
        for (let j = 0; j < dim; j++) s += weight[c * dim + j] * x[j];
        z[c] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let c = 0; c < k; c++) sum += (z[c] = Math.exp(z[c] - max));
      loss -= Math.log(z[d.labels[i]] / sum);
      for (let c = 0; c < k; c++) {
        const g = (z[c] / sum - (c === d.labels[i] ? 1 : 0)) / rows.length;
        gb[c] += g;
        for (let j = 0; j < dim; j++) gw[c * dim + j] += g * x[j];
      }
    }
    opt.step([gw, gb]);
    lossSum += loss / rows.length;
    lossCount++;
    if (t % o.evalEvery === 0 || t === o.steps - 1) {
      const val = probeValidation(d, weight, bias);
      history.push({ step: t, loss: lossSum / lossCount, val });
      lossSum = lossCount = 0;
      if (val > best.val) best = { weight: weight.slice(), bias: bias.slice(), step: t, val };
    }
  }
  return { weight: best.weight, bias: best.bias, step: best.step, val: best.val, history };
}

/** The classifier init PyTorch would give this model (from the model's seeded init). */
export function defaultHead(model: Model, seed: number): { weight: Float32Array; bias: Float32Array } {
  const init = model.initParams(seed);
  const head = linearHead(model);
  return { weight: init.get(head.weight)!, bias: init.get(head.bias)! };
}

/** The foundation featurizer with a trained head: the full checkpoint a probe writes. */
export function withHead(model: Model, featurizer: ReadonlyMap<string, Float32Array>, r: { weight: Float32Array; bias: Float32Array }): Map<string, Float32Array> {
  const head = linearHead(model);
  const w = new Map(featurizer);
  w.set(head.weight, r.weight);
  w.set(head.bias, r.bias);
  return w;
}

/** probe.json of a probe folder: the inputs' key, the (content-named) checkpoint and its history. */
export interface ProbeRecord {
  readonly key: string;
  readonly file: string;
  readonly step: number;
  readonly val: number;
  readonly [extra: string]: unknown;
}

/** The checkpoint of a probe made earlier from the same inputs, or null. */
export function reusableProbe(dir: string, key: string): string | null {
  const f = join(dir, 'probe.json');
  if (!existsSync(f)) return null;
  try {
    const r = JSON.parse(readFileSync(f, 'utf8')) as ProbeRecord;
    return r.key === key && existsSync(r.file) ? r.file : null;
  } catch {
    return null;
  }
}

export function writeProbeRecord(dir: string, r: ProbeRecord): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'probe.json'), JSON.stringify(r, null, 2) + '\n');
}
