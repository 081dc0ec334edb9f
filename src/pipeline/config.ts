// The pipeline's configuration: one zod schema (strict objects, so an unknown key is refused by
// name), presets for `run` and `demo`, a JSON/YAML file loader, and `--set key=value` overrides.
// Every failure is one InputError naming the key (e.g. `config.target.steps: must be >= 1`).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { zodIssuesError } from '../util/zod-errors.js';
import { TASK_KINDS, TASK_SOURCES } from './tasks.js';

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().min(0);
const rate = z.number().positive().finite();
const seed = z.number().int().min(0).max(0x7fffffff);
const taskNameSchema = z.string().refine((s) => {
  if (s.startsWith('folder:')) return s.length > 'folder:'.length;
  const [src, kind, ...rest] = s.split('-');
  return rest.length === 0 && (TASK_SOURCES as readonly string[]).includes(src) && (TASK_KINDS as readonly string[]).includes(kind) && kind !== 'class';
}, { message: `must be <source>-<kind> with source ${TASK_SOURCES.join('|')} and kind ${TASK_KINDS.filter((k) => k !== 'class').join('|')}, or folder:<path>` });

/** The shared linear probe on cached frozen-foundation features (softmax regression, Adam). */
const probeSchema = (d: { steps: number; lr: number; batchPerDomain: number }) =>
  z
    .strictObject({
      steps: posInt.default(d.steps),
      lr: rate.default(d.lr),
      batchPerDomain: posInt.default(d.batchPerDomain),
      evalEvery: posInt.default(50),
    })
    .prefault({});

