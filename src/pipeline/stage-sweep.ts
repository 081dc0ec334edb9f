// Stage 2: per (target dataset, test env, trial) the shared linear probe on frozen foundation
// features, then the runs: Soups (every h from the foundation), Ratatouille (h from slot h mod (F+1)
// of the allowed auxiliary tasks; slot 0 is the Soups run of the same h, run once) and fusing (the
// foundation and one member per task interpolated, then fine-tuned like a Ratatouille run).
import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { makeSplits, runSeed, splitIndices, trainingDomains, type DomainDataset } from '../data/index.js';
import { InputError } from '../errors.js';
import type { ModelSpec } from '../graph/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { averageCheckpoints } from '../merge/average.js';
import type { TrainJobInput } from '../train/job.js';
import { seedHash } from '../util/seed.js';
import { allowedTasks, assignInit, planFusing } from './assign.js';
import type { PipelineContext } from './context.js';
import { canonicalJson, type Outcome } from './executor.js';
import { distributionFor, HPARAM_DISTRIBUTIONS, sampleHparams } from './hparams.js';
import { checkTarget, openPipelineDataset } from './inputs.js';
import { featurizerFilter, loadModel, pipelineModel, type PipelineModel } from './models.js';
import type { SweepName } from './layout.js';
import { adaptChannels, poolTasks, type PoolManifest } from './pool.js';
import { computeFeatures, defaultHead, reusableProbe, trainProbe, withHead, writeProbeRecord } from './probe.js';
import { datasetSource } from './tasks.js';
import { addressByContent, readWeights, writeWeights, type Weights } from './weights.js';

/** One run of a sweep as the later stages need it. */
export interface PlannedRun {
  readonly id: string;
  readonly dataset: string;
  readonly testEnv: number;
  readonly trial: number;
  readonly sweep: SweepName;
  readonly h: number;
  /** 0 = foundation, k ≥ 1 = auxiliary slot, null = fused. */
  readonly initSlot: number | null;
  readonly initName: string;
  /** The featurizer the run started from (for its distance to init). */
  readonly initFeaturizer: string;
  readonly hparams: { lr: number; weightDecay: number; dropout: number; batchPerDomain: number; steps: number; headOnlySteps: number };
  readonly outDir: string;
  readonly outcome: Promise<Outcome>;
}

export interface TargetCell {
  readonly dataset: string;
  readonly ds: DomainDataset;
  readonly spec: ModelSpec;
  readonly testEnv: number;
  readonly trial: number;
  readonly probe: string;
}

/** Opens the targets and expands test envs ('all' = every domain); bad names or envs fail here. */
export async function openTargets(ctx: PipelineContext): Promise<{ name: string; ds: DomainDataset; envs: number[] }[]> {
  const out = [];
  const pm = await pipelineModel(ctx.config);
  for (const name of ctx.config.target.datasets) {
    const ds = await openPipelineDataset(name, pm, ctx.config.dataDir);
    await checkTarget(ctx, name, ds);
    if (ds.domains.length < 2) throw new InputError(`config.target.datasets`, `${name} has a single domain; a target needs test domains`);
    const envs = ctx.config.target.testEnvs === 'all' ? ds.domains.map((_, i) => i) : ctx.config.target.testEnvs;
    for (const e of envs) if (e >= ds.domains.length) throw new InputError('config.target.testEnvs', `${e} is not a domain of ${name} (0..${ds.domains.length - 1})`);
    out.push({ name, ds, envs: [...envs] });
  }
  return out;
}

/** The target model spec (the dataset's shape and classes). */
export async function targetSpec(ctx: PipelineContext, ds: DomainDataset): Promise<ModelSpec> {
  return (await pipelineModel(ctx.config)).spec(ds.shape, ds.classes.length);
}

const adapted = new Map<string, Promise<string>>();

/**
 * A pool featurizer as the target model takes it: itself for targets with the pool's channel
 * count, else a channel-adapted copy (one per source file, memoised; named after the source's
 * content hash).
 */
