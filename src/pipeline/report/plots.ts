// The report's figures, one function per plot, each from Results to an SVG string (null when the
// results hold nothing to draw): accuracy vs number of averaged models, interpolation curves,
// prediction disagreement, and featurizer distances. Panels are (test env, trial) cells.
import { premiseCheck } from './checks.js';
import type { AveragedSweep, DatasetInfo, Diagnostics, Results, RunRecord } from './schema.js';
import { PALETTE, renderBarChart, renderHeatmapFigure, renderLineFigure, type Bar, type Series } from './svg.js';
import { formatFixed } from './stats.js';

const SWEEP_COLOR: Record<AveragedSweep, string> = { soups: PALETTE[0], ratatouille: PALETTE[1] };
const SWEEP_NAME: Record<AveragedSweep, string> = { soups: 'Soups', ratatouille: 'Ratatouille' };
const METRIC_NAME = { in: 'in-split', full: 'full domain' } as const;

function datasetInfo(results: Results, dataset: string): DatasetInfo {
  const info = results.datasets.find((d) => d.name === dataset);
  if (!info) throw new RangeError(`unknown dataset "${dataset}"`);
  return info;
}

/** The dataset's diagnostics in table order (test envs, then trials) with a panel title each. */
function cells(results: Results, dataset: string): { d: Diagnostics; title: string }[] {
  const info = datasetInfo(results, dataset);
  const out: { d: Diagnostics; title: string }[] = [];
  for (const e of info.testEnvs) {
    for (const t of info.trials) {
      const d = results.diagnostics.find((x) => x.dataset === dataset && x.testEnv === e && x.trial === t);
      if (d) out.push({ d, title: `test ${info.envNames[e]}, trial ${t}` });
    }
  }
  return out;
}

/** Short run label for axes: sweep initial, hparams seed, init. */
export function runTick(run: RunRecord | undefined, id: string): string {
  if (!run) return id;
  return `${run.sweep[0].toUpperCase()}${run.hparamsSeed} ${run.initName}`;
}

/** (a) Test accuracy of the average of the first k runs (uniform) / the greedy set, per sweep; ensembles as squares. */
export function plotAccuracyVsModels(results: Results, dataset: string): string | null {
  const panels = cells(results, dataset)
    .filter(({ d }) => d.averaging.length || d.ensembles.length)
    .map(({ d, title }) => {
      const series: Series[] = d.averaging.map((c) => ({
        name: `${SWEEP_NAME[c.sweep]} ${c.selection}`,
        color: SWEEP_COLOR[c.sweep],
        dashed: c.selection === 'greedy',
        marker: 'circle',
        points: c.points.map((p): [number, number] => [p.k, 100 * p.test]),
      }));
      for (const e of d.ensembles) {
        series.push({ name: `${SWEEP_NAME[e.sweep]} probability ensemble`, color: SWEEP_COLOR[e.sweep], line: false, marker: 'square', points: [[e.members.length, 100 * e.test]] });
      }
      return { title, series };
    });
  if (!panels.length) return null;
  const metric = results.diagnostics.find((d) => d.dataset === dataset && d.averaging.length)?.averaging[0].testMetric ?? 'full';
  return renderLineFigure({
    title: `${dataset}: test accuracy vs number of averaged models (uniform: first k by validation; greedy: accepted set)`,
    xLabel: 'models averaged',
    yLabel: `test accuracy, ${METRIC_NAME[metric]} (%)`,
    panels,
    columns: datasetInfo(results, dataset).trials.length,
    integerX: true,
  });
}

/** (b) Accuracy along θ(α) = (1−α)θa + αθb: different-init vs same-init pairs; validation dashed. */
export function plotInterpolation(results: Results, dataset: string): string | null {
  const kindColor = { different_init: PALETTE[1], same_init: PALETTE[0] };
  const kindName = { different_init: 'different auxiliary inits', same_init: 'same init' };
  const panels = cells(results, dataset)
    .filter(({ d }) => d.interpolation.length)
    .map(({ d, title }) => ({
      title,
      series: d.interpolation.flatMap((c): Series[] => [
        { name: `${kindName[c.kind]}, test`, color: kindColor[c.kind], marker: 'circle', points: c.alphas.map((a, i): [number, number] => [a, 100 * c.test[i]]) },
        { name: `${kindName[c.kind]}, validation`, color: kindColor[c.kind], dashed: true, marker: 'none', points: c.alphas.map((a, i): [number, number] => [a, 100 * c.val[i]]) },
      ]),
    }));
  if (!panels.length) return null;
  return renderLineFigure({
    title: `${dataset}: linear interpolation between target runs`,
    xLabel: 'α in (1−α)·θa + α·θb',
    yLabel: 'accuracy (%)',
    panels,
    columns: datasetInfo(results, dataset).trials.length,
    xRange: [0, 1],
  });
}

