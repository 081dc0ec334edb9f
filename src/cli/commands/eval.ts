// `ratatouille eval --model model.onnx --data NAME`: accuracy of any ONNX classifier per domain
// and split (DomainBed splits of the trial seed; with --test-env the selection metrics), or on
// the MNIST digits' train/test holdout. Results on stdout (text or --json), progress on stderr.
import { Command } from 'commander';
import { openDataset } from '../../data/registry.js';
import { InputError } from '../../errors.js';
import { checkTestEnvs, evaluate, formatEvalResult, loadOnnxClassifier, usesHoldout } from '../../eval/index.js';
import { createProgress, type Progress } from '../progress.js';
import { type DatasetFlags, datasetOpenOptions, parseChoice, parseIntOption, parseNumberList, withDatasetOptions } from '../options.js';

interface EvalOpts extends DatasetFlags {
  model: string;
  data: string;
  testEnv?: string;
  dataSeed: string;
  trialSeed: string;
  holdout?: string;
  batch: string;
  threads?: string;
  ep: string;
  json?: boolean;
  workers?: string;
}

const U32 = 0xffffffff;
/** Evaluations shorter than this print no progress. */
const PROGRESS_AFTER_MS = 2000;

/** A progress display that appears only once an evaluation has run for a while. */
function lateProgress(label: string): { update: (done: number, total: number) => void; stop: () => void } {
  const start = performance.now();
  let bar: Progress | null = null;
  return {
    update(done, total) {
      if (!bar && performance.now() - start < PROGRESS_AFTER_MS) return;
      bar ??= createProgress(label, total, 'items');
      bar.update(done);
    },
    stop: () => bar?.stop(),
  };
}

export function evalCommand(): Command {
  return withDatasetOptions(
    new Command('eval')
      .description('accuracy of an ONNX classifier per domain and split (DomainBed protocol), or on the MNIST holdout')
      .requiredOption('--model <file>', 'ONNX classifier: input [N, C, H, W] float, output logits [N, classes]')
      .requiredOption('--data <name>', 'dataset name (see `ratatouille data list`) or folder:<path>')
      .option('--test-env <k>', 'test domain index (comma list for several): adds training-domain validation and test accuracy')
      .option('--data-seed <s>', 'seed of domain membership and dataset noise; for mnist also of the 2,000-digit test holdout', '0')
      .option('--holdout <n>', 'single-domain datasets: test samples of the holdout (default 20%: 2,000 of the mnist digits)')
      .option('--trial-seed <t>', 'DomainBed trial seed of the per-domain 80/20 in/out splits', '0')
      .option('--batch <n>', 'images per inference batch', '256')
      .option('--threads <n>', 'onnxruntime intra-op threads (default: all cores)')
      .option('--ep <name>', 'execution provider: cpu or cuda', 'cpu')
      .option('--json', 'machine-readable result on stdout'),
  )
    .option('--workers <n>', 'image folders: decode worker threads')
    .action(async (o: EvalOpts) => {
      const dataSeed = parseIntOption('--data-seed', o.dataSeed, 0, U32);
      const trialSeed = parseIntOption('--trial-seed', o.trialSeed, 0, U32);
      const batch = parseIntOption('--batch', o.batch, 1, 1 << 20);
      const threads = o.threads === undefined ? undefined : parseIntOption('--threads', o.threads, 1, 1024);
      const workers = o.workers === undefined ? undefined : parseIntOption('--workers', o.workers, 0, 64);
      const executionProvider = parseChoice('--ep', o.ep, ['cpu', 'cuda'] as const);
      const testEnvs = o.testEnv === undefined ? [] : parseNumberList('--test-env', o.testEnv);
      const holdoutSize = o.holdout === undefined ? undefined : parseIntOption('--holdout', o.holdout, 1);

      const model = await loadOnnxClassifier(o.model, { threads, executionProvider });
      try {
        // image folders are resized to the model's input side when it declares a square one
        const [, h, w] = model.inputShape;
        const imageSize = h !== null && h === w ? h : undefined;
        const ds = await openDataset(o.data, { ...datasetOpenOptions(o), dataSeed, imageSize });
        checkTestEnvs(ds, testEnvs, '--test-env');
        if (holdoutSize !== undefined && !usesHoldout(ds)) throw new InputError('--holdout', `applies to single-domain datasets; ${ds.name} has ${ds.domains.length} domains`);
        const progress = lateProgress(`eval ${ds.name}`);
        const result = await evaluate(model, ds, {
          batch,
          trialSeed,
          dataSeed,
          holdoutSize,
          testEnvs,
          workers,
          where: o.model,
          onProgress: progress.update,
        });
        progress.stop();
        process.stdout.write(o.json ? JSON.stringify({ model: o.model, ...result }, null, 2) + '\n' : formatEvalResult(result, o.model));
      } finally {
        await model.release();
      }
    });
}
