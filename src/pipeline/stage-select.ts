// Stage 3: from the finished runs of one (dataset, env, trial), the table's methods and the
// diagnostics. Ranking is by training-domain validation (ties: lower hparams seed). Averages are
// built on a running sum for the curves and greedy's acceptance, and the selected soups are then
// written by the native streaming average and scored from those files. Every score of a member
// set is memoised, so greedy's tentative averages that equal uniform prefixes cost nothing.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { predictedClasses } from '../eval/index.js';
import { averageCheckpoints } from '../merge/average.js';
import { OUTPUTS } from '../train/checkpoint.js';
import type { AveragingCurve, Diagnostics, EnsembleResult, InterpolationCurve, Method, MethodResult, RunRecord } from './report/index.js';
import type { PlannedRun, TargetCell } from './stage-sweep.js';
import type { PipelineContext } from './context.js';
import { SplitScorer, type ScoredPass } from './scorer.js';
import { greedySelect, rankCandidates, uniformCurve, type Candidate, type CurveStep, type SelectionIO } from './select.js';
import { featurizerDistance, featurizerNorm, readWeights, type Weights } from './weights.js';

export interface FinishedRun {
  readonly plan: PlannedRun;
  readonly record: RunRecord;
}

/** Awaits a planned run and describes it as a row of the run table (distance filled in later). */
export async function finishRun(p: PlannedRun): Promise<FinishedRun> {
  const o = await p.outcome;
  const base = { id: p.id, dataset: p.dataset, testEnv: p.testEnv, trial: p.trial, sweep: p.sweep, hparamsSeed: p.h, initSlot: p.initSlot, initName: p.initName, hparams: { ...p.hparams } };
  if (o.status === 'failed') return { plan: p, record: { ...base, status: 'failed', reason: o.reason, bestStep: null, val: null, testIn: null, testFull: null, initDistance: null } };
  const r = o.result;
  const b = r.best;
  return {
    plan: p,
    record: {
      ...base,
      status: o.status === 'done' ? 'ok' : 'diverged',
      reason: o.status === 'done' ? null : (r.message ?? 'diverged'),
      bestStep: b?.step ?? null,
      val: b?.val ?? null,
      testIn: b?.test ?? null,
      testFull: b?.testFull ?? null,
      initDistance: null,
    },
  };
}

const weightsFile = (r: FinishedRun) => join(r.plan.outDir, OUTPUTS.weights);
const memberKey = (ids: readonly string[]) => [...ids].sort().join('\n');

/** One cell's scorer with memoised member sets and counted checkpoint reads. */
class CellScoring {
  reads = 0;
  private readonly memo = new Map<string, ScoredPass>();
  constructor(
    readonly scorer: SplitScorer,
    private readonly byId: Map<string, FinishedRun>,
  ) {}

  async load(id: string): Promise<Weights> {
    this.reads++;
    return readWeights(weightsFile(this.byId.get(id)!));
  }

  /** Scores the weights in the scorer's arrays as the average of `members` (memoised). */
  async evaluate(members: readonly string[]): Promise<ScoredPass> {
    // Runs shared by two sweeps (the Ratatouille slot-0 run is the Soups run) are one model.
    const key = memberKey(members.map((m) => this.byId.get(m)!.plan.outDir));
    let s = this.memo.get(key);
    if (!s) this.memo.set(key, (s = await this.scorer.score()));
    return s;
  }

  /** Scores one run (its kept checkpoint). */
  async run(id: string): Promise<ScoredPass> {
    const key = memberKey([this.byId.get(id)!.plan.outDir]);
    const hit = this.memo.get(key);
    if (hit) return hit;
    this.scorer.load(await this.load(id));
    return this.evaluate([id]);
  }

  /** Scores a checkpoint file (a native average). */
  async file(path: string): Promise<ScoredPass> {
    this.reads++;
    this.scorer.load(await readWeights(path));
    return this.scorer.score();
  }

  io(): SelectionIO<{ pooled: number } & ScoredPass> {
    return {
      load: (id) => this.load(id),
      target: this.scorer.weights,
      evaluate: async (_avg, members) => {
        const s = await this.evaluate(members);
        return { ...s, pooled: s.scores.pooled };
      },
    };
  }
}

function curve(sweep: 'soups' | 'ratatouille', selection: 'uniform' | 'greedy', steps: CurveStep<ScoredPass>[], rejected: string[]): AveragingCurve {
  return { sweep, selection, testMetric: 'full', rejected, points: steps.map((s) => ({ k: s.k, added: s.added, test: s.score.scores.testFull, val: s.score.scores.pooled })) };
}

