// Scores weight maps of one target split (dataset, trial, test env) with a single forward
// session whose parameter arrays are overwritten in place (averages, interpolation points):
// one pass over the training domains' out-splits and the whole test domain gives the ranking
// validation (mean of domain accuracies), greedy's pooled validation, the test in-split and
// full-domain accuracies, and the per-sample logits for disagreement and ensembles.
import { createLoader, makeSplits, splitIndices, trainingDomains, type DataLoader, type DomainDataset, type DomainSplit } from '../data/index.js';
import { weightsPredictor, type WeightsPredictor } from '../eval/index.js';
import type { Model, ModelSpec } from '../graph/index.js';
import { loadModel } from './models.js';

export interface Scores {
  /** Unweighted mean over training domains of out-split accuracy (run ranking). */
  readonly val: number;
  /** Accuracy on the merged out-splits of the training domains (greedy's acceptance metric). */
  readonly pooled: number;
  readonly testIn: number;
  readonly testFull: number;
}

export interface ScoredPass {
  readonly scores: Scores;
  /** Logits [testCount, classes] on the whole test domain, in domain order. */
  readonly testLogits: Float32Array;
}

export class SplitScorer {
  /** The session's arrays: write weights into them, then call `score()`. */
  readonly weights: Map<string, Float32Array>;
  private constructor(
    readonly model: Model,
    private readonly predictor: WeightsPredictor,
    private readonly loader: DataLoader,
    readonly dataset: DomainDataset,
    /** Evaluated indices: training out-splits (domain by domain), then the whole test domain. */
    private readonly indices: Int32Array,
    private readonly valSegments: readonly number[],
    readonly testStart: number,
    /** Whether each test-domain sample is in the test in-split. */
    private readonly testInMask: Uint8Array,
  ) {
    this.weights = predictor.weights as Map<string, Float32Array>;
  }

  static async create(spec: ModelSpec, ds: DomainDataset, trial: number, testEnv: number, threads?: number): Promise<SplitScorer> {
    const model = await loadModel(spec);
    const weights = model.initParams(0);
    const predictor = await weightsPredictor(model, weights, { threads });
    const splits: DomainSplit[] = makeSplits(ds, trial);
    const parts: Int32Array[] = [];
    const valSegments: number[] = [];
    for (const d of trainingDomains(ds, [testEnv])) {
      const out = splitIndices(ds, splits, d, 'out');
      parts.push(out);
      valSegments.push(out.length);
    }
    const full = splitIndices(ds, splits, testEnv, 'full');
    const inMask = new Uint8Array(full.length);
    for (const i of splits[testEnv].in) inMask[i] = 1;
    const testStart = parts.reduce((a, p) => a + p.length, 0);
    const indices = new Int32Array(testStart + full.length);
    let at = 0;
    for (const p of [...parts, full]) {
      indices.set(p, at);
      at += p.length;
    }
    return new SplitScorer(model, predictor, createLoader(ds), ds, indices, valSegments, testStart, inMask);
  }

  /** Copies `w` into the session's arrays (every tensor of the model must be present). */
  load(w: ReadonlyMap<string, Float32Array>): void {
    for (const [k, dst] of this.weights) {
      const src = w.get(k);
      if (!src || src.length !== dst.length) throw new Error(`scorer: weights lack ${k} or have the wrong size`);
      dst.set(src);
    }
  }

  /** Scores the weights currently loaded. */
  async score(): Promise<ScoredPass> {
    const k = this.model.spec.numClasses;
    const labels = this.dataset.labels;
    const correct = new Uint8Array(this.indices.length);
    const testLogits = new Float32Array((this.indices.length - this.testStart) * k);
    let at = 0;
    for await (const batch of this.loader.indexStream(this.indices, { batchSize: 512 })) {
      const logits = await this.predictor.logits(batch.x, batch.shape);
      const n = batch.shape[0];
      for (let r = 0; r < n; r++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (logits[r * k + c] > logits[r * k + best]) best = c;
        const row = at + r;
        correct[row] = best === labels[this.indices[row]] ? 1 : 0;
        if (row >= this.testStart) testLogits.set(logits.subarray(r * k, (r + 1) * k), (row - this.testStart) * k);
      }
      at += n;
    }
    let start = 0;
    let domainSum = 0;
    let pooled = 0;
    for (const len of this.valSegments) {
      let c = 0;
      for (let i = start; i < start + len; i++) c += correct[i];
      domainSum += c / len;
      pooled += c;
      start += len;
    }
    let inC = 0;
    let inN = 0;
    let fullC = 0;
    for (let i = this.testStart; i < this.indices.length; i++) {
      fullC += correct[i];
      if (this.testInMask[i - this.testStart]) {
        inC += correct[i];
        inN++;
      }
    }
    const scores = {
      val: domainSum / this.valSegments.length,
      pooled: pooled / this.testStart,
      testIn: inC / inN,
      testFull: fullC / (this.indices.length - this.testStart),
    };
    return { scores, testLogits };
  }

  /** Labels of the whole test domain, in the order of `testLogits`. */
  testLabels(): Int32Array {
    return Int32Array.from(this.indices.subarray(this.testStart), (i) => this.dataset.labels[i]);
  }

  async release(): Promise<void> {
    await this.predictor.release();
    await this.loader.close();
  }
}
