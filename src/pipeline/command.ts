// What the pipeline commands (run, demo, aux, sweep, select, report) share: their options, the
// config they resolve (preset ← the run directory's config.json ← --config ← flags ← --set), the
// context with a stderr progress sink.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { InputError } from '../errors.js';
import { parseIntOption, parseNumberList } from '../cli/options.js';
import { DEMO_CONFIG, parseConfig, parseSetting, readConfigFile, resolveConfig, type PipelineConfig, type PipelineConfigInput } from './config.js';
import { createContext, type PipelineContext } from './context.js';
import { silentProgress, stderrProgress } from './progress.js';
import type { RunInfo } from './pipeline.js';

export interface PipelineFlags {
  config?: string;
  set?: string[];
  runDir?: string;
  workers?: string;
  threads?: string;
  dataDir?: string;
  datasets?: string;
  testEnvs?: string;
  trials?: string;
  nHparams?: string;
  steps?: string;
  width?: string;
  model?: string;
  split?: string;
  baseWidth?: string;
  imageSize?: string;
  foundation?: string;
  auxTasks?: string;
  external?: string[];
  printConfig?: boolean;
  quiet?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Adds the shared options to a pipeline command. */
export function withPipelineOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file (JSON or YAML) with any keys that --print-config shows')
    .option('--set <key=value>', 'set one config key, e.g. --set target.steps=600 (repeatable)', collect)
    .option('--run-dir <dir>', 'run directory (default: config runDir); its config.json is the starting point')
    .option('--workers <n>', 'trainings side by side, each in a worker thread')
    .option('--threads <n>', 'ORT threads per worker (default: cores / workers)')
    .option('--data-dir <dir>', 'folder with the Fashion-MNIST IDX files')
    .option('--datasets <a,b>', 'target datasets (target.datasets)')
    .option('--test-envs <list|all>', 'test domains, e.g. 0,5 or all (target.testEnvs)')
    .option('--trials <list>', 'trial seeds, e.g. 0,1,2 (target.trials)')
    .option('--n-hparams <n>', 'runs per sweep (target.nHparams)')
    .option('--steps <n>', 'full fine-tuning steps of target runs (target.steps)')
    .option('--width <n>', 'MNIST_CNN width (model.width)')
    .option('--model <arch|file.onnx>', 'mnist_cnn, resnet18, resnet50, or an ONNX model to import (model.arch / model.onnx)')
    .option('--split <tensor>', 'imported model: tensor or node after which the classifier starts (model.split)')
    .option('--base-width <n>', 'ResNet stem width (model.baseWidth)')
    .option('--image-size <n>', 'side folder images are resized to (model.imageSize)')
    .option('--foundation <file>', 'foundation checkpoint (safetensors with featurizer.*) instead of pretraining (foundation.checkpoint)')
    .option('--aux-tasks <a,b>', 'auxiliary tasks: <source>-<kind> or folder:<path> (aux.tasks)')
    .option('--external <name=path>', 'add a fine-tuning made elsewhere (safetensors with featurizer.*) to the auxiliary pool (repeatable)', collect)
    .option('--print-config', 'print the resolved configuration (every key, defaults filled) and exit')
    .addOption(new Option('-q, --quiet', 'no progress on stderr'));
}

const intList = (opt: string, v: string) =>
  parseNumberList(opt, v).map((n) => {
    if (!Number.isInteger(n) || n < 0) throw new InputError(opt, `${n} is not a non-negative integer`);
    return n;
  });

/** The flags as a partial config (applied after --config, before --set). */
function flagOverrides(f: PipelineFlags): Record<string, unknown> {
  const target: Record<string, unknown> = {};
  if (f.datasets) target.datasets = f.datasets.split(',').map((s) => s.trim()).filter(Boolean);
  if (f.testEnvs) target.testEnvs = f.testEnvs.trim() === 'all' ? 'all' : intList('--test-envs', f.testEnvs);
  if (f.trials) target.trials = intList('--trials', f.trials);
  if (f.nHparams) target.nHparams = parseIntOption('--n-hparams', f.nHparams, 1);
  if (f.steps) target.steps = parseIntOption('--steps', f.steps, 1);
  const o: Record<string, unknown> = {};
  if (Object.keys(target).length) o.target = target;
  if (f.runDir) o.runDir = f.runDir;
  if (f.workers) o.workers = parseIntOption('--workers', f.workers, 0);
  if (f.threads) o.threads = parseIntOption('--threads', f.threads, 1);
  if (f.dataDir) o.dataDir = f.dataDir;
  const model: Record<string, unknown> = {};
  if (f.width) model.width = parseIntOption('--width', f.width, 1);
  if (f.model) Object.assign(model, f.model.toLowerCase().endsWith('.onnx') ? { arch: 'onnx', onnx: f.model } : { arch: f.model });
  if (f.split) model.split = f.split;
  if (f.baseWidth) model.baseWidth = parseIntOption('--base-width', f.baseWidth, 1);
  if (f.imageSize) model.imageSize = parseIntOption('--image-size', f.imageSize, 1);
  if (Object.keys(model).length) o.model = model;
  if (f.foundation) o.foundation = { checkpoint: f.foundation };
  if (f.auxTasks) o.aux = { tasks: f.auxTasks.split(',').map((s) => s.trim()).filter(Boolean) };
  return o;
}

/** preset ← <runDir>/config.json (when it exists) ← --config ← flags ← --set. */
export function configFromFlags(f: PipelineFlags, preset: PipelineConfigInput = {}): PipelineConfig {
  const flags = flagOverrides(f);
  const fromFile = f.config ? (readConfigFile(f.config) as Record<string, unknown>) : {};
  const runDir = (flags.runDir as string | undefined) ?? (fromFile?.runDir as string | undefined) ?? preset.runDir ?? 'runs/ratatouille';
  const stored = join(runDir, 'config.json');
  const base = existsSync(stored) ? (readConfigFile(stored) as PipelineConfigInput) : preset;
  const config = resolveConfig({ preset: base, file: f.config, overrides: [flags, ...(f.set ?? []).map(parseSetting)] });
  if (!f.external?.length) return config;
  const added = f.external.map((e) => {
    const eq = e.indexOf('=');
    if (eq <= 0 || eq === e.length - 1) throw new InputError('--external', `expected name=path, got ${JSON.stringify(e)}`);
    return { name: e.slice(0, eq), path: e.slice(eq + 1) };
  });
  return parseConfig({ ...config, aux: { ...config.aux, external: [...config.aux.external, ...added] } }, '--external');
}

/**
 * Builds the context and runs `body`. Ctrl-C keeps Node's default (the process ends at once):
 * running trainings leave no `done` marker, so the next invocation reruns exactly those.
 */
export async function withPipeline(f: PipelineFlags, argv: string[], preset: PipelineConfigInput | undefined, body: (ctx: PipelineContext, info: RunInfo) => Promise<void>): Promise<void> {
  const config = configFromFlags(f, preset);
  if (f.printConfig) {
    process.stdout.write(JSON.stringify(config, null, 2) + '\n');
    return;
  }
  const progress = f.quiet ? { ...silentProgress, stageSeconds: {} as Record<string, number> } : stderrProgress();
  const ctx = createContext(config, progress);
  return body(ctx, { command: argv, startedAt: performance.now(), stageSeconds: progress.stageSeconds });
}

export { DEMO_CONFIG };
