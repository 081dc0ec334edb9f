// The inputs a run names, opened and checked before anything trains: the model and its
// foundation, the auxiliary tasks (built-in `<source>-<kind>` tasks or `folder:` datasets, which
// must fit the pool's input), the external checkpoints (every misfit listed at once) and the
// targets. Every problem is one InputError naming the config key.
import { openDataset, type DomainDataset } from '../data/index.js';
import { InputError } from '../errors.js';
import { sameShape } from '../util/shape.js';
import type { PipelineContext } from './context.js';
import { IMAGE_HPARAMS, type HparamDistribution } from './hparams.js';
import { BUILTIN_TASK_SHAPE, pipelineModel, poolModel, type PipelineModel } from './models.js';
import { validateFeaturizerFiles } from './pool.js';
import { auxTaskName, buildTask, datasetSource, isFolderName, type TaskKind, type TaskSource } from './tasks.js';

const folders = new Map<string, Promise<DomainDataset>>();

/** A dataset the pipeline trains on: folders opened at the model's image size (scanned once per process: stages reopen targets). */
export function openPipelineDataset(name: string, pm: PipelineModel, dataDir?: string): Promise<DomainDataset> {
  if (!isFolderName(name)) return openDataset(name, { dataDir });
  const key = `${datasetSource(name)}\0${pm.imageSize}`;
  let p = folders.get(key);
  if (!p) {
    p = openDataset(name, { imageSize: pm.imageSize });
    folders.set(key, p);
    p.catch(() => folders.delete(key));
  }
  return p;
}

const fmt = (s: readonly number[]) => s.join('×');

/** Whether the pool featurizer takes aux samples of this shape: pools are never adapted, only their channel count matters to our models. */
const poolTakes = (pm: PipelineModel, shape: readonly number[]) => (pm.adaptsChannels ? shape[0] === pm.poolShape[0] : sameShape(shape, pm.poolShape));

export interface AuxTask {
  /** The pool's name for it (`fashion-rot`, `folder-PACS`). */
  readonly name: string;
  readonly ds: DomainDataset;
  /** Image sources it is built from (targets from them do not use it). */
  readonly sources: string[];
  /** The hparams its runs draw from (hparams seeds 0..runsPerTask-1, trial 0). */
  readonly distribution: HparamDistribution;
  /** What its shared probe depends on besides the foundation and the probe options. */
  readonly key: unknown;
}

/** Aux run k ≥ 1 of a built-in task draws lr ∈ {½, 1, 2}·aux.lr, wd ∈ {1e-4, 1e-6}, dropout ∈ {0, 0.05, 0.1}; k = 0 takes the config's. */
function builtinDistribution(c: PipelineContext['config']): HparamDistribution {
  return {
    name: 'aux',
    defaults: { lr: c.aux.lr, weightDecay: c.aux.weightDecay, dropout: 0 },
    choices: { lr: [c.aux.lr / 2, c.aux.lr, 2 * c.aux.lr], weightDecay: [1e-4, 1e-6], dropout: [0, 0.05, 0.1] },
  };
}

/** One aux.tasks entry as a dataset the pool fine-tunes on (all its domains). */
export async function openAuxTask(ctx: PipelineContext, entry: string): Promise<AuxTask> {
  const c = ctx.config;
  const pm = await pipelineModel(c);
  if (isFolderName(entry)) {
    let ds: DomainDataset;
    try {
      ds = await openPipelineDataset(entry, pm);
    } catch (e) {
      if (e instanceof InputError) throw new InputError('config.aux.tasks', `${entry}: ${e.message}`);
      throw e;
    }
    return { name: auxTaskName(entry), ds, sources: [datasetSource(entry)], distribution: IMAGE_HPARAMS, key: { folder: ds.name, imageSize: pm.imageSize } };
  }
  const [source, kind] = entry.split('-') as [TaskSource, TaskKind];
  const ds = buildTask({ source, kind, samples: c.aux.samples, seed: c.aux.seed }, { dataDir: c.dataDir });
  return { name: entry, ds, sources: [source], distribution: builtinDistribution(c), key: ds.params };
}

/** Everything about the model, foundation and auxiliary pool that can be checked without training. */
export async function checkPoolInputs(ctx: PipelineContext): Promise<void> {
  const c = ctx.config;
  const pm = await pipelineModel(c);
  if (!c.foundation.checkpoint && pm.arch !== 'mnist_cnn' && pm.arch !== 'onnx') {
    throw new InputError('config.foundation.checkpoint', `required with model.arch ${pm.arch}: pretraining is built in for mnist_cnn only (give safetensors with the featurizer.* tensors, e.g. ImageNet weights)`);
  }
  const names = new Map<string, string>();
  for (const entry of c.aux.tasks) {
    const name = auxTaskName(entry);
    if (names.has(name)) throw new InputError('config.aux.tasks', `${entry} and ${names.get(name)} are both named ${name} in the pool; list each task once (folders need distinct names)`);
    names.set(name, entry);
    if (!isFolderName(entry)) {
      if (!poolTakes(pm, BUILTIN_TASK_SHAPE)) throw new InputError('config.aux.tasks', `${entry} is a built-in ${fmt(BUILTIN_TASK_SHAPE)} task but the ${pm.arch} pool takes ${fmt(pm.poolShape)} images; list folder:<path> tasks instead`);
      continue;
    }
    const { ds } = await openAuxTask(ctx, entry);
    if (!poolTakes(pm, ds.shape)) throw new InputError('config.aux.tasks', `${entry} has ${fmt(ds.shape)} samples but the ${pm.arch} pool takes ${fmt(pm.poolShape)} (folder tasks need model.arch resnet18, resnet50 or an RGB onnx model)`);
  }
  const ext: { name: string; path: string; buffers?: boolean }[] = c.aux.external.map((e) => ({ name: `aux.external ${e.name}`, path: e.path }));
  if (c.foundation.checkpoint) ext.unshift({ name: 'foundation.checkpoint', path: c.foundation.checkpoint, buffers: true });
  if (ext.length) await validateFeaturizerFiles(ext, await poolModel(c));
}

/** A target's samples must fit the model: any shape for our models (channels adapted), the file's own for an imported one. */
export async function checkTarget(ctx: PipelineContext, name: string, ds: DomainDataset): Promise<void> {
  const pm = await pipelineModel(ctx.config);
  if (!pm.adaptsChannels && !sameShape(ds.shape, pm.poolShape)) {
    throw new InputError('config.target.datasets', `${name} has ${fmt(ds.shape)} samples but ${ctx.config.model.onnx} takes ${fmt(pm.poolShape)}`);
  }
}
