// The stages end to end and one by one (the CLI's run / aux / sweep / select / report). `runAll`
// overlaps them where the dependencies allow: Soups runs queue behind the auxiliary fine-tunings
// and the probes are fitted while those train; Ratatouille and fusing runs queue once the pool
// is complete. Everything lands in the run directory; every stage resumes what it finds there.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { InputError } from '../errors.js';
import { VERSION } from '../version.js';
import { formatSeconds } from '../util/format.js';
import { currentMachine, writeReport, readResults, type AuxiliaryPool, type DatasetInfo, type MethodResult, type Diagnostics, type Results, type ReportPaths } from './report/index.js';
import { saveConfig, type PipelineContext } from './context.js';
import type { Outcome } from './executor.js';
import { checkPoolInputs } from './inputs.js';
import { featurizerFilter, poolModel } from './models.js';
import { auxStage, existingPool, foundationStage } from './stage-pool.js';
import { daggerSelection, fillDistances, finishRun, selectCell, type FinishedRun } from './stage-select.js';
import { openTargets, probeStage, ratatouilleStage, soupsStage, targetSpec, type PlannedRun, type TargetCell } from './stage-sweep.js';
import type { PoolManifest } from './pool.js';
import { featurizerDistance, featurizerNorm, readWeights } from './weights.js';

/** sweeps.json: the finished runs of every cell (what `select` reads). */
interface SweepManifest {
  readonly format: 'ratatouille-sweeps/1';
  readonly foundation: string;
  readonly runs: { plan: Omit<PlannedRun, 'outcome'>; record: FinishedRun['record'] }[];
}

/** Checks everything the config names (external checkpoints, targets, test envs) before any work, then records the config. */
async function preflight(ctx: PipelineContext): Promise<void> {
  await checkPoolInputs(ctx);
  await openTargets(ctx);
  saveConfig(ctx);
}

/** `aux`: the foundation and the auxiliary pool. */
export async function runAux(ctx: PipelineContext): Promise<PoolManifest> {
  await preflight(ctx);
  const foundation = await foundationStage(ctx);
  return auxStage(ctx, foundation).manifest;
}

async function finishSweep(ctx: PipelineContext, foundation: string, planned: PlannedRun[]): Promise<FinishedRun[]> {
  const finished = await fillDistances(await Promise.all(planned.map(finishRun)), featurizerFilter(await poolModel(ctx.config)));
  const m: SweepManifest = { format: 'ratatouille-sweeps/1', foundation, runs: finished.map(({ plan: { outcome: _o, ...plan }, record }) => ({ plan, record })) };
  writeFileAtomic(ctx.layout.sweepManifest, JSON.stringify(m, null, 2) + '\n');
  const bad = finished.filter((r) => r.record.status !== 'ok');
  ctx.progress.stageEnd('sweeps', `${finished.length} runs${bad.length ? `, ${bad.length} failed or diverged` : ''}`);
  return finished;
}

/** `sweep`: probes and the Soups, Ratatouille and fusing sweeps, from the pool of an earlier `aux`. */
export async function runSweep(ctx: PipelineContext): Promise<FinishedRun[]> {
  await preflight(ctx);
  const pool = existingPool(ctx);
  const cells = await probeStage(ctx, pool.foundation);
  ctx.progress.stageStart('sweeps');
  const seen = new Map<string, Promise<Outcome>>();
  const planned = [...(await soupsStage(ctx, cells, pool.foundation, seen)), ...(await ratatouilleStage(ctx, cells, pool, seen))];
  return finishSweep(ctx, pool.foundation, planned);
}

/** Reads sweeps.json back as finished runs. */
function readSweeps(ctx: PipelineContext): SweepManifest {
  const f = ctx.layout.sweepManifest;
  if (!existsSync(f)) throw new InputError(f, 'no finished sweeps here; run `ratatouille sweep` first (same --run-dir)');
  return JSON.parse(readFileSync(f, 'utf8')) as SweepManifest;
}

async function poolDistances(pool: PoolManifest, isFeat: (name: string) => boolean): Promise<AuxiliaryPool | null> {
  const members = pool.tasks.flatMap((t) => t.members);
  if (!members.length) return null;
  const f = await readWeights(pool.foundation);
  const norm = featurizerNorm(f, isFeat);
  const w = await Promise.all(members.map((m) => readWeights(m.featurizer)));
  const tasks = members.map((m, i) => ({ name: m.id, distanceToFoundation: featurizerDistance(f, w[i], isFeat) / norm }));
  const pairs = [];
  for (let i = 0; i < members.length; i++) for (let j = i + 1; j < members.length; j++) pairs.push({ a: members[i].id, b: members[j].id, distance: featurizerDistance(w[i], w[j], isFeat) / norm });
  return { tasks, pairs };
}

