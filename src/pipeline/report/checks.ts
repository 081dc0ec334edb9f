// What goes under the table: the runs left out of selection, the paired Ratatouille − Soups
// differences per (trial, env) (paired, because cells share splits and noise), and the premise
// check: are runs from different auxiliary inits linearly connected, and how far did they move?
import { markdownTable, mdCode, mdEscape } from './markdown.js';
import type { InterpolationCurve, PairKind, Results, RunRecord } from './schema.js';
import { formatFixed, formatMean, formatSigned, mean, type MeanCell } from './stats.js';

/** Diverged or failed runs, in run-table order. */
export function failedRuns(results: Results): RunRecord[] {
  return results.runs.filter((r) => r.status !== 'ok');
}

export function runLabel(run: RunRecord): string {
  const slot = run.initSlot === null ? '' : ` (slot ${run.initSlot})`;
  return `${run.sweep} h${run.hparamsSeed}, init ${run.initName}${slot}`;
}

/** The failed or diverged runs of one dataset (envNames: its domain names), one line each. */
export function failedRunsMarkdown(failed: readonly RunRecord[], envNames: readonly string[]): string {
  if (!failed.length) return 'Failed or diverged runs: none.';
  const lines = failed.map(
    (r) =>
      `- ${mdCode(r.id)}: test ${mdEscape(envNames[r.testEnv] ?? String(r.testEnv))}, trial ${r.trial}, ${mdEscape(runLabel(r))}: **${r.status}**: ${mdEscape(r.reason ?? '')}`,
  );
  return [`Failed or diverged runs (${failed.length}, left out of selection):`, '', ...lines].join('\n');
}

export interface PairedDifference {
  testEnv: number;
  domain: string;
  trial: number;
  /** Test accuracies ×100 and their difference in points. */
  ratatouille: number;
  soups: number;
  difference: number;
}

export interface PairedSummary {
  dataset: string;
  pairs: PairedDifference[];
  /** Mean ± SE of the differences (points); null without pairs. */
  summary: MeanCell;
  /** Pairs where Ratatouille uniform is ahead. */
  ahead: number;
}

/** Ratatouille uniform − Soups uniform per (trial, env) where both exist. */
export function pairedDifferences(results: Results, dataset: string): PairedSummary {
  const info = results.datasets.find((d) => d.name === dataset);
  if (!info) throw new RangeError(`pairedDifferences: unknown dataset "${dataset}"`);
  const pick = (method: string, e: number, t: number) =>
    results.selections.find((s) => s.dataset === dataset && s.method === method && s.testEnv === e && s.trial === t)?.test;
  const pairs: PairedDifference[] = [];
  for (const t of info.trials) {
    for (const e of info.testEnvs) {
      const r = pick('ratatouille_uniform', e, t);
      const s = pick('soups_uniform', e, t);
      if (r === undefined || s === undefined) continue;
      pairs.push({ testEnv: e, domain: info.envNames[e], trial: t, ratatouille: 100 * r, soups: 100 * s, difference: 100 * (r - s) });
    }
  }
  const summary = formatMean(pairs.map((p) => p.difference / 100));
  return { dataset, pairs, summary, ahead: pairs.filter((p) => p.difference > 0).length };
}

export function pairedMarkdown(p: PairedSummary): string {
  const title = 'Paired differences, Ratatouille uniform − Soups uniform (points):';
  if (!p.pairs.length) return `${title} no (trial, env) has both results.`;
  const rows = p.pairs.map((d) => [String(d.trial), d.domain, formatFixed(d.ratatouille, 1), formatFixed(d.soups, 1), formatSigned(d.difference)]);
  const table = markdownTable(['Trial', 'Test domain', 'Ratatouille uniform', 'Soups uniform', 'Difference'], rows, ['right', 'left', 'right', 'right', 'right']);
  return [title, '', table, '', pairedLine(p)].join('\n');
}

export function pairedLine(p: PairedSummary): string {
  if (!p.pairs.length) return 'Ratatouille uniform − Soups uniform: no pairs.';
  const m = p.summary;
  return `Ratatouille uniform − Soups uniform: ${formatSigned(m.mean as number)} ± ${formatFixed(m.se as number, 1)} points (mean ± SE over ${p.pairs.length} (trial, env) pairs); Ratatouille ahead in ${p.ahead} of ${p.pairs.length}.`;
}

/** (acc(0) + acc(1)) / 2 − acc(0.5), as a fraction; positive means a dip between the two runs. */
export function midpointBarrier(curve: InterpolationCurve, which: 'test' | 'val'): number {
  const ys = curve[which];
  const mid = curve.alphas.indexOf(0.5);
  return (ys[0] + ys[ys.length - 1]) / 2 - ys[mid];
}

export interface PairKindSummary {
  kind: PairKind;
  n: number;
  /** Mean ± SE over pairs, in points. */
  barrierTest: MeanCell;
  barrierVal: MeanCell;
}

