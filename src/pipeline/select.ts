// Weight selection over a sweep's runs (spec §3), on a running sum so every checkpoint is read
// once (O(M) reads; MR's greedy rebuilds each tentative average from scratch, O(M²)):
// candidates are ranked by validation (ties: lower run index first); uniform averages all of them
// (the prefix averages give the accuracy-vs-number-of-models curve); greedy tentatively adds each
// candidate and keeps it when the average's pooled out-split accuracy is ≥ the best so far.
import type { Weights } from './weights.js';

export interface Candidate {
  readonly id: string;
  /** Training-domain validation of the run's kept checkpoint. */
  readonly val: number;
  /** Deterministic tie-break (hparams seed): the lower index ranks first. */
  readonly order: number;
}

/** Highest validation first; ties by run index. */
export function rankCandidates<C extends Candidate>(cands: readonly C[]): C[] {
  return [...cands].sort((a, b) => b.val - a.val || a.order - b.order);
}

/** Σ of weight maps in float64, per tensor. */
export class RunningSum {
  private readonly sum = new Map<string, Float64Array>();
  count = 0;

  add(w: ReadonlyMap<string, Float32Array>): void {
    if (this.count === 0) for (const [k, v] of w) this.sum.set(k, new Float64Array(v.length));
    for (const [k, s] of this.sum) {
      const v = w.get(k);
      if (!v || v.length !== s.length) throw new Error(`running sum: tensor ${k} missing or resized`);
      for (let i = 0; i < v.length; i++) s[i] += v[i];
    }
    this.count++;
  }

  /** Writes (Σ + extra) / (count + 1), or Σ / count without extra, into `into`'s arrays. */
  averageInto(into: Map<string, Float32Array>, extra?: ReadonlyMap<string, Float32Array>): void {
    const n = this.count + (extra ? 1 : 0);
    if (n === 0) throw new Error('running sum: nothing to average');
    for (const [k, dst] of into) {
      const s = this.sum.get(k);
      const e = extra?.get(k);
      if ((this.count > 0 && !s) || (extra && !e)) throw new Error(`running sum: tensor ${k} missing`);
      for (let i = 0; i < dst.length; i++) dst[i] = ((s ? s[i] : 0) + (e ? e[i] : 0)) / n;
    }
  }
}

/** What evaluating an average gives: pooled validation for greedy, anything else passes through. */
export interface AverageScore {
  readonly pooled: number;
}

export interface SelectionIO<S extends AverageScore> {
  /** Reads a run's weights (counted by tests: must be called once per candidate). */
  load(id: string): Promise<Weights>;
  /** Scores the average of `members` held in `avg` (the same map each call; members allow memoising). */
  evaluate(avg: Map<string, Float32Array>, members: readonly string[]): Promise<S>;
  /** The map averages are written into (e.g. a scorer's session arrays). */
  readonly target: Map<string, Float32Array>;
}

export interface CurveStep<S> {
  readonly k: number;
  readonly added: string;
  readonly score: S;
}

/** Uniform soups of the first k ranked candidates, k = 1..M. The last step is the uniform soup. */
export async function uniformCurve<S extends AverageScore>(ranked: readonly Candidate[], io: SelectionIO<S>): Promise<CurveStep<S>[]> {
  const sum = new RunningSum();
  const steps: CurveStep<S>[] = [];
  for (const c of ranked) {
    sum.add(await io.load(c.id));
    sum.averageInto(io.target);
    steps.push({ k: sum.count, added: c.id, score: await io.evaluate(io.target, ranked.slice(0, sum.count).map((x) => x.id)) });
  }
  return steps;
}

export interface GreedyResult<S> {
  readonly accepted: string[];
  readonly rejected: string[];
  /** One step per acceptance: the accepted set's size, the run added and the average's score. */
  readonly steps: CurveStep<S>[];
}

/** Greedy soup (DiWA "restricted"): accept on pooled validation ≥ best so far (ties accepted). */
export async function greedySelect<S extends AverageScore>(ranked: readonly Candidate[], io: SelectionIO<S>): Promise<GreedyResult<S>> {
  const sum = new RunningSum();
  const accepted: string[] = [];
  const rejected: string[] = [];
  const steps: CurveStep<S>[] = [];
  let best = -Infinity;
  for (const c of ranked) {
    const w = await io.load(c.id);
    sum.averageInto(io.target, w);
    const score = await io.evaluate(io.target, [...accepted, c.id]);
    if (score.pooled >= best) {
      best = score.pooled;
      sum.add(w);
      accepted.push(c.id);
      steps.push({ k: accepted.length, added: c.id, score });
    } else {
      rejected.push(c.id);
    }
  }
  return { accepted, rejected, steps };
}
