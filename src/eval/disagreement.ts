// Prediction disagreement between predictors on a set of samples: the fraction whose argmax
// class differs (the diversity measure the pipeline reports between runs, spec §7.7). Class
// predictions can be kept (predictClasses) to compare many pairs without re-running models.
import type { DataLoader } from '../data/loader.js';
import { predictedClasses, toPredict, type PredictLike } from './predictor.js';

export interface Disagreement {
  /** Samples whose predicted classes differ. */
  readonly differ: number;
  readonly total: number;
  /** differ / total (NaN for no samples). */
  readonly rate: number;
}

/** Predicted class of each sample in `indices` (global dataset indices), in order. */
export async function predictClasses(loader: DataLoader, indices: Int32Array, p: PredictLike, o: { batchSize?: number } = {}): Promise<Int32Array> {
  const predict = toPredict(p);
  const k = loader.dataset.classes.length;
  const out = new Int32Array(indices.length);
  let at = 0;
  for await (const batch of loader.indexStream(indices, { batchSize: o.batchSize ?? 256 })) {
    out.set(predictedClasses(await predict(batch), batch.shape[0], k), at);
    at += batch.shape[0];
  }
  return out;
}

/** Disagreement of two class predictions of the same samples. */
export function disagreementOf(a: Int32Array, b: Int32Array): Disagreement {
  if (a.length !== b.length) throw new RangeError(`disagreement: ${a.length} vs ${b.length} predictions`);
  let differ = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
  return { differ, total: a.length, rate: a.length ? differ / a.length : NaN };
}

/** Runs both predictors on the same batches of `indices` and compares their argmax classes. */
export async function predictionDisagreement(
  loader: DataLoader,
  indices: Int32Array,
  a: PredictLike,
  b: PredictLike,
  o: { batchSize?: number } = {},
): Promise<Disagreement> {
  const pa = toPredict(a);
  const pb = toPredict(b);
  const k = loader.dataset.classes.length;
  let differ = 0;
  for await (const batch of loader.indexStream(indices, { batchSize: o.batchSize ?? 256 })) {
    const n = batch.shape[0];
    const ca = predictedClasses(await pa(batch), n, k).slice(); // b may reuse a's output buffer
    const cb = predictedClasses(await pb(batch), n, k);
    for (let i = 0; i < n; i++) if (ca[i] !== cb[i]) differ++;
  }
  return { differ, total: indices.length, rate: indices.length ? differ / indices.length : NaN };
}