export interface RunInfo {
  /** argv as typed, e.g. ['ratatouille', 'demo']. */
  readonly command: string[];
  readonly startedAt: number;
  readonly stageSeconds: Record<string, number>;
}

/** `select`: every method and diagnostic of every cell, written to results.json. */
export async function runSelect(ctx: PipelineContext, info: RunInfo, finished?: FinishedRun[]): Promise<Results> {
  ctx.progress.stageStart('select');
  const runs = finished ?? readSweeps(ctx).runs.map(({ plan, record }) => ({ plan: { ...plan, outcome: new Promise<Outcome>(() => {}) }, record }));
  const pool = existingPool(ctx);
  const selections: MethodResult[] = [];
  const diagnostics: Diagnostics[] = [];
  const datasets: DatasetInfo[] = [];
  let reads = 0;
  const targets = await openTargets(ctx);
  // Selection reads and scores every checkpoint of a cell (minutes per cell at scale): say which.
  const cells = targets.reduce((n, t) => n + t.envs.length * ctx.config.target.trials.length, 0);
  const t0 = performance.now();
  let cellsDone = 0;
  for (const { name, ds, envs } of targets) {
    datasets.push({ name, envNames: [...ds.domains], testEnvs: envs, trials: [...ctx.config.target.trials] });
    const spec = await targetSpec(ctx, ds);
    for (const testEnv of envs) {
      let last: TargetCell | null = null;
      for (const trial of ctx.config.target.trials) {
        const cell: TargetCell = { dataset: name, ds, spec, testEnv, trial, probe: '' };
        const mine = runs.filter((r) => r.plan.dataset === name && r.plan.testEnv === testEnv && r.plan.trial === trial);
        if (!mine.length) throw new InputError(ctx.layout.sweepManifest, `no runs for ${name} env ${testEnv} trial ${trial}; rerun \`ratatouille sweep\` with this config`);
        const r = await selectCell(ctx, cell, mine);
        selections.push(...r.selections);
        diagnostics.push(r.diagnostics);
        reads += r.reads;
        last = cell;
        const perCell = (performance.now() - t0) / 1000 / ++cellsDone;
        ctx.progress.note(`select: ${cellsDone}/${cells} cells (${name} env ${testEnv} trial ${trial}), ETA ${formatSeconds(perCell * (cells - cellsDone))}`);
      }
      const dagger = await daggerSelection(ctx, last!, runs.filter((r) => r.plan.dataset === name && r.plan.testEnv === testEnv));
      if (dagger) selections.push(dagger);
    }
  }
  const c = ctx.config;
  const results: Results = {
    schema: 'ratatouille-results/1',
    meta: {
      command: info.command,
      config: c as unknown as Record<string, unknown>,
      seeds: { foundation: c.foundation.seed, aux: c.aux.seed, trials: [...c.target.trials], hparamsSeeds: Array.from({ length: c.target.nHparams }, (_, h) => h) },
      machine: currentMachine(null),
      wallSeconds: (performance.now() - info.startedAt) / 1000,
      stageSeconds: info.stageSeconds,
      version: VERSION,
      createdAt: new Date().toISOString(),
    },
    datasets,
    runs: runs.map((r) => r.record),
    selections,
    diagnostics,
    auxiliary: await poolDistances(pool, featurizerFilter(await poolModel(ctx.config))),
  };
  writeFileAtomic(ctx.layout.results, JSON.stringify(results, null, 2) + '\n');
  ctx.progress.stageEnd('select', `${selections.length} results, ${reads} checkpoint reads`);
  return results;
}

/** `report`: the report files from results.json. */
export function runReport(ctx: PipelineContext, results?: Results): { results: Results; paths: ReportPaths } {
  const r = results ?? readResults(ctx.layout.results);
  return { results: r, paths: writeReport(ctx.layout.reportDir, r) };
}

/** `run`: every stage, overlapped where dependencies allow, then the report. */
export async function runAll(ctx: PipelineContext, info: RunInfo): Promise<{ results: Results; paths: ReportPaths }> {
  await preflight(ctx); // bad checkpoints, target names or envs fail before training
  const foundation = await foundationStage(ctx);
  const aux = auxStage(ctx, foundation);
  await aux.started; // auxiliary fine-tunings are queued first
  const cells = await probeStage(ctx, foundation);
  ctx.progress.stageStart('sweeps');
  const seen = new Map<string, Promise<Outcome>>();
  const soups = await soupsStage(ctx, cells, foundation, seen);
  const pool = await aux.manifest;
  const rest = await ratatouilleStage(ctx, cells, pool, seen);
  const finished = await finishSweep(ctx, foundation, [...soups, ...rest]);
  const results = await runSelect(ctx, info, finished);
  ctx.progress.stageStart('report');
  const out = runReport(ctx, results);
  ctx.progress.stageEnd('report');
  return out;
}
