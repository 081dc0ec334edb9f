// DomainBed-style result tables: one per dataset (rows the methods, columns the test domains and
// Avg, cells mean ± SE over trials), the cross-dataset averages, and the probability-ensemble
// reference. "X" marks a missing cell of a method that ran, "–" a method that did not run at all.
import { toCsv, type CsvValue } from './csv.js';
import { markdownTable, type Align } from './markdown.js';
import { METHODS, METHOD_LABELS, type Results, type TestMetric } from './schema.js';
import { formatFixed, formatMean, mean } from './stats.js';

export interface TableCell {
  /** Column name: a domain (or dataset, in the averages table), or 'Avg'. */
  column: string;
  /** Env index for domain columns; null for Avg and for the averages table. */
  testEnv: number | null;
  /** Trials (values) behind the cell. */
  n: number;
  /** ×100; null when missing. */
  mean: number | null;
  /** ×100; null when missing, for Avg and for rows without error bars (†). */
  se: number | null;
  text: string;
}

export interface TableRow {
  /** A method, or 'ensemble_soups' / 'ensemble_ratatouille'. */
  key: string;
  label: string;
  testMetric: TestMetric | null;
  cells: TableCell[];
  avg: TableCell;
}

export interface ResultTable {
  /** Dataset name, or 'Averages' for the cross-dataset table. */
  title: string;
  /** The number of trials a full cell holds. */
  trials: number;
  columns: string[];
  rows: TableRow[];
}

/** One row's values: per column, the per-trial accuracies (fractions), or one value for † rows. */
interface RowInput {
  key: string;
  label: string;
  testMetric: TestMetric | null;
  columns: { column: string; testEnv: number | null; values: number[] }[];
  /** † rows: one value per column, printed without ±. */
  single: boolean;
  /** Whether the method produced any result at all: decides "X" (missing) vs "–" (not run). */
  ran: boolean;
}

function buildRow(input: RowInput, trials: number): TableRow {
  const ran = input.ran;
  const cells = input.columns.map(({ column, testEnv, values }): TableCell => {
    if (values.length === 0) return { column, testEnv, n: 0, mean: null, se: null, text: ran ? 'X' : '–' };
    if (input.single) return { column, testEnv, n: 1, mean: 100 * values[0], se: null, text: formatFixed(100 * values[0], 1) };
    const m = formatMean(values);
    return { column, testEnv, n: m.n, mean: m.mean, se: m.se, text: m.n < trials ? `${m.text} (n=${m.n})` : m.text };
  });
  const means = cells.map((c) => c.mean);
  let avg: TableCell = { column: 'Avg', testEnv: null, n: 0, mean: null, se: null, text: ran ? 'X' : '–' };
  if (ran && means.every((m) => m !== null)) {
    const m = mean(means as number[]);
    avg = { ...avg, n: Math.min(...cells.map((c) => c.n)), mean: m, text: formatFixed(m, 1) };
  }
  return { key: input.key, label: input.label, testMetric: input.testMetric, cells, avg };
}

/** The method table of one dataset. */
export function datasetTable(results: Results, dataset: string): ResultTable {
  const info = results.datasets.find((d) => d.name === dataset);
  if (!info) throw new RangeError(`datasetTable: unknown dataset "${dataset}"`);
  const rows = METHODS.map((method) => {
    const sel = results.selections.filter((s) => s.dataset === dataset && s.method === method);
    return buildRow(
      {
        key: method,
        label: METHOD_LABELS[method],
        testMetric: sel[0]?.testMetric ?? null,
        single: method === 'ratatouille_dagger',
        ran: sel.length > 0,
        columns: info.testEnvs.map((e) => ({
          column: info.envNames[e],
          testEnv: e,
          // In trial order, so equal inputs give equal sums to the last bit (validation makes each cell unique).
          values:
            method === 'ratatouille_dagger'
              ? sel.filter((s) => s.testEnv === e).map((s) => s.test)
              : info.trials.flatMap((t) => sel.filter((s) => s.testEnv === e && s.trial === t).map((s) => s.test)),
        })),
      },
      info.trials.length,
    );
  });
  return { title: dataset, trials: info.trials.length, columns: [...info.testEnvs.map((e) => info.envNames[e]), 'Avg'], rows };
}

/**
 * DomainBed's cross-dataset table: per trial the mean over the dataset's test domains (complete
 * trials only), then mean ± SE over trials; Avg is the mean of the dataset means. Null for one dataset.
 */
