// What a run leaves in outDir: the complete file set with `done` last, checkpoint selection by
// training-domain validation (strict ">", earliest best wins, its weights saved), a previous
// attempt's leftovers cleared only once the new job is known to be valid, divergence reported
// with the last good checkpoint kept, and cancellation leaving no `done` marker.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCheckpointStep, runJob, type MetricsRecord, type RunResult } from '../../src/train/trainer.js';
import { parseJob } from '../../src/train/job.js';
import { fileBytes, metadata, sameBits, smallMnist, tensors, tinyJob, tmpDir } from './helpers.js';

const readMetrics = (dir: string): MetricsRecord[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('a finished run', () => {
  it('writes every output, checkpoints on schedule and keeps the earliest best', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('outputs');
    // SGD at a high rate makes validation go up and down, so the best is usually not the last.
    const job = tinyJob(dir, { evalEvery: 3, hparams: { optimizer: 'sgd', lr: 0.5, momentum: 0.9, steps: 25 } });
    const r = await runJob(job, { dataset });
    expect(r.status).toBe('done');
    expect(readdirSync(dir).sort()).toEqual(['done', 'last.safetensors', 'metrics.jsonl', 'model.onnx', 'result.json', 'weights.safetensors']);
    expect(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(r)));

    const metrics = readMetrics(dir);
    const parsed = parseJob(job);
    expect(metrics.map((m) => m.step)).toEqual([...Array(25).keys()].filter((t) => isCheckpointStep(t, parsed)));
    expect(metrics.map((m) => m.step)).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24]);
    const vals = metrics.map((m) => m.val);
    const bestStep = metrics[vals.indexOf(Math.max(...vals))].step; // indexOf: the earliest maximum
    expect(r.best!.step).toBe(bestStep);
    expect(bestStep).toBeLessThan(24); // this setting's best is in the middle, so the next check means something
    expect(Number((await metadata(join(dir, 'weights.safetensors'))).step)).toBe(bestStep);
    for (const m of metrics) expect(m.holdout).toBe(m.test);

    // weights.safetensors are the weights after update bestStep: a run stopped there ends on them.
    const prefix = tmpDir('prefix');
    await runJob({ ...job, outDir: prefix, hparams: { ...job.hparams, steps: bestStep + 1 } }, { dataset });
    const best = await tensors(join(dir, 'weights.safetensors'));
    const stopped = await tensors(join(prefix, 'last.safetensors'));
    for (const [k, w] of best) expect(sameBits(w, stopped.get(k)!), k).toBe(true);
  });

  it('keeps the first checkpoint when validation never improves', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('ties');
    // Adam moves each weight by at most ~lr: at 1e-12 no prediction changes, so every val ties.
    const r = await runJob(tinyJob(dir, { evalEvery: 2, hparams: { lr: 1e-12, steps: 7 } }), { dataset });
    const vals = readMetrics(dir).map((m) => m.val);
    expect(new Set(vals).size).toBe(1);
    expect(vals.length).toBe(4);
    expect(r.best!.step).toBe(0);
    expect(r.last!.step).toBe(6);
  });

  it('clears a previous attempt only after the new job is validated', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('restart');
    const stale = ['done', 'metrics.jsonl', '.weights.safetensors.tmp-1-abcdef01', 'notes.txt'];
    for (const f of stale) writeFileSync(join(dir, f), 'stale');
    await expect(runJob(tinyJob(dir, { init: { checkpoint: join(dir, 'missing.safetensors') } }), { dataset })).rejects.toThrow(/missing\.safetensors/);
    for (const f of stale) expect(existsSync(join(dir, f)), f).toBe(true);
    await runJob(tinyJob(dir, { hparams: { steps: 2 } }), { dataset });
    expect(readdirSync(dir).sort()).toEqual(['done', 'last.safetensors', 'metrics.jsonl', 'model.onnx', 'notes.txt', 'result.json', 'weights.safetensors']);
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).not.toContain('stale');
  });

  it('stops without a done marker when cancelled', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('cancel');
    const ac = new AbortController();
    const run = runJob(tinyJob(dir, { evalEvery: 1, hparams: { steps: 50 } }), {
      dataset,
      signal: ac.signal,
      onProgress: (p) => p.kind === 'checkpoint' && p.record.step === 2 && ac.abort(),
    });
    await expect(run).rejects.toThrow('training: cancelled at step 3');
    expect(existsSync(join(dir, 'done'))).toBe(false);
    expect(readMetrics(dir).map((m) => m.step)).toEqual([0, 1, 2]);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // Aborted right before a checkpoint's evaluation: it stops inside the evaluation.
    const ac2 = new AbortController();
    const during = runJob(tinyJob(dir, { evalEvery: 5, hparams: { steps: 50 } }), {
      dataset,
      signal: ac2.signal,
      onProgress: (p) => p.kind === 'step' && p.step === 5 && ac2.abort(),
    });
    await expect(during).rejects.toThrow('training: cancelled during evaluation');
    expect(readMetrics(dir).map((m) => m.step)).toEqual([0]);
  });
});

describe('divergence', () => {
  it('stops at the first non-finite loss, names the step and keeps the last good checkpoint', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('nan');
    // lr 1e30: the update after step 0 leaves weights ~1e30, so step 1's logits overflow.
    const r: RunResult = await runJob(tinyJob(dir, { evalEvery: 1, hparams: { lr: 1e30, steps: 5 } }), { dataset });
    expect(r.status).toBe('diverged');
    expect(r.message).toMatch(/^loss is (NaN|Infinity|-Infinity) at step 1 \(full phase\); weights\.safetensors holds step 0$/);
    expect(r.stepsDone).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['metrics.jsonl', 'result.json', 'weights.safetensors']);
    expect(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')).status).toBe('diverged');
    expect(Number((await metadata(join(dir, 'weights.safetensors'))).step)).toBe(0);
    for (const w of (await tensors(join(dir, 'weights.safetensors'))).values()) expect(w.every(Number.isFinite)).toBe(true);
    expect(fileBytes(dir, 'metrics.jsonl').toString().trim().split('\n')).toHaveLength(1);
  });
});
