// The report as data and as documents: everything the tables and checks compute, gathered once
// (ReportData, also written as JSON), the Markdown report that embeds the plots, and the CSVs.
import {
  failedRuns,
  failedRunsMarkdown,
  pairedDifferences,
  pairedLine,
  pairedMarkdown,
  premiseCheck,
  premiseMarkdown,
  type PairedSummary,
  type PremiseCheck,
} from './checks.js';
import { toCsv } from './csv.js';
import { mdEscape, mdFence } from './markdown.js';
import type { Metadata, Results, RunRecord } from './schema.js';
import { averagesTable, datasetTable, ensembleTable, tableMarkdown, tablesCsv, type ResultTable } from './table.js';
import { formatBytes, formatSeconds } from '../../util/format.js';

export const REPORT_SCHEMA_ID = 'ratatouille-report/1';

export interface ReportOptions {
  /** Points a different-init midpoint barrier may exceed the same-init one and still count as connected (default 1). */
  barrierTolerance?: number;
}

export interface DatasetReport {
  dataset: string;
  table: ResultTable;
  /** Probability ensembles (diversity reference); null when none were measured. */
  ensembles: ResultTable | null;
  paired: PairedSummary;
  premise: PremiseCheck;
  failedRuns: RunRecord[];
  /** The dataset's domain names, by env index. */
  envNames: string[];
}

export interface ReportData {
  schema: typeof REPORT_SCHEMA_ID;
  datasets: DatasetReport[];
  /** Cross-dataset table (DomainBed "Averages"); null for one dataset. */
  averages: ResultTable | null;
  meta: Metadata;
}

export function buildReport(results: Results, options: ReportOptions = {}): ReportData {
  const failed = failedRuns(results);
  return {
    schema: REPORT_SCHEMA_ID,
    datasets: results.datasets.map(({ name, envNames }) => ({
      dataset: name,
      envNames,
      table: datasetTable(results, name),
      ensembles: ensembleTable(results, name),
      paired: pairedDifferences(results, name),
      premise: premiseCheck(results, name, options.barrierTolerance ?? 1),
      failedRuns: failed.filter((r) => r.dataset === name),
    })),
    averages: averagesTable(results),
    meta: results.meta,
  };
}

/** Every table cell in long format (see TABLE_CSV_HEADER). */
export function reportCsv(report: ReportData): string {
  const tables = report.datasets.flatMap((d) => [
    { kind: 'dataset', table: d.table },
    ...(d.ensembles ? [{ kind: 'ensemble', table: d.ensembles }] : []),
  ]);
  if (report.averages) tables.push({ kind: 'averages', table: report.averages });
  return tablesCsv(tables);
}

export const RUNS_CSV_HEADER = [
  'id', 'dataset', 'test_env', 'trial', 'sweep', 'hparams_seed', 'init_slot', 'init_name', 'lr', 'weight_decay', 'dropout',
  'status', 'reason', 'best_step', 'val', 'test_in', 'test_full', 'init_distance',
] as const;

/** The run table, one line per run (accuracies as fractions). */
export function runsCsv(results: Results): string {
  const rows = results.runs.map((r) => [
    r.id, r.dataset, r.testEnv, r.trial, r.sweep, r.hparamsSeed, r.initSlot, r.initName, r.hparams.lr, r.hparams.weightDecay, r.hparams.dropout,
    r.status, r.reason, r.bestStep, r.val, r.testIn, r.testFull, r.initDistance,
  ]);
  return toCsv(RUNS_CSV_HEADER, rows);
}

function metadataMarkdown(meta: Metadata): string {
  const m = meta.machine;
  const stages = Object.entries(meta.stageSeconds).map(([k, v]) => `${mdEscape(k)} ${formatSeconds(v)}`);
  const seeds = Object.entries(meta.seeds).map(([k, v]) => `${mdEscape(k)} ${Array.isArray(v) ? v.join(', ') : v}`);
  const lines = [
    '## Run',
    '',
    mdFence(meta.command.join(' '), 'sh'),
    '',
    `- Version: ${mdEscape(meta.version)}` + (meta.createdAt ? `, ${mdEscape(meta.createdAt)}` : ''),
    `- Machine: ${mdEscape(m.cpu)}, ${m.cores} cores, ${formatBytes(m.memoryBytes)}, ${mdEscape(m.os)}, Node ${mdEscape(m.node)}` +
      (m.accelerator ? `, ${mdEscape(m.accelerator)}` : ', no accelerator'),
    `- Wall time: ${formatSeconds(meta.wallSeconds)}` + (stages.length ? ` (${stages.join(', ')})` : ''),
  ];
  if (seeds.length) lines.push(`- Seeds: ${seeds.join('; ')}`);
  lines.push('', 'Configuration:', '', mdFence(JSON.stringify(meta.config, null, 2), 'json'));
  return lines.join('\n');
}

/** A plot as the Markdown report links it: `path` is relative to the report. */
export interface PlotLink {
  name: string;
  dataset: string | null;
  path: string;
}

function images(plots: readonly PlotLink[]): string[] {
  return plots.flatMap((p) => [`![${mdEscape(p.name)}](${encodeURI(p.path)})`, '']);
}

/** The Markdown report; each dataset's plots follow its checks, the others come after the averages. */
export function reportMarkdown(report: ReportData, plots: readonly PlotLink[] = []): string {
  const out: string[] = ['# Model Ratatouille results', ''];
  for (const d of report.datasets) {
    out.push(`## ${mdEscape(d.dataset)}`, '', tableMarkdown(d.table), '', failedRunsMarkdown(d.failedRuns, d.envNames), '');
    out.push(pairedMarkdown(d.paired), '', '### Premise check', '', premiseMarkdown(d.premise), '');
    if (d.ensembles) {
      out.push('### Diversity reference: probability ensembles', '', 'Averaged predicted probabilities of the same runs (not a weight average).', '', tableMarkdown(d.ensembles), '');
    }
    const own = plots.filter((p) => p.dataset === d.dataset);
    if (own.length) out.push('### Plots', '', ...images(own));
  }
  if (report.averages) out.push('## Averages over datasets', '', tableMarkdown(report.averages), '');
  const shared = plots.filter((p) => p.dataset === null);
  if (shared.length) out.push('## Distances', '', ...images(shared));
  out.push(metadataMarkdown(report.meta), '');
  return out.join('\n');
}

/** The tables and verdicts for a terminal: same layout as the Markdown, no escaping. */
export function summaryText(report: ReportData): string {
  const out: string[] = [];
  for (const d of report.datasets) {
    out.push(d.dataset, '', tableMarkdown(d.table, false), '');
    out.push(`Failed or diverged runs: ${d.failedRuns.length ? d.failedRuns.map((r) => r.id).join(', ') : 'none'}.`);
    out.push(pairedLine(d.paired));
    out.push(d.premise.verdict, '');
  }
  if (report.averages) out.push('Averages over datasets', '', tableMarkdown(report.averages, false), '');
  return out.join('\n');
}
