// A model = featurizer + feature dropout + linear classifier + mean cross-entropy, as DomainBed's
// ERM (network = Sequential(featurizer, classifier)). Parameter names are state_dict keys:
// - MNIST_CNN: `featurizer.conv{1..4}.*`, `featurizer.bn{0..3}.*` (GroupNorms), `classifier.*`:
//   exactly DomainBed ERM's own keys for its featurizer/classifier attributes.
// - ResNet: `featurizer.<torchvision key>` (e.g. featurizer.layer1.0.conv1.weight, BN buffers
//   running_mean/running_var); DomainBed nests torchvision as `featurizer.network.<key>`, and a
//   torchvision checkpoint maps by prefixing `featurizer.` and dropping `fc.*`. BatchNorm's int64
//   num_batches_tracked is not modelled; torch's load_state_dict accepts its absence.
import { InputError } from '../../errors.js';
import type { CompiledGraph, NetRoles, TrainingGraph, TrainingGraphOptions } from '../compile.js';
import { compileForward, compileTraining } from '../compile.js';
import { initParams } from '../init.js';
import type { ParamSpec } from '../ir.js';
import { Net } from '../ir.js';
import { crossEntropy, dropout, linear } from '../ops/index.js';
import { mnistCnn } from './mnist-cnn.js';
import type { MultiModel } from './multi.js';
import { buildMultiModel } from './multi.js';
import { resnet } from './resnet.js';

export type ModelSpec =
  | {
      arch: 'mnist_cnn';
      /** [C, H, W]; DomainBed: [1|2, 28, 28]. */
      inputShape: readonly [number, number, number];
      numClasses: number;
      /** First block's channels (default 64, DomainBed). */
      width?: number;
    }
  | {
      arch: 'resnet18' | 'resnet50';
      inputShape: readonly [number, number, number];
      numClasses: number;
      /** Stem width (default 64, torchvision). */
      baseWidth?: number;
      /** Default 'frozen' (DomainBed: eval-mode BatchNorm, trainable γ/β). */
      batchNorm?: 'frozen' | 'train';
    }
  | {
      /** An imported ONNX inference model (import.ts; buildModel cannot make it from the spec alone). */
      arch: 'onnx';
      path: string;
      /** The tensor after which the classifier starts. */
      split: string;
      inputShape: readonly [number, number, number];
      numClasses: number;
    };

export interface Model {
  readonly spec: ModelSpec;
  /** Parameters and buffers in state_dict order. */
  readonly params: ParamSpec[];
  readonly featureDim: number;
  readonly roles: NetRoles;
  /** Fresh PyTorch-default-style weights from a seed (deterministic). */
  initParams(seed: number): Map<string, Float32Array>;
  trainingGraph(opts?: TrainingGraphOptions): TrainingGraph;
  forwardGraph(opts?: { batch?: number | 'N' }): CompiledGraph;
  /** A standalone model.onnx: x → logits with `weights` as initializers. */
  exportGraph(weights: ReadonlyMap<string, Float32Array>, opts?: { batch?: number | 'N' }): CompiledGraph;
  /** M members of this model in one graph (multi.ts); absent where not implemented. */
  multi?(members: number): MultiModel;
}

export function buildModel(spec: ModelSpec): Model {
  if (spec.arch === 'onnx') throw new InputError('model spec', `arch 'onnx' (${spec.path}): load it with importOnnxModel`);
  const [c, h, w] = spec.inputShape;
  const widths = spec.arch === 'mnist_cnn' ? { width: spec.width ?? 64 } : { baseWidth: spec.baseWidth ?? 64 };
  for (const [k, v] of Object.entries({ channels: c, height: h, 'image width': w, numClasses: spec.numClasses, ...widths })) {
    if (!Number.isInteger(v) || v < 1) throw new InputError('model spec', `${k} must be a positive integer, got ${v}`);
  }
  const net = new Net();
  const x = net.input('x', ['N', c, h, w]);
  const y = net.input('y', ['N'], 'label');
  let feature: string;
  if (spec.arch === 'mnist_cnn') {
    feature = mnistCnn(net, x, { width: spec.width ?? 64, groups: 8 });
  } else if (spec.arch === 'resnet18' || spec.arch === 'resnet50') {
    const depth = spec.arch === 'resnet18' ? 18 : 50;
    feature = resnet(net, x, { depth, baseWidth: spec.baseWidth ?? 64, batchNorm: spec.batchNorm ?? 'frozen' });
  } else {
    throw new InputError('model spec', `unknown arch '${(spec as { arch: string }).arch}' (mnist_cnn, resnet18, resnet50)`);
  }
  const featureDim = net.shape(feature)[1] as number;
  const logits = linear(net, 'classifier', dropout(net, 'featurizer.dropout', feature), spec.numClasses);
  const loss = crossEntropy(net, 'loss', logits, y);
  return assembleModel(spec, { net, x, y, logits, loss }, featureDim, buildMultiModel);
}

/**
 * The Model over a finished Net (shared with import.ts). `initParams(seed)` draws fresh values
 * per the ParamSpecs (imported weights are copied); `multi` builds M-member graphs where supported.
 */
export function assembleModel(
  spec: ModelSpec,
  roles: NetRoles,
  featureDim: number,
  multi?: (model: Model, members: number) => MultiModel,
): Model {
  const { net } = roles;
  const model: Model = {
    spec,
    params: net.params,
    featureDim,
    roles,
    initParams: (seed) => initParams(net.params, seed),
    trainingGraph: (opts) => compileTraining(roles, opts),
    forwardGraph: (opts) => compileForward(roles, opts),
    exportGraph: (weights, opts) => compileForward(roles, { ...opts, weights }),
    ...(multi && spec.arch === 'mnist_cnn' ? { multi: (members: number) => multi(model, members) } : {}),
  };
  return model;
}
