// The lr schedule: scheduledLr's values at the start, middle and end of a run, with and without
// warm-up; and in the trainer, an explicit constant schedule reproduces a job without one (the
// pipeline's jobs) bit for bit, while cosine changes the weights and is itself reproducible.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lrScheduleOf, parseJob } from '../../src/train/job.js';
import { scheduledLr, type LrSchedule } from '../../src/train/schedule.js';
import { runJob } from '../../src/train/trainer.js';
import { fileBytes, metricsWithoutTimings, sameBits, smallMnist, tensors, tinyJob, tmpDir } from './helpers.js';

const cosine: LrSchedule = { name: 'cosine', warmupSteps: 0 };
const linear: LrSchedule = { name: 'linear', warmupSteps: 0 };
const lrs = (s: LrSchedule, steps: number, peak = 0.01) => Array.from({ length: steps }, (_, t) => scheduledLr(peak, t, steps, s));

describe('scheduledLr', () => {
  it('keeps the peak throughout when constant', () => {
    expect(lrs({ name: 'constant', warmupSteps: 0 }, 7)).toEqual(Array(7).fill(0.01));
  });

  it('decays cosine from the peak through half of it towards 0 (torch CosineAnnealingLR, T_max = steps)', () => {
    const v = lrs(cosine, 100);
    expect(v[0]).toBe(0.01);
    expect(v[50]).toBeCloseTo(0.005, 15);
    expect(v[25]).toBeCloseTo(0.01 * (0.5 + 0.5 * Math.SQRT1_2), 15);
    expect(v[99]).toBeCloseTo(0.01 * 0.5 * (1 + Math.cos((Math.PI * 99) / 100)), 15);
    expect(v[99]).toBeGreaterThan(0); // the last update still moves the weights
    expect(v[99]).toBeLessThan(0.01 * 0.001);
    for (let t = 1; t < 100; t++) expect(v[t]).toBeLessThan(v[t - 1]);
  });

  it('decays linear by peak/steps per update', () => {
    const v = lrs(linear, 10, 1);
    v.forEach((x, t) => expect(x).toBeCloseTo(1 - t / 10, 15));
  });

  it('ramps up linearly during warm-up, then decays over the remaining updates', () => {
    const s: LrSchedule = { name: 'cosine', warmupSteps: 4 };
    const v = lrs(s, 24, 1);
    expect(v.slice(0, 4)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(v[4]).toBe(1);
    expect(v[14]).toBeCloseTo(0.5, 15); // halfway through the 20 updates after warm-up
    expect(v[23]).toBeCloseTo(0.5 * (1 + Math.cos((Math.PI * 19) / 20)), 15);
    expect(lrs({ name: 'constant', warmupSteps: 2 }, 4, 1)).toEqual([0.5, 1, 1, 1]);
  });

  it('rejects updates outside the run and warm-ups that leave nothing', () => {
    expect(() => scheduledLr(1, 10, 10, cosine)).toThrow(RangeError);
    expect(() => scheduledLr(1, -1, 10, cosine)).toThrow(RangeError);
    expect(() => scheduledLr(1, 0, 10, { name: 'cosine', warmupSteps: 10 })).toThrow(/warmupSteps/);
  });
});

describe('schedules in jobs', () => {
  const base = { model: { arch: 'mnist_cnn' }, data: { dataset: 'mnist' }, seeds: { runSeed: 0 }, outDir: '/tmp/x' };

  it('leaves a job without a schedule as it was (constant, no warm-up)', () => {
    const j = parseJob({ ...base, hparams: { lr: 1e-3, batchPerDomain: 8, steps: 10 } });
    expect(j.hparams).not.toHaveProperty('schedule');
    expect(j.hparams).not.toHaveProperty('warmupSteps');
    expect(lrScheduleOf(j.hparams)).toEqual({ name: 'constant', warmupSteps: 0 });
  });

  it('rejects an unknown schedule and a warm-up as long as the run, naming the key', () => {
    const bad = (h: object) => () => parseJob({ ...base, hparams: { lr: 1e-3, batchPerDomain: 8, steps: 10, ...h } });
    expect(bad({ schedule: 'step' })).toThrow(/^job\.hparams\.schedule: /);
    expect(bad({ warmupSteps: 10 })).toThrow(/^job\.hparams\.warmupSteps: 10 leaves no update after warm-up/);
  });

  it('trains: explicit constant = no schedule, bit for bit; cosine differs and reproduces', async () => {
    const dataset = await smallMnist();
    const run = async (tag: string, h: object) => {
      const dir = tmpDir(`sched-${tag}`);
      await runJob(tinyJob(dir, { hparams: h }), { dataset });
      return dir;
    };
    const plain = await run('plain', {});
    const constant = await run('constant', { schedule: 'constant', warmupSteps: 0 });
    const cos = await run('cosine', { schedule: 'cosine', warmupSteps: 3 });
    const cos2 = await run('cosine2', { schedule: 'cosine', warmupSteps: 3 });
    // Checkpoint metadata records the job, so compare the weights, not the files.
    const same = async (a: string, b: string) => {
      const [x, y] = [await tensors(join(a, 'last.safetensors')), await tensors(join(b, 'last.safetensors'))];
      return [...x].every(([k, v]) => sameBits(v, y.get(k)!));
    };
    expect(await same(constant, plain)).toBe(true);
    expect(fileBytes(constant, 'model.onnx').equals(fileBytes(plain, 'model.onnx'))).toBe(true);
    expect(metricsWithoutTimings(constant)).toEqual(metricsWithoutTimings(plain));
    expect(await same(cos, plain)).toBe(false);
    expect(await same(cos2, cos)).toBe(true);
    expect(fileBytes(cos2, 'model.onnx').equals(fileBytes(cos, 'model.onnx'))).toBe(true);
  });
});
