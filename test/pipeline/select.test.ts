// Weight selection on synthetic one-tensor "models": the score of an average is a known function
// of its value, so acceptance, tie-breaks and the number of checkpoint reads can be checked.
import { describe, expect, it } from 'vitest';
import { greedySelect, rankCandidates, RunningSum, uniformCurve, type Candidate, type SelectionIO } from '../../src/pipeline/select.js';

/** Models are scalars x_i; the average's pooled score is given by `score(avg)`. */
function io(values: Record<string, number>, score: (avg: number) => number) {
  const reads: string[] = [];
  const target = new Map([['w', new Float32Array(1)]]);
  const seen: string[][] = [];
  const x: SelectionIO<{ pooled: number; avg: number }> = {
    target,
    async load(id) {
      reads.push(id);
      return new Map([['w', new Float32Array([values[id]])]]);
    },
    async evaluate(avg, members) {
      seen.push([...members]);
      const v = avg.get('w')![0];
      return { pooled: score(v), avg: v };
    },
  };
  return { io: x, reads, seen };
}

const c = (id: string, val: number, order: number): Candidate => ({ id, val, order });

describe('ranking', () => {
  it('sorts by validation, ties by run index', () => {
    const r = rankCandidates([c('h3', 0.8, 3), c('h1', 0.9, 1), c('h2', 0.8, 2), c('h0', 0.8, 0)]);
    expect(r.map((x) => x.id)).toEqual(['h1', 'h0', 'h2', 'h3']);
  });
});

describe('greedy soup', () => {
  it('accepts on ≥ pooled accuracy (ties accepted), rejects drops, reads each checkpoint once', async () => {
    // score peaks at 1.0: averages closer to 1 score higher.
    const values = { a: 1, b: 1, c: 5, d: 0.5, e: 1.5 };
    const { io: x, reads, seen } = io(values, (v) => -Math.abs(v - 1));
    const ranked = rankCandidates([c('a', 0.9, 0), c('b', 0.8, 1), c('c', 0.7, 2), c('d', 0.6, 3), c('e', 0.5, 4)]);
    const g = await greedySelect(ranked, x);
    // a: avg 1 (score 0, accepted); b: avg 1 (tie, accepted); c: avg 7/3 (rejected);
    // d: avg 2.5/3 = 0.833 (score -0.167 < 0, rejected); e: avg 3.5/3 = 1.1667 (rejected).
    expect(g.accepted).toEqual(['a', 'b']);
    expect(g.rejected).toEqual(['c', 'd', 'e']);
    expect(g.steps.map((s) => [s.k, s.added])).toEqual([[1, 'a'], [2, 'b']]);
    expect(reads).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(seen).toEqual([['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'b', 'd'], ['a', 'b', 'e']]);
  });
  it('evaluates the exact running average of the accepted set plus the candidate', async () => {
    const values = { a: 2, b: 4, c: 0 };
    const { io: x } = io(values, () => 0); // all ties: everything accepted
    const ranked = [c('a', 3, 0), c('b', 2, 1), c('c', 1, 2)];
    const g = await greedySelect(ranked, x);
    expect(g.accepted).toEqual(['a', 'b', 'c']);
    expect(g.steps.map((s) => s.score.avg)).toEqual([2, 3, 2]);
  });
  it('uses O(M) reads for M candidates (one per candidate)', async () => {
    const values = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`r${i}`, i % 7]));
    const { io: x, reads } = io(values, (v) => -Math.abs(v - 3));
    const ranked = Object.keys(values).map((id, i) => c(id, 1 - i / 100, i));
    await greedySelect(ranked, x);
    expect(reads).toHaveLength(50);
    expect(new Set(reads).size).toBe(50);
  });
});

describe('uniform curve', () => {
  it('gives the prefix averages in ranking order with one read per run', async () => {
    const { io: x, reads } = io({ a: 1, b: 3, c: 8 }, (v) => v);
    const steps = await uniformCurve([c('a', 3, 0), c('b', 2, 1), c('c', 1, 2)], x);
    expect(steps.map((s) => [s.k, s.added, s.score.avg])).toEqual([[1, 'a', 1], [2, 'b', 2], [3, 'c', 4]]);
    expect(reads).toEqual(['a', 'b', 'c']);
  });
  it('RunningSum averages in float64 and refuses tensors that do not match', () => {
    const s = new RunningSum();
    s.add(new Map([['w', new Float32Array([1e8, 1])]]));
    s.add(new Map([['w', new Float32Array([1, 1])]]));
    const into = new Map([['w', new Float32Array(2)]]);
    s.averageInto(into);
    expect(Array.from(into.get('w')!)).toEqual([Math.fround((1e8 + 1) / 2), 1]);
    expect(() => s.add(new Map([['v', new Float32Array(2)]]))).toThrow(/tensor w missing/);
  });
});