export function averagesTable(results: Results): ResultTable | null {
  if (results.datasets.length < 2) return null;
  const trials = Math.max(...results.datasets.map((d) => d.trials.length));
  const rows = METHODS.map((method) => {
    const dagger = method === 'ratatouille_dagger';
    const columns = results.datasets.map((d) => {
      const sel = results.selections.filter((s) => s.dataset === d.name && s.method === method);
      const envMean = (trial: number | null): number[] => {
        const vals = d.testEnvs.map((e) => sel.find((s) => s.testEnv === e && s.trial === trial)?.test);
        return vals.every((v) => v !== undefined) ? [mean(vals as number[])] : [];
      };
      return { column: d.name, testEnv: null, values: dagger ? envMean(null) : d.trials.flatMap((t) => envMean(t)) };
    });
    const metric = results.selections.find((s) => s.method === method)?.testMetric ?? null;
    const ran = results.selections.some((s) => s.method === method);
    return buildRow({ key: method, label: METHOD_LABELS[method], testMetric: metric, single: dagger, ran, columns }, trials);
  });
  return { title: 'Averages', trials, columns: [...results.datasets.map((d) => d.name), 'Avg'], rows };
}

/** Probability ensembles of each sweep's runs, in the table's format: the diversity reference. */
export function ensembleTable(results: Results, dataset: string): ResultTable | null {
  const info = results.datasets.find((d) => d.name === dataset);
  const diags = results.diagnostics.filter((d) => d.dataset === dataset);
  if (!info || !diags.some((d) => d.ensembles.length)) return null;
  const rows = (['soups', 'ratatouille'] as const).map((sweep) => {
    const found = diags.flatMap((d) => d.ensembles.filter((e) => e.sweep === sweep).map((e) => ({ d, e })));
    return buildRow(
      {
        key: `ensemble_${sweep}`,
        label: `${sweep === 'soups' ? 'Soups' : 'Ratatouille'} ensemble`,
        testMetric: found[0]?.e.testMetric ?? null,
        single: false,
        ran: found.length > 0,
        columns: info.testEnvs.map((env) => ({
          column: info.envNames[env],
          testEnv: env,
          values: info.trials.flatMap((t) => found.filter(({ d }) => d.testEnv === env && d.trial === t).map(({ e }) => e.test)),
        })),
      },
      info.trials.length,
    );
  });
  return { title: dataset, trials: info.trials.length, columns: [...info.testEnvs.map((e) => info.envNames[e]), 'Avg'], rows };
}

const METRIC_WORDS: Record<TestMetric, string> = { in: "the test domain's in-split (80%)", full: 'the full test domain' };

/** The Markdown table plus a line saying which test split each row reports. */
export function tableMarkdown(table: ResultTable, escape = true): string {
  const header = ['Method', ...table.columns];
  const align: Align[] = ['left', ...table.columns.map((): Align => 'right')];
  const body = table.rows.map((r) => [r.label, ...r.cells.map((c) => c.text), r.avg.text]);
  const out = [markdownTable(header, body, align, escape)];
  const byMetric = new Map<TestMetric, string[]>();
  for (const r of table.rows) if (r.testMetric) byMetric.set(r.testMetric, [...(byMetric.get(r.testMetric) ?? []), r.label]);
  const parts = [...byMetric].map(([m, labels]) => `${METRIC_WORDS[m]} for ${labels.join(', ')}`);
  if (parts.length) {
    const dagger = table.rows.some((r) => r.key === 'ratatouille_dagger' && r.avg.text !== '–') ? ' † rows average the runs of every trial: one model, no ±.' : '';
    out.push('', `Test accuracy (%), mean ± SE over ${table.trials} trial${table.trials === 1 ? '' : 's'}: ${parts.join('; ')}.${dagger}`);
  }
  return out.join('\n');
}

export const TABLE_CSV_HEADER = ['table', 'dataset', 'row', 'label', 'test_metric', 'column', 'test_env', 'n', 'mean', 'se', 'text'] as const;

/** Long-format CSV of tables: one line per cell (Avg included); `kind` names the table. */
export function tablesCsv(tables: readonly { kind: string; table: ResultTable }[]): string {
  const rows: CsvValue[][] = [];
  for (const { kind, table } of tables) {
    for (const r of table.rows) {
      for (const c of [...r.cells, r.avg]) {
        rows.push([kind, kind === 'averages' ? '' : table.title, r.key, r.label, r.testMetric, c.column, c.testEnv, c.n, c.mean, c.se, c.text]);
      }
    }
  }
  return toCsv(TABLE_CSV_HEADER, rows);
}