export const configSchema = z.strictObject({
  /** Folder holding everything the run makes. */
  runDir: z.string().min(1).default('runs/ratatouille'),
  /** Trainings run side by side, each in a worker thread; 0 runs them one by one in this thread. */
  workers: nonNegInt.default(2),
  /** ORT threads per worker (default: cores / workers, at least 1). */
  threads: posInt.optional(),
  /** Folder with the Fashion-MNIST IDX files (default: RATATOUILLE_DATA_DIR, then the Debian location). */
  dataDir: z.string().min(1).optional(),
  model: z
    .strictObject({
      /** Our MNIST_CNN or ResNets, or `onnx`: the model in model.onnx. Pretraining is built in for mnist_cnn only. */
      arch: z.enum(['mnist_cnn', 'resnet18', 'resnet50', 'onnx']).default('mnist_cnn'),
      /** MNIST_CNN's first-block channels. */
      width: posInt.multipleOf(8, 'must be a multiple of 8 (GroupNorm with 8 groups)').default(16),
      /** ResNet stem width (default 64, torchvision). */
      baseWidth: posInt.optional(),
      /** ResNet BatchNorm: 'frozen' (default, DomainBed: running statistics, trainable affine) or 'train'. */
      batchNorm: z.enum(['frozen', 'train']).optional(),
      /** Side folder datasets are resized/cropped to (default 224 for ResNets, 28 for mnist_cnn; an ONNX model's own). */
      imageSize: posInt.optional(),
      /** The ONNX inference model to import (arch onnx): its initializers are the foundation unless foundation.checkpoint is given. */
      onnx: z.string().min(1).optional(),
      /** ONNX tensor or node after which the classifier starts (default: the input of the last Gemm/MatMul). */
      split: z.string().min(1).optional(),
    })
    .superRefine((m, ctx) => {
      const only = (key: 'baseWidth' | 'batchNorm' | 'onnx' | 'split', archs: string[]) => {
        if (m[key] !== undefined && !archs.includes(m.arch)) ctx.addIssue({ code: 'custom', path: [key], message: `applies to model.arch ${archs.join('|')} only (arch is ${m.arch})` });
      };
      only('baseWidth', ['resnet18', 'resnet50']);
      only('batchNorm', ['resnet18', 'resnet50']);
      only('onnx', ['onnx']);
      only('split', ['onnx']);
      if (m.arch === 'onnx' && m.onnx === undefined) ctx.addIssue({ code: 'custom', path: ['onnx'], message: 'required with model.arch onnx (the .onnx file to import)' });
    })
    .prefault({}),
  foundation: z
    .strictObject({
      /** Source of the pretraining images: 'auto' picks one no target dataset is built from. */
      source: z.enum(['auto', ...TASK_SOURCES]).default('auto'),
      /** An existing foundation (safetensors with featurizer.* of this architecture) instead of pretraining (required for ResNets). */
      checkpoint: z.string().min(1).optional(),
      samples: posInt.default(20000),
      testSize: posInt.default(2000),
      steps: posInt.default(1200),
      batch: posInt.default(128),
      lr: rate.default(1e-3),
      weightDecay: z.number().min(0).default(0),
      seed: seed.default(0),
    })
    .prefault({}),
  aux: z
    .strictObject({
      /**
       * Auxiliary tasks: built-in `<source>-<kind>` (mini-benchmark §2; 28×28 grayscale) or image
       * datasets `folder:<path>` (fine-tuned on all their domains); those built from a target's
       * images are skipped for it.
       */
      tasks: z.array(taskNameSchema).default(['fashion-rot', 'fashion-rotpred', 'fashion-inv', 'fashion-coarse', 'fashion-rot90']),
      samples: posInt.default(20000),
      /**
       * Fine-tunings per task (MR's aux n_hparams), hparams seeds 0..runsPerTask-1 (trial 0) of the
       * aux distribution around aux.lr (built-in tasks) or MR's image registry (folder tasks, spec §1.2).
       */
      runsPerTask: posInt.default(1),
      steps: posInt.default(400),
      /** Examples per step, split evenly over the task's domains. */
      batch: posInt.default(64),
      lr: rate.default(1e-4),
      weightDecay: z.number().min(0).default(0),
      evalEvery: posInt.default(100),
      probe: probeSchema({ steps: 1000, lr: 1e-2, batchPerDomain: 64 }),
      /** Fine-tunings made elsewhere: safetensors holding this architecture's featurizer.* tensors. */
      external: z
        .array(
          z.strictObject({
            name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
            path: z.string().min(1),
            /** Image sources it was trained on (a target built from one of them will not use it). */
            sources: z.array(z.string().min(1)).default([]),
          }),
        )
        .default([]),
      seed: seed.default(0),
    })
    .prefault({}),
  target: z
    .strictObject({
      datasets: z.array(z.string().min(1)).min(1).default(['rotated_mnist']),
      /** Test domains (one sweep each), or 'all'. */
      testEnvs: z.union([z.literal('all'), z.array(nonNegInt).min(1)]).default([0]),
      trials: z.array(nonNegInt).min(1).default([0, 1, 2]),
      nHparams: posInt.default(10),
      /** Full fine-tuning updates of every run (auxiliary-init runs add headOnlySteps before them). */
      steps: posInt.default(300),
      batchPerDomain: posInt.default(16),
      evalEvery: posInt.default(50),
      /** Head-only updates of auxiliary-init and fusing runs before the fresh Adam (MR: 201). */
      headOnlySteps: nonNegInt.default(201),
      /** 'auto': MR's image distribution for folder datasets and inputs over 32×32, the MNIST one otherwise. */
      hparams: z.enum(['auto', 'mnist', 'image']).default('auto'),
      probe: probeSchema({ steps: 3000, lr: 3e-2, batchPerDomain: 16 }),
      /** The fusing baseline: `runs` runs (hparams seeds 0..runs-1), weights ∝ exp(range·u). 0 runs: off. */
      fusing: z.strictObject({ runs: nonNegInt.default(2), range: z.number().min(0).finite().default(4) }).prefault({}),
    })
    .prefault({}),
  diagnostics: z
    .strictObject({
      /** Interpolation grid: starts at 0, ends at 1, contains 0.5. */
      alphas: z
        .array(z.number().min(0).max(1))
        .min(3)
        .default([0, 0.25, 0.5, 0.75, 1])
        .refine((a) => a[0] === 0 && a[a.length - 1] === 1 && a.includes(0.5) && a.every((x, i) => i === 0 || x > a[i - 1]), { message: 'must increase from 0 to 1 and contain 0.5' }),
    })
    .prefault({}),
});

