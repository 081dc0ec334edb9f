// `ratatouille info`: version, CPU kernel level, CUDA build and GPU, onnxruntime version.
import { Command } from 'commander';
import { createRequire } from 'node:module';
import { native } from '../../../bindings/native.js';
import { VERSION } from '../../version.js';

export function onnxruntimeVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('onnxruntime-node/package.json') as { version: string }).version;
}

export function collectInfo() {
  const n = native().info();
  return {
    version: VERSION,
    node: process.version,
    cpuKernels: n.cpuLevel,
    cpuKernelsSupported: n.cpuLevelSupported,
    threads: n.threads,
    cudaBuilt: n.cudaBuilt,
    gpus: n.cudaDeviceNames,
    cudaStatus: n.cudaStatus,
    onnxruntime: onnxruntimeVersion(),
  };
}

export function infoCommand(): Command {
  return new Command('info')
    .description('print the version, CPU kernel level, CUDA build and GPU, and onnxruntime version')
    .option('--json', 'machine-readable output on stdout')
    .action((opts: { json?: boolean }) => {
      const i = collectInfo();
      if (opts.json) {
        process.stdout.write(JSON.stringify(i, null, 2) + '\n');
        return;
      }
      const gpu = i.cudaBuilt ? (i.gpus.length ? i.gpus.join(', ') : i.cudaStatus) : 'CUDA kernels not built';
      process.stdout.write(
        [
          `model-ratatouille ${i.version} (node ${i.node})`,
          `cpu kernels:  ${i.cpuKernels}${i.cpuKernels !== i.cpuKernelsSupported ? ` (capped; cpu supports ${i.cpuKernelsSupported})` : ''}, ${i.threads} threads`,
          `cuda:         ${i.cudaBuilt ? 'built' : 'not built'}; gpu: ${gpu}`,
          `onnxruntime:  ${i.onnxruntime} (onnxruntime-node)`,
        ].join('\n') + '\n',
      );
    });
}
