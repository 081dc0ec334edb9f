// One of our models with a weights map as a Predictor, without exporting: the forward graph
// (buildModel + ForwardSession) reads the caller's Float32Arrays at every run, so a pipeline
// can overwrite them in place (an averaged soup, an interpolation point) and evaluate again
// on the same session.
import { InputError } from '../errors.js';
import { buildModel, ForwardSession, type Model, type ModelSpec, type SessionOptions } from '../graph/index.js';
import type { Predictor } from './predictor.js';

export interface WeightsPredictor extends Predictor {
  readonly model: Model;
  /** The caller's arrays, shared with the session (not copied). */
  readonly weights: ReadonlyMap<string, Float32Array>;
}

export async function weightsPredictor(
  model: Model | ModelSpec,
  weights: ReadonlyMap<string, Float32Array>,
  o: SessionOptions = {},
): Promise<WeightsPredictor> {
  const m = 'arch' in model ? buildModel(model) : model;
  const forward = await ForwardSession.create(m, weights, o);
  const [c, h, w] = m.spec.inputShape;
  return {
    model: m,
    weights,
    inputShape: [c, h, w],
    numClasses: m.spec.numClasses,
    logits(x, shape) {
      if (shape[1] !== c || shape[2] !== h || shape[3] !== w) {
        throw new InputError('weights', `${m.spec.arch} takes [N, ${c}, ${h}, ${w}], got a batch [${shape.join(', ')}]`);
      }
      return forward.logits(x);
    },
    release: () => forward.release(),
  };
}
