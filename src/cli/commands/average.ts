// `ratatouille average IN... -o OUT`: streaming weighted average of checkpoints.
import { Command } from 'commander';
import { averageCheckpoints, type OutDType } from '../../merge/average.js';
import { formatBytes, formatSeconds } from '../../util/format.js';
import { parseChoice, parseIntOption, parseNumberList } from '../options.js';
import { createProgress } from '../progress.js';

interface RawOptions {
  output: string;
  weights?: string;
  normalize: boolean;
  dtype?: string;
  device: string;
  threads?: string;
  allowNonfinite?: boolean;
  json?: boolean;
}

export function averageCommand(): Command {
  return new Command('average')
    .description('average checkpoints weight by weight: out = Σ λᵢ θᵢ (safetensors, sharded index or ONNX)')
    .argument('<inputs...>', 'input checkpoints: all .safetensors / .safetensors.index.json, or all .onnx')
    .requiredOption('-o, --output <path>', 'output checkpoint, same kind as the inputs (written atomically)')
    .option('--weights <w1,w2,...>', 'one weight per input (default uniform 1/N)')
    .option('--no-normalize', 'use the weights as given instead of dividing by their sum')
    .option('--dtype <dtype>', 'output dtype: f32, f16 or bf16 (default: the input dtype)')
    .option('--device <device>', 'cpu or cuda', 'cpu')
    .option('--threads <n>', 'CPU compute threads (default: all cores)')
    .option('--allow-nonfinite', 'average NaN/infinite values instead of stopping')
    .option('--json', 'print a machine-readable summary on stdout')
    .action(async (inputs: string[], raw: RawOptions) => {
      const dtype = raw.dtype === undefined ? undefined : parseChoice<OutDType>('--dtype', raw.dtype, ['f32', 'f16', 'bf16']);
      const device = parseChoice('--device', raw.device, ['cpu', 'cuda'] as const);
      const threads = raw.threads === undefined ? undefined : parseIntOption('--threads', raw.threads, 1, 256);
      const weights = raw.weights === undefined ? undefined : parseNumberList('--weights', raw.weights);
      let progress: ReturnType<typeof createProgress> | undefined;
      try {
        const summary = await averageCheckpoints({
          inputs,
          output: raw.output,
          weights,
          normalize: raw.normalize,
          dtype,
          device,
          threads,
          allowNonfinite: raw.allowNonfinite,
          onProgress: (done, total) => {
            progress ??= createProgress('average', total, 'bytes');
            progress.update(done);
          },
        });
        progress?.stop();
        if (raw.json) {
          process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
          return;
        }
        const lines = [
          `wrote ${summary.output}: ${summary.averaged} tensors averaged over ${summary.inputs.length} inputs` +
            (summary.copiedFromFirst.length ? `, ${summary.copiedFromFirst.length} non-float copied from the first` : ''),
          `read ${formatBytes(summary.bytesRead)} in ${formatSeconds(summary.seconds)} (${summary.gbPerSec.toFixed(2)} GB/s), peak RSS ${formatBytes(summary.peakRssBytes)}`,
        ];
        if (summary.nonfinite) lines.push(`warning: non-finite values in ${summary.nonfinite.input}, tensor ${summary.nonfinite.tensor}`);
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        progress?.stop();
      }
    });
}
