// Same job, same machine, same bits: two in-process runs, and a run in a worker thread, write
// byte-identical checkpoints and model.onnx, and identical metrics apart from timings. Dropout
// and a head-only phase are on so every seeded path is exercised.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { runJob, type TrainProgress } from '../../src/train/trainer.js';
import { runJobInWorker } from '../../src/train/worker.js';
import { fileBytes, metricsWithoutTimings, smallMnist, tinyJob, tmpDir } from './helpers.js';

const FILES = ['weights.safetensors', 'last.safetensors', 'model.onnx'];
const job = (dir: string) => tinyJob(dir, { threads: 2, hparams: { steps: 14, headOnlySteps: 4, dropout: 0.2 } });

function resultWithoutTimings(dir: string) {
  const { timings: _t, outDir: _o, job: { outDir: _j, ...jobRest }, ...rest } = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
  return { ...rest, job: jobRest };
}

describe('determinism', () => {
  it('reproduces every output bit for bit, in process and in a worker thread', async () => {
    const dataset = await smallMnist();
    const [a, b, w] = ['a', 'b', 'worker'].map((t) => tmpDir(`det-${t}`));
    await runJob(job(a), { dataset });
    await runJob(job(b), { dataset });
    const seen: TrainProgress[] = [];
    const r = await runJobInWorker(job(w), { dataset, onProgress: (p) => seen.push(p) });
    expect(r.status).toBe('done');
    for (const dir of [b, w]) {
      for (const f of FILES) expect(fileBytes(dir, f).equals(fileBytes(a, f)), `${dir}/${f}`).toBe(true);
      expect(metricsWithoutTimings(dir)).toEqual(metricsWithoutTimings(a));
      expect(resultWithoutTimings(dir)).toEqual(resultWithoutTimings(a));
    }
    // Progress arrived from the worker: one message per update and per checkpoint.
    expect(seen.filter((p) => p.kind === 'step').map((p) => (p.kind === 'step' ? p.step : -1))).toEqual([...Array(14).keys()]);
    expect(seen.filter((p) => p.kind === 'checkpoint')).toHaveLength(3);
    // A different run seed gives different weights.
    const c = tmpDir('det-c');
    await runJob({ ...job(c), seeds: { runSeed: 8 } }, { dataset });
    expect(fileBytes(c, 'last.safetensors').equals(fileBytes(a, 'last.safetensors'))).toBe(false);
  });

  it('brings worker failures back as one-line errors', async () => {
    const dir = tmpDir('det-err');
    const err = await runJobInWorker(tinyJob(dir, { data: { dataset: 'no_such_data' } })).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toMatch(/^no_such_data: unknown dataset; one of .*$/);
    await expect(runJobInWorker({ ...tinyJob(dir), hparams: { lr: -1, batchPerDomain: 1, steps: 1 } })).rejects.toThrow('job.hparams.lr: Too small');
  });

  it('stops the worker at a step boundary when aborted', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('det-abort');
    const ac = new AbortController();
    let after = 0;
    const run = runJobInWorker(tinyJob(dir, { evalEvery: 1000, hparams: { steps: 100000 } }), {
      dataset,
      signal: ac.signal,
      onProgress: (p) => {
        if (ac.signal.aborted) after++;
        if (p.kind === 'step' && p.step === 3) ac.abort();
      },
    });
    await expect(run).rejects.toThrow(/^training: cancelled at step \d+$/);
    expect(after).toBeLessThan(100); // it stopped within a few steps, not at the grace timeout
    expect(existsSync(join(dir, 'done'))).toBe(false);
  });
});