async function featurizerFor(ctx: PipelineContext, spec: ModelSpec, src: string, dataset: string): Promise<string> {
  if (spec.inputShape[0] === (await pipelineModel(ctx.config)).poolShape[0]) return src;
  const dest = join(ctx.layout.root, 'targets', dataset.replace(/[^A-Za-z0-9_.-]/g, '_'), 'featurizers', `${basename(src, '.safetensors')}-${spec.inputShape[0]}ch.safetensors`);
  let p = adapted.get(dest);
  if (!p) {
    p = (async () => {
      const model = await loadModel(spec);
      writeWeights(dest, model, adaptChannels(await readWeights(src), model, spec.inputShape[0]), { adaptedFrom: basename(src) }, featurizerFilter(model));
      return addressByContent(dest);
    })();
    adapted.set(dest, p);
    p.catch(() => adapted.delete(dest));
  }
  return p;
}

/** The shared probe of one (dataset, env, trial): foundation featurizer + best head, written once. */
export async function targetProbe(ctx: PipelineContext, cell: Omit<TargetCell, 'probe'>, features: () => Promise<{ features: Float32Array; dim: number }>, foundationFile: string, foundation: Weights): Promise<string> {
  const dir = ctx.layout.targetProbe(cell.dataset, cell.testEnv, cell.trial);
  const key = canonicalJson({ probe: ctx.config.target.probe, foundation: foundationFile, dataset: cell.dataset, testEnv: cell.testEnv, trial: cell.trial });
  const reuse = reusableProbe(dir, key);
  if (reuse) return reuse;
  const { ds, spec } = cell;
  const model = await loadModel(spec);
  const splits = makeSplits(ds, cell.trial);
  const train = trainingDomains(ds, [cell.testEnv]);
  const seed = seedHash('probe', ds.domainbedName, cell.testEnv, cell.trial);
  const f = await features();
  const r = trainProbe(
    { ...f, labels: ds.labels, numClasses: ds.classes.length, trainPools: train.map((d) => splitIndices(ds, splits, d, 'in')), valSets: train.map((d) => splitIndices(ds, splits, d, 'out')) },
    { ...ctx.config.target.probe, seed, init: defaultHead(model, seed) },
  );
  writeWeights(join(dir, 'probe.safetensors'), model, withHead(model, foundation, r), { probe: JSON.stringify({ step: r.step, val: r.val }) });
  const file = addressByContent(join(dir, 'probe.safetensors'));
  writeProbeRecord(dir, { key, file, dataset: cell.dataset, testEnv: cell.testEnv, trial: cell.trial, step: r.step, val: r.val, history: r.history });
  return file;
}

/** Probes of every target cell (features of each dataset computed at most once). */
export async function probeStage(ctx: PipelineContext, foundationFile: string): Promise<TargetCell[]> {
  ctx.progress.stageStart('probes');
  const cells: TargetCell[] = [];
  for (const { name, ds, envs } of await openTargets(ctx)) {
    const spec = await targetSpec(ctx, ds);
    const foundationFor = await featurizerFor(ctx, spec, foundationFile, name);
    const foundation = await readWeights(foundationFor);
    let cached: Promise<{ features: Float32Array; dim: number }> | null = null;
    const features = () => (cached ??= computeFeatures(spec, foundation, ds, ctx.threads));
    for (const testEnv of envs) {
      for (const trial of ctx.config.target.trials) {
        const base = { dataset: name, ds, spec, testEnv, trial };
        cells.push({ ...base, probe: await targetProbe(ctx, base, features, foundationFor, foundation) });
      }
    }
  }
  ctx.progress.stageEnd('probes', `${cells.length} probes`);
  return cells;
}

function hparamsFor(ctx: PipelineContext, cell: TargetCell, h: number) {
  const t = ctx.config.target;
  const dist = HPARAM_DISTRIBUTIONS[t.hparams === 'auto' ? distributionFor(cell.ds) : t.hparams];
  return sampleHparams(dist, h, cell.trial);
}

