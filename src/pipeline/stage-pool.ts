// Stages 0–1: the foundation (pretrained on a task disjoint from every target's images, or given
// as a checkpoint or by an imported model's weights) and the auxiliary pool (per task, built-in or
// folder: a linear probe on frozen foundation features, then full fine-tuning on all its domains,
// keeping the last featurizer), plus external members.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeSplits, runSeed, splitIndices, trainingDomains } from '../data/index.js';
import { InputError } from '../errors.js';
import { OUTPUTS } from '../train/checkpoint.js';
import type { TrainJobInput } from '../train/job.js';
import { seedHash } from '../util/seed.js';
import { foundationSource, type PipelineContext } from './context.js';
import { canonicalJson, type Outcome } from './executor.js';
import { sampleHparams } from './hparams.js';
import { openAuxTask, type AuxTask } from './inputs.js';
import { featurizerFilter, loadModel, pipelineModel, poolModel } from './models.js';
import { readPoolManifest, writePoolManifest, type PoolManifest, type PoolManifestTask } from './pool.js';
import { computeFeatures, defaultHead, reusableProbe, trainProbe, withHead, writeProbeRecord } from './probe.js';
import { auxTaskName, buildTask, taskName, type TaskSpec } from './tasks.js';
import { addressByContent, extractFeaturizer, readWeights, writeWeights } from './weights.js';

function ensure(outcome: Outcome, what: string): string {
  if (outcome.status === 'done') return outcome.result.outDir;
  throw new InputError(what, outcome.status === 'failed' ? `training failed: ${outcome.reason}` : `training diverged: ${outcome.result.message ?? ''}`);
}

/** Stage 0: the foundation featurizer file: foundation.checkpoint, else an imported model's weights, else pretrained here (MNIST_CNN). */
export async function foundationStage(ctx: PipelineContext): Promise<string> {
  const { config: c, layout } = ctx;
  const pm = await pipelineModel(c);
  const model = await poolModel(c);
  const isFeat = featurizerFilter(model);
  const dest = layout.foundationFeaturizer;
  ctx.progress.stageStart('foundation');
  if (c.foundation.checkpoint) {
    await extractFeaturizer(c.foundation.checkpoint, dest, model, { source: c.foundation.checkpoint }, isFeat);
    ctx.progress.stageEnd('foundation', `from ${c.foundation.checkpoint}`);
    return addressByContent(dest);
  }
  if (pm.importedFeaturizer) {
    writeWeights(dest, model, pm.importedFeaturizer, { source: c.model.onnx! }, isFeat);
    ctx.progress.stageEnd('foundation', `the featurizer of ${c.model.onnx}`);
    return addressByContent(dest);
  }
  if (pm.arch !== 'mnist_cnn') throw new InputError('config.foundation.checkpoint', `required with model.arch ${pm.arch}: pretraining is built in for mnist_cnn only`);
  const spec: TaskSpec = { source: foundationSource(c), kind: 'class', samples: c.foundation.samples, seed: c.foundation.seed };
  const ds = buildTask(spec, { dataDir: c.dataDir });
  const job: TrainJobInput = {
    model: pm.choice(ds.shape),
    data: { dataset: ds.name, holdout: { testSize: c.foundation.testSize, seed: c.foundation.seed } },
    hparams: { lr: c.foundation.lr, weightDecay: c.foundation.weightDecay, batchPerDomain: c.foundation.batch, steps: c.foundation.steps },
    seeds: { runSeed: seedHash('foundation', taskName(spec), c.foundation.seed) },
    evalEvery: c.foundation.steps, // one evaluation, at the end: the foundation is the last step
    evalSplits: 'selection',
    outDir: layout.foundationRun,
  };
  const outcome = await ctx.pool.submit(job, 'foundation', ds);
  const dir = ensure(outcome, 'foundation');
  await extractFeaturizer(join(dir, OUTPUTS.last), dest, model, { task: taskName(spec) }, isFeat);
  const file = addressByContent(dest);
  const r = outcome.status === 'done' ? outcome.result : null;
  ctx.progress.stageEnd('foundation', `${taskName(spec)}: held-out accuracy ${((r?.last?.holdout ?? NaN) * 100).toFixed(1)}%${outcome.status === 'done' && outcome.resumed ? ', resumed' : ''}`);
  return file;
}

