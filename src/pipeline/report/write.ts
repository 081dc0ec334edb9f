// Writing a report directory: the results are validated and every document rendered in memory
// first, so bad input leaves nothing behind; then each file is written atomically. Also the
// terminal summary that commands print at the end of a run.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../io/atomic.js';
import { buildReport, reportCsv, reportMarkdown, runsCsv, summaryText, type ReportOptions } from './document.js';
import { renderPlots } from './plots.js';
import type { Results } from './schema.js';
import { validateResults } from './validate.js';

export interface ReportPaths {
  /** report.md: tables, failed runs, paired differences, premise check, plots, run metadata. */
  markdown: string;
  /** table.csv: every table cell, long format. */
  csv: string;
  /** table.json: ReportData (tables, paired differences, premise checks, failed runs, metadata). */
  json: string;
  /** results.json: the validated input, readable with readResults. */
  results: string;
  /** runs.csv: the run table. */
  runs: string;
  /** Plot name → path of its SVG under plots/. */
  plots: Record<string, string>;
}

/** Writes the report files under `dir` (created if missing) and returns their paths. */
export function writeReport(dir: string, results: Results, options: ReportOptions = {}): ReportPaths {
  const valid = validateResults(results, 'results');
  const report = buildReport(valid, options);
  const plots = renderPlots(valid);
  const files: [string, string][] = [
    ['report.md', reportMarkdown(report, plots.map((p) => ({ name: p.name, dataset: p.dataset, path: `plots/${p.name}.svg` })))],
    ['table.csv', reportCsv(report)],
    ['table.json', JSON.stringify(report, null, 2) + '\n'],
    ['results.json', JSON.stringify(valid, null, 2) + '\n'],
    ['runs.csv', runsCsv(valid)],
    ...plots.map((p): [string, string] => [join('plots', `${p.name}.svg`), p.svg]),
  ];
  mkdirSync(join(dir, 'plots'), { recursive: true });
  for (const [name, text] of files) writeFileAtomic(join(dir, name), text);
  return {
    markdown: join(dir, 'report.md'),
    csv: join(dir, 'table.csv'),
    json: join(dir, 'table.json'),
    results: join(dir, 'results.json'),
    runs: join(dir, 'runs.csv'),
    plots: Object.fromEntries(plots.map((p) => [p.name, join(dir, 'plots', `${p.name}.svg`)])),
  };
}

/** Tables, verdicts and (when given) the written paths, for the terminal. */
export function renderSummary(results: Results, paths?: ReportPaths, options: ReportOptions = {}): string {
  const out = [summaryText(buildReport(validateResults(results, 'results'), options))];
  if (paths) {
    out.push(`Report: ${paths.markdown}`, `Tables: ${paths.csv}, ${paths.json}`);
    const plots = Object.entries(paths.plots);
    if (plots.length) out.push('Plots:', ...plots.map(([name, path]) => `  ${name}: ${path}`));
  }
  return out.join('\n') + '\n';
}
