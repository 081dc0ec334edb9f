// The DomainBed-style tables built from the synthetic results; every expected cell was computed
// by hand from fixture.ts (comments give the arithmetic).
import { describe, expect, it } from 'vitest';
import { parseCsv, toCsv } from '../../../src/pipeline/report/csv.js';
import { buildReport, reportCsv } from '../../../src/pipeline/report/document.js';
import { METHODS } from '../../../src/pipeline/report/schema.js';
import { TABLE_CSV_HEADER, averagesTable, datasetTable, tableMarkdown } from '../../../src/pipeline/report/table.js';
import { DATASET, syntheticResults } from './fixture.js';

const texts = (t: ReturnType<typeof datasetTable>) => Object.fromEntries(t.rows.map((r) => [r.key, [...r.cells.map((c) => c.text), r.avg.text]]));

describe('datasetTable', () => {
  const table = datasetTable(syntheticResults(), DATASET);

  it('rows in method order, columns the test domains and Avg', () => {
    expect(table.rows.map((r) => r.key)).toEqual([...METHODS]);
    expect(table.columns).toEqual(['0°', '75°', 'Avg']);
    expect(table.rows.map((r) => r.label)).toEqual([
      'ERM', 'Soups uniform', 'Soups greedy', 'Inter-training', 'Fusing', 'Ratatouille uniform', 'Ratatouille greedy', 'Ratatouille †',
    ]);
  });

  it('mean ± SE cells and Avg = mean of the domain means', () => {
    const t = texts(table);
    expect(t.erm).toEqual(['85.0 ± 2.4', '72.0 ± 0.9', '78.5']); // (85 + 72) / 2
    expect(t.soups_uniform).toEqual(['81.2 ± 0.0', '76.0 ± 0.5', '78.6']); // 81.25 → 81.2 (ties to even); (81.25 + 76) / 2 = 78.625
    expect(t.inter_training).toEqual(['83.0 ± 1.4', '72.0 ± 0.5', '77.5']); // SE √6/√3 = 1.414
    expect(t.ratatouille_uniform).toEqual(['80.2 ± 0.4', '76.7 ± 0.7', '78.4']); // SE √0.54/√3 = 0.424; (80.22 + 76.667) / 2
  });

  it('a cell with fewer trials says so; a missing cell is X and so is its Avg', () => {
    const t = texts(table);
    expect(t.soups_greedy).toEqual(['83.0 ± 0.5', '75.0 ± 0.7 (n=2)', '79.0']); // [74, 76]: SE 1/√2
    expect(t.ratatouille_greedy).toEqual(['80.0 ± 0.5', 'X', 'X']);
    expect(table.rows.find((r) => r.key === 'soups_greedy')!.cells[1].n).toBe(2);
  });

  it('a method that never ran is – everywhere', () => {
    expect(texts(table).fusing).toEqual(['–', '–', '–']);
  });

  it('† row: one value per env, no ±', () => {
    const dagger = table.rows.find((r) => r.key === 'ratatouille_dagger')!;
    expect(texts(table).ratatouille_dagger).toEqual(['81.2', '76.5', '78.9']); // (81.25 + 76.5) / 2 = 78.875
    expect(dagger.cells.every((c) => c.se === null && c.n === 1)).toBe(true);
  });

  it('Markdown: aligned pipe table and the test-split note', () => {
    const md = tableMarkdown(table);
    const lines = md.split('\n');
    expect(lines[0]).toMatch(/^\| Method +\| +0° \| +75° \| +Avg \|$/);
    expect(lines[1]).toMatch(/^\| -+ \| -+: \| -+: \| -+: \|$/);
    expect(new Set(lines.slice(0, 10).map((l) => l.length)).size).toBe(1);
    expect(md).toContain('| Ratatouille †       |');
    expect(md).toContain("the test domain's in-split (80%) for ERM, Inter-training; the full test domain for Soups uniform");
    expect(md).toContain('mean ± SE over 3 trials');
    expect(md).not.toMatch(/in-split[^;]*Fusing/);
  });
});

describe('averagesTable', () => {
  it('is null for one dataset', () => {
    expect(averagesTable(syntheticResults())).toBeNull();
  });
  it('per trial mean over test envs, then mean ± SE over trials; Avg = mean of dataset means', () => {
    const t = averagesTable(syntheticResults('ColoredMNIST'))!;
    expect(t.columns).toEqual([DATASET, 'ColoredMNIST', 'Avg']);
    const erm = t.rows.find((r) => r.key === 'erm')!;
    // trials: (80+70)/2 = 75, (85+72)/2 = 78.5, (90+74)/2 = 82 → 78.5, SE √(24.5/3)/√3 = 1.650; the second dataset is +1
    expect([...erm.cells.map((c) => c.text), erm.avg.text]).toEqual(['78.5 ± 1.6', '79.5 ± 1.6', '79.0']);
    expect(t.rows.find((r) => r.key === 'soups_greedy')!.cells[0].text).toMatch(/\(n=2\)$/);
    expect(t.rows.find((r) => r.key === 'ratatouille_greedy')!.avg.text).toBe('X');
    const dagger = t.rows.find((r) => r.key === 'ratatouille_dagger')!;
    expect([...dagger.cells.map((c) => c.text), dagger.avg.text]).toEqual(['78.9', '79.9', '79.4']); // 78.875, 79.875
  });
});

describe('CSV', () => {
  it('quotes commas, quotes, line breaks and edge spaces', () => {
    expect(toCsv(['a', 'b'], [['x,y', 1], [null, 'q"'], [' s', 'l\nm']])).toBe('a,b\n"x,y",1\n,"q"""\n" s","l\nm"\n');
    expect(parseCsv('a,b\r\n"x,y",1\r\n,"q"""\n')).toEqual([['a', 'b'], ['x,y', '1'], ['', 'q"']]);
  });

  it('the table CSV parses back to the same cells', () => {
    const results = syntheticResults();
    const report = buildReport(results);
    const rows = parseCsv(reportCsv(report));
    expect(rows[0]).toEqual([...TABLE_CSV_HEADER]);
    expect(rows.length - 1).toBe(8 * 3 + 2 * 3); // methods × (2 envs + Avg) + 2 ensemble rows × 3
    const col = (name: string) => TABLE_CSV_HEADER.indexOf(name as (typeof TABLE_CSV_HEADER)[number]);
    const erm0 = rows.find((r) => r[col('table')] === 'dataset' && r[col('row')] === 'erm' && r[col('column')] === '0°')!;
    expect(erm0[col('dataset')]).toBe(DATASET);
    expect(erm0[col('text')]).toBe('85.0 ± 2.4');
    expect(Number(erm0[col('n')])).toBe(3);
    expect(Number(erm0[col('mean')])).toBeCloseTo(85, 10);
    expect(Number(erm0[col('se')])).toBeCloseTo(2.357022603955158, 10);
    expect(erm0[col('test_metric')]).toBe('in');
    const fusingAvg = rows.find((r) => r[col('row')] === 'fusing' && r[col('column')] === 'Avg')!;
    expect([fusingAvg[col('mean')], fusingAvg[col('text')], fusingAvg[col('test_env')]]).toEqual(['', '–', '']);
    // Every table cell of the report appears once, with the same text.
    const cells = report.datasets[0].table.rows.flatMap((r) => [...r.cells, r.avg].map((c) => `${r.key}|${c.column}|${c.text}`));
    const fromCsv = rows.filter((r) => r[col('table')] === 'dataset').map((r) => `${r[col('row')]}|${r[col('column')]}|${r[col('text')]}`);
    expect(fromCsv).toEqual(cells);
  });
});