function softmaxInto(acc: Float64Array, logits: Float32Array, k: number): void {
  for (let r = 0; r < logits.length / k; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[r * k + c]);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(logits[r * k + c] - max);
    for (let c = 0; c < k; c++) acc[r * k + c] += Math.exp(logits[r * k + c] - max) / sum;
  }
}

export interface CellResult {
  readonly selections: MethodResult[];
  readonly diagnostics: Diagnostics;
  readonly reads: number;
}

/** Selections and diagnostics of one (dataset, env, trial) from its finished runs. */
export async function selectCell(ctx: PipelineContext, cell: TargetCell, runs: readonly FinishedRun[]): Promise<CellResult> {
  const ok = runs.filter((r) => r.record.status === 'ok');
  const byId = new Map(runs.map((r) => [r.record.id, r]));
  const scorer = await SplitScorer.create(cell.spec, cell.ds, cell.trial, cell.testEnv, ctx.threads);
  const s = new CellScoring(scorer, byId);
  const dir = ctx.layout.selectionDir(cell.dataset, cell.testEnv, cell.trial);
  mkdirSync(dir, { recursive: true });
  const selections: MethodResult[] = [];
  const averaging: AveragingCurve[] = [];
  const base = { dataset: cell.dataset, testEnv: cell.testEnv, trial: cell.trial };
  const ranked = (sweep: string) => rankCandidates(ok.filter((r) => r.record.sweep === sweep).map((r): Candidate => ({ id: r.record.id, val: r.record.val!, order: r.record.hparamsSeed })));
  try {
    const single = (method: Method, sweep: string) => {
      const best = ranked(sweep)[0];
      if (!best) return;
      const rec = byId.get(best.id)!.record;
      selections.push({ ...base, method, test: rec.testIn!, testMetric: 'in', val: { value: rec.val!, metric: 'domain_mean' }, members: [best.id] });
    };
    single('erm', 'soups');
    single('inter_training', 'ratatouille');
    single('fusing', 'fusing');
    for (const sweep of ['soups', 'ratatouille'] as const) {
      const cands = ranked(sweep);
      if (!cands.length) continue;
      const uni = await uniformCurve(cands, s.io());
      const greedy = await greedySelect(cands, s.io());
      averaging.push(curve(sweep, 'uniform', uni, []), curve(sweep, 'greedy', greedy.steps, greedy.rejected));
      for (const [selection, members] of [['uniform', cands.map((c) => c.id)], ['greedy', greedy.accepted]] as const) {
        const out = join(dir, `${sweep}-${selection}.safetensors`);
        await averageCheckpoints({ inputs: members.map((id) => weightsFile(byId.get(id)!)), output: out });
        const sc = (await s.file(out)).scores;
        selections.push({ ...base, method: `${sweep}_${selection}` as Method, test: sc.testFull, testMetric: 'full', val: { value: sc.pooled, metric: 'pooled' }, members: [...members] });
      }
    }
    const diagnostics: Diagnostics = { ...base, averaging, interpolation: await interpolations(ctx, s, ok), ...(await diversity(s, ok, cell.ds.classes.length)) };
    return { selections, diagnostics, reads: s.reads };
  } finally {
    await scorer.release();
  }
}

/** Two target runs from different auxiliary inits, and two from the same init (the two best Soups runs). */
function pairs(ok: readonly FinishedRun[]): { kind: 'different_init' | 'same_init'; a: FinishedRun; b: FinishedRun }[] {
  const byVal = [...ok].sort((x, y) => y.record.val! - x.record.val! || x.record.hparamsSeed - y.record.hparamsSeed);
  const out: { kind: 'different_init' | 'same_init'; a: FinishedRun; b: FinishedRun }[] = [];
  const aux = byVal.filter((r) => r.record.sweep === 'ratatouille' && (r.record.initSlot ?? 0) > 0);
  const a = aux[0];
  const b = aux.find((r) => r.record.initName !== a?.record.initName);
  if (a && b) out.push({ kind: 'different_init', a, b });
  const soups = byVal.filter((r) => r.record.sweep === 'soups');
  if (soups.length >= 2) out.push({ kind: 'same_init', a: soups[0], b: soups[1] });
  return out;
}

async function interpolations(ctx: PipelineContext, s: CellScoring, ok: readonly FinishedRun[]): Promise<InterpolationCurve[]> {
  const alphas = ctx.config.diagnostics.alphas;
  const out: InterpolationCurve[] = [];
  for (const { kind, a, b } of pairs(ok)) {
    const wa = await s.load(a.record.id);
    const wb = await s.load(b.record.id);
    const test: number[] = [];
    const val: number[] = [];
    for (const alpha of alphas) {
      let sc;
      if (alpha === 0) sc = (await s.run(a.record.id)).scores;
      else if (alpha === 1) sc = (await s.run(b.record.id)).scores;
      else {
        for (const [k, dst] of s.scorer.weights) {
          const x = wa.get(k)!;
          const y = wb.get(k)!;
          for (let i = 0; i < dst.length; i++) dst[i] = (1 - alpha) * x[i] + alpha * y[i];
        }
        sc = (await s.scorer.score()).scores;
      }
      test.push(sc.testFull);
      val.push(sc.val);
    }
    out.push({ kind, a: a.record.id, b: b.record.id, testMetric: 'full', alphas: [...alphas], test, val });
  }
  return out;
}

