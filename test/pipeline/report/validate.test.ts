// Reading results back: shape errors from zod and cross-reference errors, each reported as one
// line naming the file and the first problem.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/errors.js';
import type { Results } from '../../../src/pipeline/report/schema.js';
import { parseResults, readResults, validateResults } from '../../../src/pipeline/report/validate.js';
import { DIVERGED, syntheticResults } from './fixture.js';

function problem(mutate: (r: Results & Record<string, unknown>) => void): string {
  const r = syntheticResults() as Results & Record<string, unknown>;
  mutate(r);
  try {
    validateResults(JSON.parse(JSON.stringify(r)), 'x.json');
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as Error).message;
  }
  throw new Error('expected a validation error');
}

describe('validateResults', () => {
  it('accepts the synthetic results and round-trips them through JSON', () => {
    const r = syntheticResults();
    expect(parseResults(JSON.stringify(r))).toEqual(r);
  });

  it('names the field of a shape error', () => {
    expect(problem((r) => ((r.runs[3] as unknown as Record<string, unknown>).status = 'crashed'))).toMatch(/^x\.json: runs\[3\]\.status: /);
    expect(problem((r) => ((r.runs[0] as unknown as Record<string, unknown>).extra = 1))).toMatch(/^x\.json: runs\[0\]: .*extra/);
    expect(problem((r) => (r.selections[0].test = 1.5))).toMatch(/selections\[0\]\.test: /);
    expect(problem((r) => ((r as Record<string, unknown>).schema = 'other/2'))).toMatch(/schema: /);
  });

  it('refuses members that are unknown, from another cell or sweep, or did not finish', () => {
    expect(problem((r) => (r.selections[0].members = ['nope']))).toMatch(/selections\[0\]\.members\[0\]: unknown run "nope"/);
    expect(problem((r) => (r.selections[0].members = [r.runs.find((x) => x.testEnv !== r.selections[0].testEnv)!.id]))).toMatch(/belongs to RotatedMNIST env 5/);
    expect(problem((r) => (r.selections.find((s) => s.method === 'erm')!.members = [r.runs.find((x) => x.sweep === 'ratatouille')!.id]))).toMatch(/is from the ratatouille sweep, erm uses soups/);
    const left = problem((r) => r.selections.find((s) => s.method === 'ratatouille_dagger' && s.testEnv === 5)!.members.push(DIVERGED));
    expect(left).toMatch(/is diverged and must be left out of selection/);
    expect(problem((r) => r.selections.find((s) => s.method === 'erm')!.members.push(r.runs[1].id))).toMatch(/erm selects exactly one run/);
  });

  it('checks dagger trials, run status fields, interpolation grids and pair kinds', () => {
    expect(problem((r) => (r.selections.find((s) => s.method === 'ratatouille_dagger')!.trial = 0))).toMatch(/must be null \(all trials\)/);
    expect(problem((r) => (r.selections.find((s) => s.method === 'erm')!.trial = null))).toMatch(/must be a trial seed/);
    expect(problem((r) => (r.runs.find((x) => x.id === DIVERGED)!.reason = null))).toMatch(/a diverged run needs a reason/);
    expect(problem((r) => (r.diagnostics[0].interpolation[0].alphas = [0, 0.3, 0.6, 0.8, 1]))).toMatch(/must start at 0, end at 1 and contain 0\.5/);
    expect(problem((r) => (r.diagnostics[0].interpolation[0].kind = 'same_init'))).toMatch(/start from "rot90pred" and "fashion", which is not same_init/);
    expect(problem((r) => (r.diagnostics[0].averaging[0].points[1].k = 3))).toMatch(/points\[1\]\.k: expected 2/);
    expect(problem((r) => r.diagnostics[0].disagreement!.values.pop())).toMatch(/disagreement\.values: must be 8×8/);
    expect(problem((r) => (r.datasets[0].testEnvs = [0, 6]))).toMatch(/env 6 is out of range \(6 domains\)/);
  });

  it('counts the other problems', () => {
    expect(problem((r) => r.selections.slice(0, 3).forEach((s) => (s.members = ['nope'])))).toMatch(/ \(and 2 more problems\)$/);
  });
});

describe('readResults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rt-report-read-'));
  it('reads a valid file', () => {
    const path = join(dir, 'ok.json');
    writeFileSync(path, JSON.stringify(syntheticResults()));
    expect(readResults(path).runs.length).toBe(54);
  });
  it('names a missing file and a file that is not JSON', () => {
    expect(() => readResults(join(dir, 'missing.json'))).toThrow(/missing\.json: cannot read \(ENOENT\)/);
    writeFileSync(join(dir, 'bad.json'), '{"schema": ');
    expect(() => readResults(join(dir, 'bad.json'))).toThrow(/bad\.json: not valid JSON/);
  });
});