/** (c) Pairwise prediction disagreement (%) on the test domain, runs labelled by sweep, seed and init. */
export function plotDisagreement(results: Results, dataset: string): string | null {
  const byId = new Map(results.runs.map((r) => [r.id, r]));
  const panels = cells(results, dataset)
    .filter(({ d }) => d.disagreement)
    .map(({ d, title }) => {
      const m = d.disagreement!;
      return { title, labels: m.runs.map((id) => runTick(byId.get(id), id)), values: m.values.map((row) => row.map((v) => 100 * v)) };
    });
  if (!panels.length) return null;
  return renderHeatmapFigure({
    title: `${dataset}: prediction disagreement between runs (S = Soups, R = Ratatouille, F = fusing)`,
    valueLabel: 'disagreement (% of test examples)',
    panels,
    columns: datasetInfo(results, dataset).trials.length,
  });
}

/** (d) ‖Δφ‖/‖φ_foundation‖: auxiliary ↔ foundation, auxiliary ↔ auxiliary, target runs ↔ their init. */
export function plotDistances(results: Results): string | null {
  const bars: Bar[] = [];
  for (const t of results.auxiliary?.tasks ?? []) bars.push({ label: t.name, value: t.distanceToFoundation, group: 'auxiliary ↔ foundation' });
  for (const p of results.auxiliary?.pairs ?? []) bars.push({ label: `${p.a} ↔ ${p.b}`, value: p.distance, group: 'auxiliary ↔ auxiliary' });
  const notes: string[] = [];
  for (const d of results.datasets) {
    const s = premiseCheck(results, d.name).distances;
    if (s.targetToInit !== null) bars.push({ label: `${d.name}: Ratatouille runs (${s.targetRuns})`, value: s.targetToInit, group: 'target run ↔ its init (mean)' });
    if (s.soupsToInit !== null) {
      const n = results.runs.filter((r) => r.dataset === d.name && r.sweep === 'soups' && r.status === 'ok' && r.initDistance !== null).length;
      bars.push({ label: `${d.name}: Soups runs (${n})`, value: s.soupsToInit, group: 'target run ↔ its init (mean)' });
    }
    if (s.ratio !== null) notes.push(`${d.name}: target fine-tuning / auxiliary distance = ${formatFixed(s.ratio, 2)}`);
  }
  if (!bars.length) return null;
  return renderBarChart({ title: 'Featurizer distances ‖Δφ‖ / ‖φ_foundation‖', valueLabel: 'relative distance', bars, notes });
}

/** File stem for a dataset name (letters, digits, . _ -). */
export function slug(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '') || 'dataset';
}

export interface RenderedPlot {
  /** File stem (without .svg). */
  name: string;
  /** The dataset the plot belongs to; null for plots over the whole run (distances). */
  dataset: string | null;
  svg: string;
}

/** Every plot the results support, in a fixed order. */
export function renderPlots(results: Results): RenderedPlot[] {
  const out: RenderedPlot[] = [];
  const used = new Set<string>();
  for (const d of results.datasets) {
    let stem = slug(d.name);
    for (let k = 2; used.has(stem); k++) stem = `${slug(d.name)}-${k}`;
    used.add(stem);
    const plots: [string, string | null][] = [
      [`accuracy-vs-models-${stem}`, plotAccuracyVsModels(results, d.name)],
      [`interpolation-${stem}`, plotInterpolation(results, d.name)],
      [`disagreement-${stem}`, plotDisagreement(results, d.name)],
    ];
    for (const [name, svg] of plots) if (svg) out.push({ name, dataset: d.name, svg });
  }
  const distances = plotDistances(results);
  if (distances) out.push({ name: 'distances', dataset: null, svg: distances });
  return out;
}