function submitRun(ctx: PipelineContext, pm: PipelineModel, cell: TargetCell, sweep: SweepName, h: number, init: { slot: number | null; name: string; featurizer: string }, seen: Map<string, Promise<Outcome>>): PlannedRun {
  const t = ctx.config.target;
  const head = init.slot === 0 ? 0 : t.headOnlySteps;
  const hp = { ...hparamsFor(ctx, cell, h), batchPerDomain: t.batchPerDomain, steps: t.steps + head, headOnlySteps: head };
  const outDir = ctx.layout.targetRun(cell.dataset, cell.testEnv, cell.trial, h, init.slot === null ? 'fusing' : init.name.replace('/', '-'));
  const job: TrainJobInput = {
    model: pm.choice(cell.ds.shape),
    init: { checkpoint: cell.probe, ...(init.slot === 0 ? {} : { featurizer: init.featurizer }) },
    // Folders go to the trainer opened (at the model's image size), under their resolved name.
    data: { dataset: cell.ds.kind === 'folder' ? cell.ds.name : cell.dataset, trialSeed: cell.trial, testEnvs: [cell.testEnv] },
    hparams: hp,
    seeds: { runSeed: runSeed(cell.ds.domainbedName, 'ERM', [cell.testEnv], h, cell.trial), hparamsSeed: h },
    evalEvery: t.evalEvery,
    evalSplits: 'selection',
    outDir,
  };
  let outcome = seen.get(outDir);
  if (!outcome) seen.set(outDir, (outcome = ctx.pool.submit(job, `${cell.dataset} e${cell.testEnv} t${cell.trial} ${sweep} h${h}`, cell.ds.kind === 'folder' ? cell.ds : undefined)));
  const id = `${cell.dataset}/env${cell.testEnv}/trial${cell.trial}/${sweep}/h${h}`;
  return { id, dataset: cell.dataset, testEnv: cell.testEnv, trial: cell.trial, sweep, h, initSlot: init.slot, initName: init.name, initFeaturizer: init.featurizer, hparams: hp, outDir, outcome };
}

/** Queues the Soups sweep of every cell (needs only the foundation and the probes). */
export async function soupsStage(ctx: PipelineContext, cells: readonly TargetCell[], foundationFile: string, seen: Map<string, Promise<Outcome>>): Promise<PlannedRun[]> {
  const runs: PlannedRun[] = [];
  const pm = await pipelineModel(ctx.config);
  for (const cell of cells) {
    const f = await featurizerFor(ctx, cell.spec, foundationFile, cell.dataset);
    for (let h = 0; h < ctx.config.target.nHparams; h++) runs.push(submitRun(ctx, pm, cell, 'soups', h, { slot: 0, name: 'foundation', featurizer: f }, seen));
  }
  return runs;
}

/** Queues the Ratatouille and fusing sweeps of every cell (needs the auxiliary pool). */
export async function ratatouilleStage(ctx: PipelineContext, cells: readonly TargetCell[], pool: PoolManifest, seen: Map<string, Promise<Outcome>>): Promise<PlannedRun[]> {
  const runs: PlannedRun[] = [];
  const pm = await pipelineModel(ctx.config);
  const files = new Map(pool.tasks.flatMap((t) => t.members.map((m) => [m.id, m.featurizer] as const)));
  for (const cell of cells) {
    const tasks = allowedTasks(poolTasks(pool), datasetSource(cell.dataset));
    if (tasks.length === 0) ctx.progress.note(`${cell.dataset}: no auxiliary task is usable (all built from its images); Ratatouille = Soups, no fusing`);
    const foundation = await featurizerFor(ctx, cell.spec, pool.foundation, cell.dataset);
    for (let h = 0; h < ctx.config.target.nHparams; h++) {
      const a = assignInit(tasks, h);
      const init = a.kind === 'foundation' ? { slot: 0, name: 'foundation', featurizer: foundation } : { slot: a.slot, name: a.member, featurizer: await featurizerFor(ctx, cell.spec, files.get(a.member)!, cell.dataset) };
      runs.push(submitRun(ctx, pm, cell, 'ratatouille', h, init, seen));
    }
    for (let h = 0; tasks.length > 0 && h < ctx.config.target.fusing.runs; h++) {
      const seed = runSeed(cell.ds.domainbedName, 'ERM', [cell.testEnv], h, cell.trial);
      const plan = planFusing(tasks, h, seed, ctx.config.target.fusing.range);
      const stem = ctx.layout.fusedFeaturizer(cell.dataset, cell.testEnv, cell.trial, h);
      mkdirSync(dirname(stem), { recursive: true });
      const inputs: string[] = [];
      for (const m of plan.featurizers) inputs.push(await featurizerFor(ctx, cell.spec, m === 'foundation' ? pool.foundation : files.get(m)!, cell.dataset));
      await averageCheckpoints({ inputs, output: stem, weights: plan.coefficients });
      const fused = addressByContent(stem);
      writeFileAtomic(fused.replace(/\.safetensors$/, '.json'), JSON.stringify(plan, null, 2) + '\n');
      runs.push(submitRun(ctx, pm, cell, 'fusing', h, { slot: null, name: 'fused', featurizer: fused }, seen));
    }
  }
  return runs;
}
