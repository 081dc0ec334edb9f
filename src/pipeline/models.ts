// The pipeline's network, resolved once from `config.model`: our MNIST_CNN or ResNets, or an
// imported ONNX model split into featurizer and classifier. It gives the pool's input shape, the
// side folder datasets are opened at, model specs and (memoised) Models for any dataset shape,
// the training jobs' model choice, and which tensors are the featurizer and the linear head.
import { resolve } from 'node:path';
import { InputError } from '../errors.js';
import { buildModel, importOnnxModel, type Model, type ModelSpec } from '../graph/index.js';
import type { TrainJobInput } from '../train/job.js';
import type { PipelineConfig } from './config.js';
import { fileSha256 } from '../io/digest.js';

export type Shape3 = readonly [number, number, number];

/** Side of folder images for our ResNets unless model.imageSize says otherwise (DomainBed: 224). */
export const DEFAULT_RESNET_IMAGE_SIZE = 224;
/** The built-in pretraining and auxiliary tasks are 28×28 grayscale (MNIST_CNN's pool). */
export const BUILTIN_TASK_SHAPE: Shape3 = [1, 28, 28];

export interface PipelineModel {
  readonly arch: PipelineConfig['model']['arch'];
  /** Input shape of the foundation and the auxiliary pool (target featurizers are channel-adapted from it). */
  readonly poolShape: Shape3;
  /** Side folder datasets (targets and auxiliary) are opened at. */
  readonly imageSize: number;
  /** Whether a target's channel count may differ from the pool's (conv1 adapted); not for an imported graph. */
  readonly adaptsChannels: boolean;
  spec(shape: Shape3, numClasses: number): ModelSpec;
  /** The training job's `model` for a dataset of this shape. */
  choice(shape: Shape3): TrainJobInput['model'];
  /** The imported featurizer weights (the foundation when no checkpoint is given), or null. */
  readonly importedFeaturizer: ReadonlyMap<string, Float32Array> | null;
}

const imported = new Map<string, Promise<Model>>();

/** A Model from a spec: built, or imported (memoised per file, split and class count). */
export function loadModel(spec: ModelSpec): Promise<Model> {
  if (spec.arch !== 'onnx') return Promise.resolve(buildModel(spec));
  const key = `${resolve(spec.path)}\0${spec.split}\0${spec.numClasses}`;
  let m = imported.get(key);
  if (!m) {
    m = importOnnxModel(spec.path, { ...(spec.split ? { split: spec.split } : {}), numClasses: spec.numClasses }).then((r) => r.model);
    imported.set(key, m);
    m.catch(() => imported.delete(key));
  }
  return m;
}

/** Names of the model's featurizer tensors (parameters and buffers), by group, as the trainer transplants them. */
export function featurizerFilter(model: Model): (name: string) => boolean {
  const names = new Set(model.params.filter((p) => p.group === 'featurizer').map((p) => p.name));
  return (name) => names.has(name);
}

/** The linear head's tensors (what the shared probe trains); a deeper classifier cannot be probed. */
export function linearHead(model: Model): { weight: string; bias: string } {
  const head = model.params.filter((p) => p.group === 'classifier');
  const { numClasses } = model.spec;
  const weight = head.find((p) => p.shape.length === 2 && p.shape[0] === numClasses && p.shape[1] === model.featureDim);
  const bias = head.find((p) => p.shape.length === 1 && p.shape[0] === numClasses);
  if (head.length !== 2 || !weight || !bias) {
    const where = model.spec.arch === 'onnx' ? 'config.model.split' : 'model';
    throw new InputError(where, `the classifier must be one Linear layer with a bias (the shared linear probe trains it); found ${head.map((p) => `${p.name} [${p.shape}]`).join(', ')}`);
  }
  return { weight: weight.name, bias: bias.name };
}

function builtIn(c: PipelineConfig): PipelineModel {
  const m = c.model;
  if (m.arch === 'mnist_cnn') {
    return {
      arch: m.arch,
      poolShape: BUILTIN_TASK_SHAPE,
      imageSize: m.imageSize ?? BUILTIN_TASK_SHAPE[1],
      adaptsChannels: true,
      spec: (shape, numClasses) => ({ arch: 'mnist_cnn', width: m.width, inputShape: [...shape] as [number, number, number], numClasses }),
      // The job as before ResNets existed: MNIST runs keep their recorded jobs (and resume).
      choice: () => ({ arch: 'mnist_cnn', width: m.width }),
      importedFeaturizer: null,
    };
  }
  const arch = m.arch as 'resnet18' | 'resnet50';
  const size = m.imageSize ?? DEFAULT_RESNET_IMAGE_SIZE;
  const opts = { ...(m.baseWidth !== undefined ? { baseWidth: m.baseWidth } : {}), ...(m.batchNorm !== undefined ? { batchNorm: m.batchNorm } : {}) };
  return {
    arch,
    poolShape: [3, size, size],
    imageSize: size,
    adaptsChannels: true,
    spec: (shape, numClasses) => ({ arch, ...opts, inputShape: [...shape] as [number, number, number], numClasses }),
    // The input shape is recorded so a run made at another image size is never resumed.
    choice: (shape) => ({ arch, ...opts, inputShape: [...shape] as [number, number, number] }),
    importedFeaturizer: null,
  };
}

async function fromOnnx(c: PipelineConfig): Promise<PipelineModel> {
  const path = c.model.onnx!;
  const split = c.model.split;
  let r;
  try {
    r = await importOnnxModel(path, split ? { split } : {});
  } catch (e) {
    if (e instanceof InputError) throw new InputError('config.model.onnx', e.message);
    throw e;
  }
  // Jobs record the file's content, so replacing the file reruns them instead of resuming.
  const sha256 = fileSha256(path);
  const shape = r.model.spec.inputShape as Shape3;
  if (shape[1] !== shape[2]) throw new InputError('config.model.onnx', `${path} takes ${shape[1]}×${shape[2]} inputs; folder images are square, so the model must be too`);
  if (c.model.imageSize !== undefined && c.model.imageSize !== shape[1]) throw new InputError('config.model.imageSize', `${c.model.imageSize} but ${path} takes ${shape[1]}×${shape[2]} inputs (leave it out)`);
  linearHead(r.model);
  const isFeat = featurizerFilter(r.model);
  const resolvedSplit = (r.model.spec as Extract<ModelSpec, { arch: 'onnx' }>).split;
  return {
    arch: 'onnx',
    poolShape: shape,
    imageSize: shape[1],
    adaptsChannels: false,
    spec: (s, numClasses) => ({ arch: 'onnx', path, split: resolvedSplit, inputShape: [...s] as [number, number, number], numClasses }),
    choice: () => ({ arch: 'onnx', path, ...(split ? { split } : {}), sha256 }),
    importedFeaturizer: new Map([...r.params].filter(([k]) => isFeat(k))),
  };
}

const resolved = new WeakMap<PipelineConfig, Promise<PipelineModel>>();

/** The config's model (memoised per config object: an ONNX file is read once). */
export function pipelineModel(c: PipelineConfig): Promise<PipelineModel> {
  let p = resolved.get(c);
  if (!p) {
    p = c.model.arch === 'onnx' ? fromOnnx(c) : Promise.resolve(builtIn(c));
    resolved.set(c, p);
  }
  return p;
}

/** The pool's Model (placeholder class count unless given). */
export async function poolModel(c: PipelineConfig, numClasses = 10): Promise<Model> {
  const pm = await pipelineModel(c);
  return loadModel(pm.spec(pm.poolShape, numClasses));
}
