// A training job as plain JSON: everything one run depends on (model, initial weights, data and
// protocol, hyperparameters, seeds, evaluation, where to write), validated by a zod schema whose
// failures become one-line errors naming the key. Jobs cross worker and process boundaries as-is.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { zodIssuesError } from '../util/zod-errors.js';
import { CONSTANT_LR, SCHEDULES, type LrSchedule } from './schedule.js';

/**
 * Single-domain data: share of the non-test samples held back to pick the checkpoint. 0 trains on
 * all of them and keeps the last checkpoint, which scored higher on the dev set in both rounds of
 * README's `--data mnist` tables (the weight average already does what checkpoint picking did).
 */
export const DEFAULT_VAL_FRACTION = 0;

const posInt = z.number().int().positive();
const seed = z.number().int().min(0).max(0xffffffff);
const shape3 = z.tuple([posInt, posInt, posInt]);

/** inputShape / numClasses default to the dataset's; when given they must match it. */
const modelSchema = z.discriminatedUnion('arch', [
  z.strictObject({
    arch: z.literal('mnist_cnn'),
    width: posInt.optional(),
    inputShape: shape3.optional(),
    numClasses: posInt.optional(),
  }),
  z.strictObject({
    arch: z.enum(['resnet18', 'resnet50']),
    baseWidth: posInt.optional(),
    batchNorm: z.enum(['frozen', 'train']).optional(),
    inputShape: shape3.optional(),
    numClasses: posInt.optional(),
  }),
  // An imported ONNX inference model (src/graph/import.ts), split into featurizer/classifier at `split`.
  z.strictObject({
    arch: z.literal('onnx'),
    path: z.string().min(1),
    split: z.string().min(1).optional(),
    /** The file's content as the job was made (the pipeline sets it): a changed file is refused, and a job naming other content is another job. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits').optional(),
  }),
]);

const jobSchema = z
  .strictObject({
    version: z.literal(1).default(1),
    model: modelSchema,
    init: z
      .strictObject({
        /** A full checkpoint (every parameter and buffer of the model, strictly) over the seeded init. */
        checkpoint: z.string().min(1).optional(),
        /** Its `featurizer.*` parameters (not buffers) replace the init's; other tensors are ignored. */
        featurizer: z.string().min(1).optional(),
      })
      .default({}),
    data: z.strictObject({
      /** An openDataset name (mnist, rotated_mnist, ..., folder:<path>). */
      dataset: z.string().min(1),
      dataSeed: seed.default(0),
      /** DomainBed trial_seed: the per-domain 80/20 in/out split. */
      trialSeed: seed.default(0),
      /** Held-out test domains (DomainBed test_envs); [] trains on every domain (auxiliary runs). */
      testEnvs: z.array(z.number().int().min(0)).default([]),
      /**
       * Single-domain datasets: a fixed test set of `testSize` samples (RandomState(seed).permutation).
       * `devSize` is for tuning: the test samples are then left out of everything and `devSize` of
       * the others, drawn the same way, are scored in their place.
       */
      holdout: z
        .strictObject({ testSize: posInt, seed: seed.default(0), valFraction: z.number().min(0).max(0.5).default(DEFAULT_VAL_FRACTION), devSize: posInt.optional() })
        .optional(),
      /**
       * Standardise inputs by the training pools' per-channel mean/std (src/train/standardize.ts);
       * the exported model.onnx does it itself. Absent (the pipeline's jobs) means raw [0, 1] pixels.
       */
      standardize: z.boolean().optional(),
      /** Tensor datasets: random translation of training images by up to this many pixels (src/data/loader.ts); absent means none. */
      shift: z.number().int().min(1).optional(),
    }),
    hparams: z.strictObject({
      lr: z.number().positive().finite(),
      weightDecay: z.number().min(0).finite().default(0),
      /** Dropout on the feature vector (DomainBed's resnet_dropout). */
      dropout: z.number().min(0).lt(1).default(0),
      /** Examples per training domain per step (the batch concatenates one draw per domain). */
      batchPerDomain: posInt,
      /** Total updates, head-only ones included (MR's N_STEPS: updates 0..steps-1). */
      steps: posInt,
      optimizer: z.enum(['adam', 'adamw', 'sgd']).default('adam'),
      momentum: z.number().min(0).lt(1).default(0),
      /**
       * Updates 0..headOnlySteps-1 train the classifier only (featurizer frozen); update
       * headOnlySteps onwards trains everything with a fresh optimizer. MR's lp_steps = 200
       * switches after update 200, i.e. headOnlySteps = 201.
       */
      headOnlySteps: z.number().int().min(0).default(0),
      /**
       * lr schedule over all `steps` updates, `lr` being its peak (src/train/schedule.ts). Absent
       * means constant, and stays absent after parsing so that jobs written before it existed
       * (the pipeline's) record and compute exactly as before.
       */
      schedule: z.enum(SCHEDULES).optional(),
      /** Linear warm-up updates at the start of the schedule; absent means 0. */
      warmupSteps: z.number().int().min(0).optional(),
      /**
       * Decay of an exponential moving average of the weights (src/train/ema.ts) that evaluation,
       * checkpoints and the exported model use instead of the raw weights; absent means none.
       */
      ema: z.number().gt(0).lt(1).optional(),
    }),
    seeds: z.strictObject({
      /** Seeds the init, batch sampling and dropout masks. */
      runSeed: seed,
      /** Recorded only (DomainBed hparams_seed). */
      hparamsSeed: z.number().int().min(0).optional(),
    }),
    /** Evaluate (checkpoint) after each update whose index is a multiple of this, and after the last. */
    evalEvery: posInt.default(100),
    /**
     * 'all': every domain's in and out split (DomainBed's records). 'selection': only what selection
     * and test need: training domains' out splits and the test domains (or holdout).
     */
    evalSplits: z.enum(['all', 'selection']).default('all'),
    evalBatch: posInt.default(256),
    /** ORT intra-op threads (default: ORT's choice). */
    threads: posInt.optional(),
    /**
     * Data-parallel replicas sharing the threads (src/graph/replicas.ts); absent means 'auto'
     * (planReplicas). Like the thread count, it changes the bits.
     */
    replicas: z.union([posInt, z.literal('auto')]).optional(),
    ep: z.enum(['cpu', 'cuda']).default('cpu'),
    outDir: z.string().min(1),
  })
  .superRefine((j, ctx) => {
    if (j.hparams.headOnlySteps > j.hparams.steps) {
      ctx.addIssue({ code: 'custom', path: ['hparams', 'headOnlySteps'], message: `${j.hparams.headOnlySteps} is more than steps (${j.hparams.steps})` });
    }
    if (j.hparams.warmupSteps !== undefined && j.hparams.warmupSteps >= j.hparams.steps) {
      ctx.addIssue({ code: 'custom', path: ['hparams', 'warmupSteps'], message: `${j.hparams.warmupSteps} leaves no update after warm-up (steps ${j.hparams.steps})` });
    }
    if (j.hparams.momentum !== 0 && j.hparams.optimizer !== 'sgd') {
      ctx.addIssue({ code: 'custom', path: ['hparams', 'momentum'], message: `applies to optimizer sgd only (optimizer is ${j.hparams.optimizer})` });
    }
    if (new Set(j.data.testEnvs).size !== j.data.testEnvs.length) {
      ctx.addIssue({ code: 'custom', path: ['data', 'testEnvs'], message: `repeats a domain: [${j.data.testEnvs}]` });
    }
    if (j.data.holdout && j.data.testEnvs.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['data', 'holdout'], message: 'a holdout test set and test domains (testEnvs) exclude each other' });
    }
  });

