// TrainJob validation: defaults are filled in, and every kind of bad job fails with one line
// that names the offending key.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { jobRecord, loadJobFile, parseJob } from '../../src/train/job.js';
import { tmpDir } from './helpers.js';

const good = {
  model: { arch: 'mnist_cnn', width: 8 },
  data: { dataset: 'rotated_mnist', testEnvs: [0] },
  hparams: { lr: 1e-3, batchPerDomain: 16, steps: 100 },
  seeds: { runSeed: 1 },
  outDir: '/tmp/x',
};

function errorOf(value: unknown): InputError {
  try {
    parseJob(value);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).not.toContain('\n');
    return e as InputError;
  }
  throw new Error('expected parseJob to reject');
}

const edit = (f: (j: any) => void) => {
  const j = structuredClone(good);
  f(j);
  return j;
};

describe('parseJob', () => {
  it('fills the documented defaults', () => {
    const j = parseJob(good);
    expect(j.hparams).toMatchObject({ weightDecay: 0, dropout: 0, optimizer: 'adam', momentum: 0, headOnlySteps: 0 });
    expect(j).toMatchObject({ version: 1, evalEvery: 100, evalSplits: 'all', ep: 'cpu', init: {} });
    expect(j.data).toMatchObject({ dataSeed: 0, trialSeed: 0 });
    expect(parseJob(j)).toEqual(j); // idempotent: a parsed job passes through workers unchanged
    expect(jobRecord(j)).not.toHaveProperty('outDir');
  });

  it.each([
    ['a missing lr', edit((j) => delete j.hparams.lr), 'job.hparams.lr'],
    ['a negative lr', edit((j) => (j.hparams.lr = -1)), 'job.hparams.lr'],
    ['a non-integer step count', edit((j) => (j.hparams.steps = 2.5)), 'job.hparams.steps'],
    ['an unknown key', edit((j) => (j.hparams.learningRate = 1)), 'job.hparams.learningRate'],
    ['an unknown architecture', edit((j) => (j.model.arch = 'vgg')), 'job.model.arch'],
    ['dropout 1', edit((j) => (j.hparams.dropout = 1)), 'job.hparams.dropout'],
    ['more head-only steps than steps', edit((j) => (j.hparams.headOnlySteps = 101)), 'job.hparams.headOnlySteps'],
    ['momentum with adam', edit((j) => (j.hparams.momentum = 0.9)), 'job.hparams.momentum'],
    ['a repeated test domain', edit((j) => (j.data.testEnvs = [1, 1])), 'job.data.testEnvs'],
    ['a holdout with test domains', edit((j) => (j.data.holdout = { testSize: 10 })), 'job.data.holdout'],
    ['an unknown optimizer', edit((j) => (j.hparams.optimizer = 'lamb')), 'job.hparams.optimizer'],
    ['a missing outDir', edit((j) => delete j.outDir), 'job.outDir'],
  ])('rejects %s naming %s', (_what, job, key) => {
    expect(errorOf(job).where).toBe(key);
  });

  it('lists several problems on one line', () => {
    const e = errorOf(edit((j) => ((j.hparams.lr = 0), (j.seeds.runSeed = -1))));
    expect(e.message).toMatch(/job\.hparams\.lr: .*; job\.seeds\.runSeed: /);
  });

  it('reads job files and names the file on errors', () => {
    const dir = tmpDir('job');
    const ok = join(dir, 'ok.json');
    writeFileSync(ok, JSON.stringify(good));
    expect(loadJobFile(ok).hparams.lr).toBe(1e-3);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"model":');
    expect(() => loadJobFile(bad)).toThrow(new RegExp(`^${bad}: not JSON`));
    writeFileSync(bad, JSON.stringify(edit((j) => (j.hparams.steps = 0))));
    expect(() => loadJobFile(bad)).toThrow(/bad\.json: job\.hparams\.steps: /);
    expect(() => loadJobFile(join(dir, 'none.json'))).toThrow(/none\.json: cannot read job file: ENOENT/);
  });
});
