// writeReport end to end on synthetic results: every file written atomically and deterministic,
// JSON that validates, CSV that parses, and nothing written for bad input.
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/errors.js';
import { parseCsv } from '../../../src/pipeline/report/csv.js';
import { RUNS_CSV_HEADER, REPORT_SCHEMA_ID } from '../../../src/pipeline/report/document.js';
import { readResults } from '../../../src/pipeline/report/validate.js';
import { renderSummary, writeReport } from '../../../src/pipeline/report/write.js';
import { DIVERGED, syntheticResults } from './fixture.js';
import { checkWellFormedXml } from './xml-check.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'rt-report-'));

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of (readdirSync(dir, { recursive: true }) as string[]).sort()) {
    if (statSync(join(dir, f)).isFile()) out.set(f, readFileSync(join(dir, f), 'utf8'));
  }
  return out;
}

describe('writeReport', () => {
  it('writes the report, tables, results, runs and plots', () => {
    const dir = join(tmp(), 'report');
    const results = syntheticResults();
    const paths = writeReport(dir, results);
    expect(Object.keys(paths.plots)).toEqual(['accuracy-vs-models-RotatedMNIST', 'interpolation-RotatedMNIST', 'disagreement-RotatedMNIST', 'distances']);
    for (const p of [paths.markdown, paths.csv, paths.json, paths.results, paths.runs, ...Object.values(paths.plots)]) expect(existsSync(p)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);

    expect(readResults(paths.results)).toEqual(results);
    const table = JSON.parse(readFileSync(paths.json, 'utf8'));
    expect(table.schema).toBe(REPORT_SCHEMA_ID);
    expect(table.datasets[0].table.rows[0].cells[0].text).toBe('85.0 ± 2.4');
    expect(table.datasets[0].failedRuns.map((r: { id: string }) => r.id)).toEqual([DIVERGED]);
    expect(parseCsv(readFileSync(paths.csv, 'utf8')).length).toBe(31);
    const runs = parseCsv(readFileSync(paths.runs, 'utf8'));
    expect(runs[0]).toEqual([...RUNS_CSV_HEADER]);
    expect(runs.length - 1).toBe(results.runs.length);
    expect(runs.find((r) => r[0] === DIVERGED)!.slice(11, 13)).toEqual(['diverged', 'loss is NaN at step 120 | <check lr & wd>']);
    for (const p of Object.values(paths.plots)) checkWellFormedXml(readFileSync(p, 'utf8'));

    const md = readFileSync(paths.markdown, 'utf8');
    expect(md).toContain('## RotatedMNIST');
    expect(md).toMatch(/\| ERM +\| +85\.0 ± 2\.4 \| +72\.0 ± 0\.9 \| +78\.5 \|/);
    expect(md).toContain('Failed or diverged runs (1, left out of selection):');
    expect(md).toContain('Ratatouille uniform − Soups uniform: -0.2 ± 0.5 points');
    expect(md).toContain('**Verdict:** Runs from different auxiliary inits are not linearly connected at this scale');
    expect(md).toContain('### Diversity reference: probability ensembles');
    // Dataset plots under the dataset, distances in their own section, metadata last.
    const at = (s: string) => md.indexOf(s);
    expect(at('## RotatedMNIST')).toBeLessThan(at('![accuracy-vs-models-RotatedMNIST](plots/accuracy-vs-models-RotatedMNIST.svg)'));
    expect(at('![disagreement-RotatedMNIST](plots/disagreement-RotatedMNIST.svg)')).toBeLessThan(at('## Distances\n\n![distances](plots/distances.svg)'));
    expect(at('![distances](plots/distances.svg)')).toBeLessThan(at('## Run'));
    expect(md).toContain('```sh\nratatouille run --config demo.yaml\n```');
    expect(md).toContain('- Machine: Test CPU, 2 cores, 24.0 GiB, Linux 6.1, Node 20.17.0, no accelerator');
    expect(md).toContain('- Wall time: 4m43s (foundation 25.0s, auxiliary 40.0s)');
  });

  it('same results, same bytes', () => {
    const a = tmp();
    const b = tmp();
    writeReport(a, syntheticResults());
    writeReport(b, syntheticResults());
    writeReport(b, syntheticResults()); // overwriting is atomic and gives the same files
    const sa = snapshot(a);
    expect(sa.size).toBe(9);
    expect(snapshot(b)).toEqual(sa);
  });

  it('bad input: one InputError, nothing written', () => {
    const dir = join(tmp(), 'never');
    const r = syntheticResults();
    r.selections[0].members = ['ghost'];
    expect(() => writeReport(dir, r)).toThrow(InputError);
    expect(() => writeReport(dir, r)).toThrow(/^results: selections\[0\]\.members\[0\]: unknown run "ghost"$/);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('renderSummary', () => {
  it('plain table, verdicts and the written paths', () => {
    const dir = tmp();
    const results = syntheticResults();
    const text = renderSummary(results, writeReport(dir, results));
    expect(text).toMatch(/^RotatedMNIST\n\n\| Method +\| +0° \| +75° \| +Avg \|/);
    expect(text).toContain('| Ratatouille †       |');
    expect(text).toContain(`Failed or diverged runs: ${DIVERGED}.`);
    expect(text).toContain('Runs from different auxiliary inits are not linearly connected');
    expect(text).toContain(`Report: ${join(dir, 'report.md')}`);
    expect(text).toContain(`  distances: ${join(dir, 'plots', 'distances.svg')}`);
    expect(renderSummary(results)).not.toContain('Plots:');
  });
});
