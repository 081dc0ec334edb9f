// The worker pool: a training in a worker thread writes the same bytes as in this thread, a
// finished run is not run again (same job), and a changed job reruns into the same folder.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JobPool } from '../../src/pipeline/executor.js';
import { silentProgress } from '../../src/pipeline/progress.js';
import type { TrainJobInput } from '../../src/train/job.js';

const job = (outDir: string, lr = 1e-3): TrainJobInput => ({
  model: { arch: 'mnist_cnn', width: 8 },
  data: { dataset: 'rotated_mnist', testEnvs: [0] },
  hparams: { lr, batchPerDomain: 2, steps: 4 },
  seeds: { runSeed: 3 },
  evalEvery: 2,
  evalSplits: 'selection',
  outDir,
});

describe('JobPool', () => {
  const root = mkdtempSync(join(tmpdir(), 'rt-pool-'));
  it('runs in a worker thread bit-identically to in-process, and skips finished runs', async () => {
    const inProcess = new JobPool({ workers: 0, threads: 1, progress: silentProgress });
    const inWorker = new JobPool({ workers: 1, threads: 1, progress: silentProgress });
    const [a, b] = await Promise.all([inProcess.submit(job(join(root, 'a')), 'a'), inWorker.submit(job(join(root, 'b')), 'b')]);
    expect([a.status, b.status]).toEqual(['done', 'done']);
    expect(readFileSync(join(root, 'a', 'weights.safetensors')).equals(readFileSync(join(root, 'b', 'weights.safetensors')))).toBe(true);
    const mtime = statSync(join(root, 'a', 'weights.safetensors')).mtimeMs;
    const again = await inProcess.submit(job(join(root, 'a')), 'a');
    expect(again).toMatchObject({ status: 'done', resumed: true });
    expect(statSync(join(root, 'a', 'weights.safetensors')).mtimeMs).toBe(mtime);
    const changed = await inProcess.submit(job(join(root, 'a'), 2e-3), 'a');
    expect(changed).toMatchObject({ status: 'done', resumed: false });
    expect(readFileSync(join(root, 'a', 'weights.safetensors')).equals(readFileSync(join(root, 'b', 'weights.safetensors')))).toBe(false);
  }, 60_000);
});
