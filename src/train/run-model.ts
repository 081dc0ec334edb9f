// The model of one run and its initial weights: the job's model choice completed from the
// dataset (input shape, class count), the seeded init (or an imported ONNX model's weights),
// then a full checkpoint and/or a transplanted featurizer over it.
import { InputError } from '../errors.js';
import { fileSha256 } from '../io/digest.js';
import { sameShape } from '../util/shape.js';
import { buildModel, type Model, type ModelSpec } from '../graph/index.js';
import { importOnnxModel } from '../graph/import.js';
import type { DomainDataset } from '../data/index.js';
import { loadFeaturizer, loadFullCheckpoint, type Params } from './checkpoint.js';
import type { TrainJob } from './job.js';

export interface RunModel {
  readonly model: Model;
  /** The persistent parameter arrays the sessions wrap and the optimizer updates. */
  readonly params: Params;
}

/** Builds the model for the dataset and loads the initial weights (seeded init, then job.init). */
export async function buildRunModel(job: TrainJob, ds: DomainDataset): Promise<RunModel> {
  let model: Model;
  let params: Params;
  const m = job.model;
  if (m.arch === 'onnx') {
    if (m.sha256 && fileSha256(m.path) !== m.sha256) {
      throw new InputError(m.path, `content changed since the job was made (sha256 ${fileSha256(m.path).slice(0, 12)}…, the job expects ${m.sha256.slice(0, 12)}…)`);
    }
    // A head of another class count is replaced by a fresh Linear; initParams copies the imported
    // weights and draws that head from the run seed.
    ({ model } = await importOnnxModel(m.path, { split: m.split, numClasses: ds.classes.length }));
    params = model.initParams(job.seeds.runSeed);
  } else {
    if (m.inputShape && !sameShape(m.inputShape, ds.shape)) {
      throw new InputError('job.model.inputShape', `[${m.inputShape}] does not match dataset ${ds.name}'s [${ds.shape}]`);
    }
    if (m.numClasses !== undefined && m.numClasses !== ds.classes.length) {
      throw new InputError('job.model.numClasses', `${m.numClasses} does not match dataset ${ds.name}'s ${ds.classes.length} classes`);
    }
    const spec = { ...m, inputShape: [...ds.shape], numClasses: ds.classes.length } as ModelSpec;
    model = buildModel(spec);
    params = model.initParams(job.seeds.runSeed);
  }
  if (!sameShape(model.spec.inputShape, ds.shape)) {
    throw new InputError(job.data.dataset, `samples are [${ds.shape}] but the model takes [${model.spec.inputShape}]`);
  }
  if (model.spec.numClasses !== ds.classes.length) {
    throw new InputError(job.data.dataset, `${ds.classes.length} classes but the model has ${model.spec.numClasses} outputs`);
  }
  if (job.init.checkpoint) await loadFullCheckpoint(job.init.checkpoint, model, params);
  if (job.init.featurizer) await loadFeaturizer(job.init.featurizer, model, params);
  return { model, params };
}