/** The shared probe of an auxiliary task (all domains, trial-0 split): a full checkpoint, written once. */
async function auxProbe(ctx: PipelineContext, task: AuxTask, foundationFile: string, foundation: Map<string, Float32Array>): Promise<string> {
  const { config: c, layout } = ctx;
  const { ds } = task;
  const dir = layout.auxProbe(task.name);
  const key = canonicalJson({ probe: c.aux.probe, foundation: foundationFile, task: task.key });
  const reuse = reusableProbe(dir, key);
  if (reuse) return reuse;
  const pm = await pipelineModel(c);
  const spec = pm.spec(ds.shape, ds.classes.length);
  const model = await loadModel(spec);
  const { features, dim } = await computeFeatures(spec, foundation, ds, ctx.threads);
  const splits = makeSplits(ds, 0);
  const domains = trainingDomains(ds, []);
  const seed = seedHash('probe', ds.domainbedName);
  const r = trainProbe(
    { features, dim, labels: ds.labels, numClasses: ds.classes.length, trainPools: domains.map((d) => splitIndices(ds, splits, d, 'in')), valSets: domains.map((d) => splitIndices(ds, splits, d, 'out')) },
    { ...c.aux.probe, seed, init: defaultHead(model, seed) },
  );
  writeWeights(join(dir, 'probe.safetensors'), model, withHead(model, foundation, r), { probe: JSON.stringify({ step: r.step, val: r.val }) });
  const file = addressByContent(join(dir, 'probe.safetensors'));
  writeProbeRecord(dir, { key, file, task: ds.domainbedName, step: r.step, val: r.val, history: r.history });
  return file;
}

/**
 * Stage 1: probes (main thread) and fine-tunings (workers) of every auxiliary task; resolves to
 * the pool manifest once every fine-tuning finished. `started` resolves as soon as all are queued,
 * so the caller can queue target runs behind them.
 */
export function auxStage(ctx: PipelineContext, foundationFile: string): { started: Promise<void>; manifest: Promise<PoolManifest> } {
  const { config: c, layout } = ctx;
  let markStarted!: () => void;
  const started = new Promise<void>((r) => (markStarted = r));
  const manifest = (async () => {
    ctx.progress.stageStart('aux', `${c.aux.tasks.length} tasks × ${c.aux.runsPerTask} runs${c.aux.external.length ? ` + ${c.aux.external.length} external` : ''}`);
    const foundation = await readWeights(foundationFile);
    const pm = await pipelineModel(c);
    const model = await poolModel(c);
    const isFeat = featurizerFilter(model);
    const pending: { task: string; sources: string[]; k: number; outcome: Promise<Outcome> }[] = [];
    try {
      for (const entry of c.aux.tasks) {
        const task = await openAuxTask(ctx, entry);
        const { ds, name } = task;
        const probe = await auxProbe(ctx, task, foundationFile, foundation);
        const perDomain = Math.max(1, Math.round(c.aux.batch / ds.domains.length));
        for (let k = 0; k < c.aux.runsPerTask; k++) {
          const h = sampleHparams(task.distribution, k, 0);
          const job: TrainJobInput = {
            model: pm.choice(ds.shape),
            init: { checkpoint: probe },
            data: { dataset: ds.name, testEnvs: [] },
            hparams: { ...h, batchPerDomain: perDomain, steps: c.aux.steps },
            seeds: { runSeed: runSeed(ds.domainbedName, 'ERM', [], k, 0), hparamsSeed: k },
            evalEvery: c.aux.evalEvery,
            evalSplits: 'selection',
            outDir: layout.auxRun(name, k),
          };
          pending.push({ task: name, sources: task.sources, k, outcome: ctx.pool.submit(job, `aux ${name}/h${k}`, ds) });
        }
      }
    } finally {
      markStarted();
    }
    const tasks: PoolManifestTask[] = [];
    for (const name of c.aux.tasks.map(auxTaskName)) {
      const mine = pending.filter((p) => p.task === name);
      const members = [];
      for (const p of mine) {
        const o = await p.outcome;
        if (o.status !== 'done') {
          ctx.progress.note(`aux ${name}/h${p.k} ${o.status}: ${o.status === 'failed' ? o.reason : o.result.message}; left out of the pool`);
          continue;
        }
        await extractFeaturizer(join(o.result.outDir, OUTPUTS.last), layout.auxFeaturizer(name, p.k), model, { task: name, run: String(p.k) }, isFeat);
        const file = addressByContent(layout.auxFeaturizer(name, p.k));
        members.push({ id: `${name}/h${p.k}`, featurizer: file });
      }
      tasks.push({ name, sources: mine[0]?.sources ?? [name.split('-')[0]], external: false, members });
    }
    for (const e of c.aux.external) {
      const stem = join(layout.auxTaskDir(`external-${e.name}`), 'featurizer.safetensors');
      await extractFeaturizer(e.path, stem, model, { external: e.path }, isFeat);
      const file = addressByContent(stem);
      tasks.push({ name: `external-${e.name}`, sources: e.sources, external: true, members: [{ id: `external-${e.name}`, featurizer: file }] });
    }
    const m: PoolManifest = { format: 'ratatouille-pool/1', foundation: foundationFile, tasks };
    writePoolManifest(layout.poolManifest, m);
    ctx.progress.stageEnd('aux', `${tasks.reduce((a, t) => a + t.members.length, 0)} featurizers in the pool`);
    return m;
  })();
  manifest.catch(() => markStarted());
  return { started, manifest };
}

/** The pool of an earlier `aux` stage in this run directory. */
export function existingPool(ctx: PipelineContext): PoolManifest {
  const m = readPoolManifest(ctx.layout.poolManifest);
  for (const t of m.tasks) for (const x of t.members) if (!existsSync(x.featurizer)) throw new InputError(x.featurizer, 'pool member missing; rerun `ratatouille aux`');
  return m;
}