export interface DistanceSummary {
  /** Mean ‖φ_run − φ_init‖/‖φ_foundation‖ over ok Ratatouille runs from auxiliary inits. */
  targetToInit: number | null;
  targetRuns: number;
  /** Mean auxiliary ↔ foundation distance over the tasks those runs used (all tasks if unknown). */
  auxToFoundation: number | null;
  auxTasks: number;
  auxToAux: number | null;
  auxPairs: number;
  /** targetToInit / auxToFoundation: mini-benchmark.md's main knob. */
  ratio: number | null;
  /** Mean distance Soups runs moved from the foundation, for scale. */
  soupsToInit: number | null;
}

export interface PremiseCheck {
  dataset: string;
  kinds: PairKindSummary[];
  distances: DistanceSummary;
  /** null when no different-init pair was measured. */
  connected: boolean | null;
  verdict: string;
  /** Points a different-init barrier may exceed the same-init one and still count as connected. */
  tolerance: number;
}

const meanOrNull = (xs: number[]) => (xs.length ? mean(xs) : null);

function distanceSummary(results: Results, dataset: string): DistanceSummary {
  const ok = results.runs.filter((r) => r.dataset === dataset && r.status === 'ok' && r.initDistance !== null);
  const target = ok.filter((r) => r.sweep === 'ratatouille' && r.initSlot !== null && r.initSlot > 0);
  const used = new Set(target.map((r) => r.initName));
  const tasks = results.auxiliary?.tasks ?? [];
  const pool = tasks.some((t) => used.has(t.name)) ? tasks.filter((t) => used.has(t.name)) : tasks;
  const targetToInit = meanOrNull(target.map((r) => r.initDistance as number));
  const auxToFoundation = meanOrNull(pool.map((t) => t.distanceToFoundation));
  const pairs = results.auxiliary?.pairs ?? [];
  return {
    targetToInit,
    targetRuns: target.length,
    auxToFoundation,
    auxTasks: pool.length,
    auxToAux: meanOrNull(pairs.map((p) => p.distance)),
    auxPairs: pairs.length,
    ratio: targetToInit !== null && auxToFoundation ? targetToInit / auxToFoundation : null,
    soupsToInit: meanOrNull(ok.filter((r) => r.sweep === 'soups').map((r) => r.initDistance as number)),
  };
}

export function premiseCheck(results: Results, dataset: string, tolerance = 1): PremiseCheck {
  const curves = results.diagnostics.filter((d) => d.dataset === dataset).flatMap((d) => d.interpolation);
  const kinds = (['different_init', 'same_init'] as const).map((kind): PairKindSummary => {
    const of = curves.filter((c) => c.kind === kind);
    return { kind, n: of.length, barrierTest: formatMean(of.map((c) => midpointBarrier(c, 'test'))), barrierVal: formatMean(of.map((c) => midpointBarrier(c, 'val'))) };
  });
  const [diff, same] = kinds.map((k) => k.barrierTest.mean);
  let connected: boolean | null = null;
  let verdict = 'No interpolation between runs from different auxiliary inits was measured.';
  if (diff !== null) {
    // A negative barrier is a bump, not a dip: the reference is never below 0, so a midpoint that
    // beats its endpoints counts as connected even when same-init pairs bump more.
    connected = diff <= Math.max(same ?? 0, 0) + tolerance;
    const vs = same === null ? ' (no same-init pairs measured)' : ` vs ${formatFixed(same, 1)} for same-init pairs`;
    verdict = `Runs from different auxiliary inits ${connected ? 'are' : 'are not'} linearly connected at this scale: barrier ${formatFixed(diff, 1)} points${vs}.`;
  }
  return { dataset, kinds, distances: distanceSummary(results, dataset), connected, verdict, tolerance };
}

const KIND_LABEL: Record<PairKind, string> = { different_init: 'different auxiliary inits', same_init: 'same init' };
const dist = (x: number | null) => (x === null ? '–' : formatFixed(x, 3));

export function premiseMarkdown(p: PremiseCheck): string {
  const rows = p.kinds.map((k) => [KIND_LABEL[k.kind], String(k.n), k.n ? k.barrierTest.text : '–', k.n ? k.barrierVal.text : '–']);
  const d = p.distances;
  const lines = [
    markdownTable(['Pairs of target runs', 'n', 'Midpoint barrier, test (points)', 'Midpoint barrier, validation (points)'], rows, ['left', 'right', 'right', 'right']),
    '',
    `Barrier = mean of the endpoint accuracies − accuracy at α = 0.5 (positive = a dip); mean ± SE over pairs.`,
    '',
    `Distances ‖Δφ‖/‖φ_foundation‖: target run ↔ its auxiliary init ${dist(d.targetToInit)} (mean of ${d.targetRuns} runs), ` +
      `auxiliary ↔ foundation ${dist(d.auxToFoundation)} (mean of ${d.auxTasks} tasks), auxiliary ↔ auxiliary ${dist(d.auxToAux)} (mean of ${d.auxPairs} pairs), ` +
      `Soups run ↔ foundation ${dist(d.soupsToInit)}.`,
    `Distance ratio (target fine-tuning / auxiliary): ${d.ratio === null ? '–' : formatFixed(d.ratio, 2)}.`,
    '',
    `**Verdict:** ${p.verdict}` + (p.connected === null ? '' : ` (Connected means a barrier at most ${formatFixed(p.tolerance, 1)} point above the same-init barrier, or above 0 when that is negative.)`),
  ];
  return lines.join('\n');
}