export type PipelineConfig = z.output<typeof configSchema>;
export type PipelineConfigInput = z.input<typeof configSchema>;

/**
 * The `ratatouille demo` configuration: every stage and baseline on RotatedMNIST (test domain 0°,
 * one trial) sized for ≤ 5 minutes on 2 cores (mini-benchmark §7 sketch, scaled to our engine).
 */
export const DEMO_CONFIG: PipelineConfigInput = {
  runDir: 'runs/demo',
  model: { arch: 'mnist_cnn', width: 16 },
  foundation: { samples: 12000, testSize: 2000, steps: 250, batch: 128 },
  aux: { tasks: ['fashion-rot', 'fashion-rotpred', 'fashion-coarse'], samples: 6000, steps: 120, batch: 64, lr: 1e-4, evalEvery: 120, probe: { steps: 400, lr: 1e-2, batchPerDomain: 64 } },
  target: {
    datasets: ['rotated_mnist'],
    testEnvs: [0],
    trials: [0],
    nHparams: 4,
    steps: 180,
    batchPerDomain: 12,
    evalEvery: 90,
    headOnlySteps: 30,
    probe: { steps: 1500, lr: 3e-2, batchPerDomain: 16 },
    fusing: { runs: 1, range: 4 },
  },
};

/** Validates a config value and fills defaults; `where` prefixes the key in errors (the file name). */
export function parseConfig(value: unknown, where = 'config'): PipelineConfig {
  const r = configSchema.safeParse(value ?? {});
  if (!r.success) throw zodIssuesError(r.error.issues, where);
  return r.data;
}

/** Reads a JSON or YAML config file (YAML is a superset: one parser for both). */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(path, `cannot read config: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (e) {
    throw new InputError(path, `not JSON or YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deep merge: objects merge key by key, anything else (arrays included) replaces. */
export function mergeConfig(base: unknown, over: unknown): unknown {
  if (!isPlain(base) || !isPlain(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeConfig(base[k], v);
  return out;
}

/** `a.b.c=value` → { a: { b: { c: value } } }, the value parsed as YAML (numbers, lists, strings). */
export function parseSetting(setting: string): Record<string, unknown> {
  const eq = setting.indexOf('=');
  if (eq <= 0) throw new InputError('--set', `expected key=value, got ${JSON.stringify(setting)}`);
  const keys = setting.slice(0, eq).trim().split('.');
  if (keys.some((k) => !/^[A-Za-z][A-Za-z0-9]*$/.test(k))) throw new InputError('--set', `bad key ${JSON.stringify(setting.slice(0, eq))}`);
  let value: unknown;
  try {
    value = parseYaml(setting.slice(eq + 1));
  } catch {
    value = setting.slice(eq + 1);
  }
  return keys.reduceRight<Record<string, unknown>>((acc, k, i) => (i === keys.length - 1 ? { [k]: value } : { [k]: acc }), {} as Record<string, unknown>);
}

export interface ConfigSources {
  /** A preset to start from (DEMO_CONFIG for `demo`). */
  preset?: PipelineConfigInput;
  /** --config file. */
  file?: string;
  /** Overrides from flags, applied after the file, as partial config objects. */
  overrides?: unknown[];
}

/** preset ← file ← overrides, then validated (errors name the file when the file is at fault). */
export function resolveConfig(src: ConfigSources): PipelineConfig {
  let value: unknown = src.preset ?? {};
  if (src.file) {
    const fromFile = readConfigFile(src.file);
    if (!isPlain(fromFile)) throw new InputError(src.file, 'config must be a mapping of keys to values');
    parseConfig(mergeConfig(src.preset ?? {}, fromFile), src.file); // file errors name the file
    value = mergeConfig(value, fromFile);
  }
  for (const o of src.overrides ?? []) value = mergeConfig(value, o);
  return parseConfig(value);
}