/** Prediction disagreement between the distinct runs and the probability ensembles of each sweep. */
async function diversity(s: CellScoring, ok: readonly FinishedRun[], k: number): Promise<Pick<Diagnostics, 'disagreement' | 'ensembles'>> {
  const seen = new Set<string>();
  const distinct = ok.filter((r) => r.record.sweep !== 'fusing' && !seen.has(r.plan.outDir) && seen.add(r.plan.outDir));
  if (!distinct.length) return { disagreement: null, ensembles: [] };
  const labels = s.scorer.testLabels();
  const classes: Int32Array[] = [];
  const logits = new Map<string, Float32Array>();
  for (const r of distinct) {
    const pass = await s.run(r.record.id);
    logits.set(r.plan.outDir, pass.testLogits);
    classes.push(predictedClasses(pass.testLogits, labels.length, k));
  }
  const values = classes.map((a) => classes.map((b) => a.reduce((n, x, i) => n + (x !== b[i] ? 1 : 0), 0) / a.length));
  const ensembles: EnsembleResult[] = [];
  for (const sweep of ['soups', 'ratatouille'] as const) {
    const members = ok.filter((r) => r.record.sweep === sweep);
    if (!members.length) continue;
    const probs = new Float64Array(labels.length * k);
    for (const m of members) softmaxInto(probs, logits.get(m.plan.outDir)!, k);
    let correct = 0;
    for (let i = 0; i < labels.length; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (probs[i * k + c] > probs[i * k + best]) best = c;
      if (best === labels[i]) correct++;
    }
    ensembles.push({ sweep, members: members.map((m) => m.record.id), test: correct / labels.length, testMetric: 'full' });
  }
  return { disagreement: { runs: distinct.map((r) => r.record.id), testMetric: 'full', values }, ensembles };
}

/** Ratatouille †: the uniform average of every trial's ok Ratatouille runs of one (dataset, env). */
export async function daggerSelection(ctx: PipelineContext, cell: TargetCell, runs: readonly FinishedRun[]): Promise<MethodResult | null> {
  const seen = new Set<string>();
  const members = runs.filter((r) => r.record.sweep === 'ratatouille' && r.record.status === 'ok' && !seen.has(r.plan.outDir) && seen.add(r.plan.outDir));
  if (!members.length) return null;
  const dir = ctx.layout.selectionDir(cell.dataset, cell.testEnv, 'dagger');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'ratatouille-dagger.safetensors');
  await averageCheckpoints({ inputs: members.map(weightsFile), output: out });
  const scorer = await SplitScorer.create(cell.spec, cell.ds, cell.trial, cell.testEnv, ctx.threads);
  try {
    scorer.load(await readWeights(out));
    const sc = (await scorer.score()).scores;
    return { dataset: cell.dataset, testEnv: cell.testEnv, trial: null, method: 'ratatouille_dagger', test: sc.testFull, testMetric: 'full', val: null, members: members.map((m) => m.record.id) };
  } finally {
    await scorer.release();
  }
}

/**
 * ‖φ_best − φ_init‖ / ‖φ_foundation‖ of every ok run (featurizer parameters); the foundation as
 * the dataset's runs took it (channel-adapted) is the init of its slot-0 runs.
 */
export async function fillDistances(runs: readonly FinishedRun[], isFeat?: (name: string) => boolean): Promise<FinishedRun[]> {
  const cache = new Map<string, Weights>();
  const read = async (f: string) => cache.get(f) ?? cache.set(f, await readWeights(f)).get(f)!;
  const norms = new Map<string, number>();
  for (const r of runs) if (r.plan.initSlot === 0 && !norms.has(r.plan.dataset)) norms.set(r.plan.dataset, featurizerNorm(await read(r.plan.initFeaturizer), isFeat));
  const out: FinishedRun[] = [];
  for (const r of runs) {
    const norm = norms.get(r.plan.dataset);
    if (r.record.status !== 'ok' || !norm) {
      out.push(r);
      continue;
    }
    const d = featurizerDistance(await read(r.plan.initFeaturizer), await readWeights(weightsFile(r)), isFeat) / norm;
    out.push({ plan: r.plan, record: { ...r.record, initDistance: d } });
  }
  return out;
}
