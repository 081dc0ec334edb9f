// Multi-member models: M independent members of one architecture in a single training graph, so
// a sweep steps M runs with one session.run. Members are channel blocks: grouped convolutions
// (groups = M), GroupNorms with M·G groups, a batched per-member Linear head and the sum of the
// members' losses. Every stacked parameter keeps the single model's state_dict name with shape
// [M·d0, ...], member m's values being its m-th contiguous block, so a member's parameters and
// gradients are zero-copy subarray views that load and save like a single model's.
import { InputError } from '../../errors.js';
import type { CompiledGraph, NetRoles, TrainingGraph, TrainingGraphOptions } from '../compile.js';
import { compileForward, compileTraining } from '../compile.js';
import type { ParamSpec } from '../ir.js';
import { Net } from '../ir.js';
import { dropout, memberCrossEntropy, memberLinear } from '../ops/index.js';
import type { Model } from './index.js';
import { mnistCnn } from './mnist-cnn.js';

/**
 * Members per training graph a sweep should use: 1, i.e. one TrainingSession per run. Measured with
 * `ratatouille bench train --members M` (2 ORT threads, 2-core shared VM at load 6-8, fixed batch
 * 64): per member-step, one M-member graph took 1.24× (M=2) and 1.02× (M=4) the time of M separate
 * sessions at width 64, 1.08× (M=4) at width 16; earlier rounds gave 0.88-1.36×. It never won
 * reliably, so separate sessions stay the default; MultiTrainingSession remains for other machines.
 */
export const RECOMMENDED_MEMBERS_PER_GRAPH = 1;

/** Training-graph output holding the M members' losses (the `loss` output is their sum). */
export const MEMBER_LOSSES = 'member_losses';

export interface MultiModel {
  readonly members: number;
  /** The single model every member is. */
  readonly model: Model;
  /** Stacked parameters in the single model's order: same names, first dim ×M. */
  readonly params: ParamSpec[];
  readonly roles: NetRoles;
  /**
   * Inputs: `x` [N, M·C, H, W] (example n of member m in channel block m), `y` [M, N], the stacked
   * parameters, dropout masks [N, M·F]. Outputs: `loss` (sum over members), `member_losses` [M],
   * grad.<name> stacked like the parameters. `batch` is each member's batch size.
   */
  trainingGraph(opts?: TrainingGraphOptions): TrainingGraph;
  /** x [N, M·C, H, W] and the stacked parameters → logits [M, N, classes]. */
  forwardGraph(opts?: { batch?: number | 'N' }): CompiledGraph;
}

export function buildMultiModel(model: Model, members: number): MultiModel {
  if (!Number.isInteger(members) || members < 1) throw new InputError('members', `${members} is not a positive integer`);
  const spec = model.spec;
  if (spec.arch !== 'mnist_cnn') throw new InputError('members', `multi-member graphs are implemented for mnist_cnn, not ${spec.arch}`);
  const [c, h, w] = spec.inputShape;
  const net = new Net();
  const x = net.input('x', ['N', members * c, h, w]);
  const y = net.input('y', [members, 'N'], 'label');
  const feature = mnistCnn(net, x, { width: spec.width ?? 64, groups: 8, members });
  const logits = memberLinear(net, 'classifier', dropout(net, 'featurizer.dropout', feature), members, spec.numClasses);
  const loss = memberCrossEntropy(net, 'loss', logits, y);
  const roles: NetRoles = { net, x, y, logits, loss, outputs: [{ name: MEMBER_LOSSES, value: `${loss}:1` }] };
  const same = net.params.length === model.params.length && net.params.every((p, i) => {
    const q = model.params[i];
    return p.name === q.name && p.shape[0] === members * q.shape[0] && p.shape.slice(1).join() === q.shape.slice(1).join();
  });
  if (!same) throw new Error(`multi-member ${spec.arch}: stacked parameters do not mirror the single model's`);
  return {
    members,
    model,
    params: net.params,
    roles,
    trainingGraph: (opts) => compileTraining(roles, opts),
    forwardGraph: (opts) => compileForward(roles, opts),
  };
}
