// Failed-run listing, paired Ratatouille − Soups differences and the premise check, against the
// values fixture.ts was built to produce.
import { describe, expect, it } from 'vitest';
import { failedRuns, failedRunsMarkdown, midpointBarrier, pairedDifferences, pairedLine, premiseCheck, premiseMarkdown } from '../../../src/pipeline/report/checks.js';
import { DATASET, DIVERGED, ENV_NAMES, syntheticResults } from './fixture.js';

describe('failed runs', () => {
  it('lists diverged and failed runs with reason, escaped for Markdown', () => {
    const r = syntheticResults();
    r.runs.find((x) => x.id.endsWith('e0/t2/soups/h3'))!.status = 'failed';
    r.runs.find((x) => x.id.endsWith('e0/t2/soups/h3'))!.reason = 'out of memory';
    // The failed run may no longer be a member of any selection.
    for (const s of r.selections) s.members = s.members.filter((m) => !m.endsWith('e0/t2/soups/h3'));
    const failed = failedRuns(r);
    expect(failed.map((x) => [x.id.replace(/^.*\/e/, 'e'), x.status])).toEqual([
      ['e0/t2/soups/h3', 'failed'],
      ['e5/t1/ratatouille/h3', 'diverged'],
    ]);
    const md = failedRunsMarkdown(failed, ENV_NAMES);
    expect(md.split('\n')[0]).toBe('Failed or diverged runs (2, left out of selection):');
    expect(md).toContain(`- \`${DIVERGED}\`: test 75°, trial 1, ratatouille h3, init colorpred (slot 3): **diverged**: loss is NaN at step 120 \\| \\<check lr & wd\\>`);
    expect(md).toContain('**failed**: out of memory');
    expect(failedRunsMarkdown([], ENV_NAMES)).toBe('Failed or diverged runs: none.');
  });
});

describe('paired differences', () => {
  it('one line per (trial, env), mean ± SE and count ahead', () => {
    const p = pairedDifferences(syntheticResults(), DATASET);
    expect(p.pairs.map((d) => [d.trial, d.domain])).toEqual([[0, '0°'], [0, '75°'], [1, '0°'], [1, '75°'], [2, '0°'], [2, '75°']]);
    const want = [80.22 - 81.25, 77 - 75, 81.12 - 81.25, 75 - 76, 79.32 - 81.25, 78 - 77];
    p.pairs.forEach((d, i) => expect(d.difference).toBeCloseTo(want[i], 10));
    // mean -1.09/6 = -0.1817; population std 1.3295, /√6 = 0.5427
    expect(p.summary.mean).toBeCloseTo(-0.18166666666666667, 10);
    expect(p.summary.se).toBeCloseTo(0.5427470, 6);
    expect(p.ahead).toBe(2);
    expect(pairedLine(p)).toBe(
      'Ratatouille uniform − Soups uniform: -0.2 ± 0.5 points (mean ± SE over 6 (trial, env) pairs); Ratatouille ahead in 2 of 6.',
    );
  });
  it('skips cells without both results', () => {
    const r = syntheticResults();
    r.selections = r.selections.filter((s) => !(s.method === 'soups_uniform' && s.testEnv === 5));
    expect(pairedDifferences(r, DATASET).pairs.map((d) => d.testEnv)).toEqual([0, 0, 0]);
  });
});

describe('premise check', () => {
  it('midpoint barrier = mean of endpoints − accuracy at α = 0.5', () => {
    const c = { kind: 'same_init' as const, a: 'a', b: 'b', testMetric: 'full' as const, alphas: [0, 0.25, 0.5, 0.75, 1], test: [0.8, 0.7, 0.6, 0.7, 0.9], val: [1, 1, 1, 1, 1] };
    expect(midpointBarrier(c, 'test')).toBeCloseTo(0.25, 15);
    expect(midpointBarrier(c, 'val')).toBe(0);
  });

  it('barriers per pair kind, distances, ratio and verdict', () => {
    const p = premiseCheck(syntheticResults(), DATASET);
    const [diff, same] = p.kinds;
    expect([diff.kind, diff.n, diff.barrierTest.text]).toEqual(['different_init', 6, '6.5 ± 0.7']); // 9..4: SE √(17.5/6)/√6 = 0.697
    expect([same.kind, same.n, same.barrierTest.text]).toEqual(['same_init', 6, '1.0 ± 0.0']);
    expect(p.distances.targetToInit).toBeCloseTo(0.05, 12); // 17 aux-init Ratatouille runs (one diverged)
    expect(p.distances.targetRuns).toBe(17);
    expect(p.distances.auxToFoundation).toBeCloseTo(0.1, 12); // (0.10 + 0.12 + 0.08) / 3
    expect(p.distances.ratio).toBeCloseTo(0.5, 12);
    expect(p.distances.auxToAux).toBeCloseTo(0.16, 12);
    expect(p.distances.soupsToInit).toBeCloseTo(0.09, 12);
    expect(p.connected).toBe(false);
    expect(p.verdict).toBe('Runs from different auxiliary inits are not linearly connected at this scale: barrier 6.5 points vs 1.0 for same-init pairs.');
    const md = premiseMarkdown(p);
    expect(md).toContain('| different auxiliary inits |');
    expect(md).toContain('Distance ratio (target fine-tuning / auxiliary): 0.50.');
  });

  it('a midpoint above its endpoints (negative barrier) counts as connected', () => {
    const r = syntheticResults();
    for (const d of r.diagnostics) {
      for (const c of d.interpolation) {
        const bump = c.kind === 'same_init' ? 0.12 : 0.04; // same-init pairs bump more than different-init ones
        c.test = c.alphas.map((a) => (a === 0.5 ? 0.7 + bump : 0.7));
      }
    }
    const p = premiseCheck(r, DATASET);
    expect(p.kinds.map((k) => k.barrierTest.text)).toEqual(['-4.0 ± 0.0', '-12.0 ± 0.0']);
    expect(p.connected).toBe(true);
  });

  it('connected within the tolerance; no pairs gives no verdict', () => {
    expect(premiseCheck(syntheticResults(), DATASET, 6).verdict).toMatch(/^Runs from different auxiliary inits are linearly connected at this scale: barrier 6\.5 points/);
    const r = syntheticResults();
    for (const d of r.diagnostics) d.interpolation = [];
    const p = premiseCheck(r, DATASET);
    expect(p.connected).toBeNull();
    expect(p.verdict).toBe('No interpolation between runs from different auxiliary inits was measured.');
  });
});
