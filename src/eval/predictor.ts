// What evaluation runs: a Predictor maps a batch of images to logits. ONNX files
// (onnx-classifier.ts) and our own models' weight maps (weights.ts) both implement it, so
// accuracy, selection metrics and disagreement are computed the same way for either.
import type { Batch } from '../data/loader.js';
import type { Predict } from '../data/protocol.js';
import { InputError } from '../errors.js';

export type BatchShape = readonly [batch: number, channels: number, height: number, width: number];

export interface Predictor {
  /** [C, H, W] the predictor takes; null where the model leaves a dimension free. */
  readonly inputShape: readonly [number | null, number | null, number | null];
  /** Classes K of the logits; null when the model does not declare it (checked on each run). */
  readonly numClasses: number | null;
  /** Logits [n, K] row-major for the batch `x` of `shape` [n, C, H, W] (row-major floats). */
  logits(x: Float32Array, shape: BatchShape): Promise<Float32Array>;
  release(): Promise<void>;
}

/** The data layer's per-batch callback for a predictor. */
export function asPredict(p: Predictor): Predict {
  return (batch: Batch) => p.logits(batch.x, batch.shape);
}

/** A Predictor, or the data layer's Predict callback (logits or class ids per batch). */
export type PredictLike = Predictor | Predict;

export function toPredict(p: PredictLike): Predict {
  return typeof p === 'function' ? p : asPredict(p);
}

/**
 * Predicted class per row: argmax of logits [n, K] with the first maximum winning ties (as
 * countCorrect in data/protocol.ts and torch's argmax), or class ids passed through.
 */
export function predictedClasses(out: Float32Array | Int32Array, n: number, numClasses: number): Int32Array {
  if (out instanceof Int32Array) {
    if (out.length !== n) throw new Error(`predict returned ${out.length} class ids for a batch of ${n}`);
    return out;
  }
  if (out.length !== n * numClasses) throw new Error(`predict returned ${out.length} logits for a batch of ${n} × ${numClasses} classes`);
  const cls = new Int32Array(n);
  for (let r = 0, o = 0; r < n; r++, o += numClasses) {
    let best = 0;
    for (let k = 1; k < numClasses; k++) if (out[o + k] > out[o + best]) best = k;
    cls[r] = best;
  }
  return cls;
}

const describeInput = (s: Predictor['inputShape']) => `[N, ${s.map((d) => d ?? '?').join(', ')}]`;

/**
 * Checks a predictor's declared input [C, H, W] and class count against a dataset; a mismatch
 * is one InputError naming `where` (the model file) before any data is read.
 */
export function checkCompatible(p: Predictor, ds: { name: string; shape: readonly number[]; classes: readonly string[] }, where: string): void {
  const [c, h, w] = p.inputShape;
  if (c !== null && c !== ds.shape[0]) {
    throw new InputError(where, `the model takes ${c}-channel images (input ${describeInput(p.inputShape)}) but ${ds.name} has ${ds.shape[0]}-channel images [${ds.shape.join(', ')}]`);
  }
  if ((h !== null && h !== ds.shape[1]) || (w !== null && w !== ds.shape[2])) {
    throw new InputError(where, `the model takes ${h ?? '?'}×${w ?? '?'} images (input ${describeInput(p.inputShape)}) but ${ds.name} has ${ds.shape[1]}×${ds.shape[2]} images`);
  }
  if (p.numClasses !== null && p.numClasses !== ds.classes.length) {
    throw new InputError(where, `the model outputs ${p.numClasses} classes but ${ds.name} has ${ds.classes.length}`);
  }
}