/** A validated job with every default filled in. */
export type TrainJob = z.output<typeof jobSchema>;
/** A job as written by hand or by the pipeline (defaults may be left out). */
export type TrainJobInput = z.input<typeof jobSchema>;
export type ModelChoice = TrainJob['model'];

/** The job's lr schedule, absent fields filled with the old behaviour (constant, no warm-up). */
export function lrScheduleOf(h: TrainJob['hparams']): LrSchedule {
  return { name: h.schedule ?? CONSTANT_LR.name, warmupSteps: h.warmupSteps ?? CONSTANT_LR.warmupSteps };
}

/** Validates a job (any JSON value) and fills defaults; throws a one-line InputError naming the key. */
export function parseJob(value: unknown): TrainJob {
  const r = jobSchema.safeParse(value);
  if (!r.success) throw zodIssuesError(r.error.issues, 'job');
  return r.data;
}

/** Reads and validates a job file (JSON). */
export function loadJobFile(path: string): TrainJob {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(path, `cannot read job file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(path, `not JSON: ${(e as Error).message}`);
  }
  try {
    return parseJob(value);
  } catch (e) {
    if (e instanceof InputError) throw new InputError(path, e.message);
    throw e;
  }
}

/** The job as recorded inside checkpoints: where it was written is not part of what was computed. */
export function jobRecord(job: TrainJob): Omit<TrainJob, 'outDir'> {
  const { outDir: _outDir, ...rest } = job;
  return rest;
}
