// The model of one run and its initial weights: the job's model choice completed from the
// dataset (input shape, class count), the seeded init, then a full checkpoint and/or a
// transplanted featurizer over it. Imported ONNX models come from src/graph/import.ts.
import { InputError } from '../errors.js';
import { buildModel, type Model, type ModelSpec } from '../graph/index.js';
import type { DomainDataset } from '../data/index.js';
import { loadFeaturizer, loadFullCheckpoint, type Params } from './checkpoint.js';
import type { TrainJob } from './job.js';

export interface RunModel {
  readonly model: Model;
  /** The persistent parameter arrays the sessions wrap and the optimizer updates. */
  readonly params: Params;
}

/** The contract expected of src/graph/import.ts (being written): the model and its initializers. */
interface OnnxImport {
  importOnnxModel(path: string, opts: { split?: string }): Promise<{ model: Model; params: Params }>;
}

async function importOnnx(path: string, split: string | undefined): Promise<{ model: Model; params: Params }> {
  const spec = '../graph/import.js'; // resolved at run time: the importer may not be built yet
  let mod: Partial<OnnxImport>;
  try {
    mod = (await import(spec)) as Partial<OnnxImport>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' || /Cannot find module|Failed to load/.test(String(e))) {
      throw new InputError(path, 'fine-tuning imported ONNX models is not supported yet');
    }
    throw e;
  }
  if (typeof mod.importOnnxModel !== 'function') throw new InputError(path, 'fine-tuning imported ONNX models is not supported yet');
  return mod.importOnnxModel(path, { split });
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Builds the model for the dataset and loads the initial weights (seeded init, then job.init). */
export async function buildRunModel(job: TrainJob, ds: DomainDataset): Promise<RunModel> {
  let model: Model;
  let params: Params;
  const m = job.model;
  if (m.arch === 'onnx') {
    ({ model, params } = await importOnnx(m.path, m.split));
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
