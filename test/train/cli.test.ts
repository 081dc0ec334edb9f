// `ratatouille train` through the real parser: a short run on the npm digits writes the promised
// files and prints result.json with --json; bad options fail with one line naming the option.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../cli/run.js';
import { tmpDir } from './helpers.js';

const base = ['train', '--model', 'mnist_cnn', '--width', '8', '--data', 'mnist', '--steps', '4', '--batch', '8', '--threads', '1'];

describe('ratatouille train', () => {
  it('trains on mnist with a 2,000-digit holdout and writes the run', async () => {
    const out = tmpDir('cli');
    const r = await cli(...base, '--out', out, '--json');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^train: 4\/4 /m); // progress goes to stderr, stdout holds only the JSON
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ status: 'done', stepsDone: 4, dataset: { name: 'mnist', holdoutSize: 2000 } });
    // The command's own defaults (README: chosen by validation): constant lr, standardised inputs, a weight average.
    expect(result.job.hparams).toMatchObject({ lr: 1e-3, optimizer: 'adam', batchPerDomain: 8, steps: 4, schedule: 'constant', warmupSteps: 0, ema: 0.99 });
    expect(result.job.data.standardize).toBe(true); // trained from scratch on tensor data
    expect(result.inputStats.mean).toHaveLength(1);
    for (const f of ['model.onnx', 'weights.safetensors', 'metrics.jsonl', 'last.safetensors', 'result.json', 'done']) expect(existsSync(join(out, f)), f).toBe(true);
  });

  it('tunes on a dev set with replicas and a weight average when asked', async () => {
    const out = tmpDir('cli-dev');
    const r = await cli(...base.map((a) => (a === '1' ? '2' : a)), '--replicas', '2', '--dev', '1000', '--ema', '0.9', '--out', out, '--json');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.job).toMatchObject({ threads: 2, replicas: 2, hparams: { ema: 0.9 }, data: { holdout: { testSize: 2000, devSize: 1000 } } });
    expect(result.dataset).toMatchObject({ holdoutSize: 1000, dev: true });
    expect(result.replicas).toBe(2);
    expect(r.stderr).toMatch(/ dev \d+\.\d+%/);
  });

  it('feeds raw pixels with --no-standardize and keeps raw weights with --no-ema', async () => {
    const out = tmpDir('cli-raw');
    const r = await cli(...base.map((a) => (a === '4' ? '1' : a)), '--no-standardize', '--no-ema', '--out', out, '--json', '--in-process');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.job.data.standardize).toBe(false);
    expect(result.job.hparams).not.toHaveProperty('ema');
    expect(result).not.toHaveProperty('inputStats');
  });

  it.each([
    [['--model', 'vgg'], /^ratatouille: --model: must be one of mnist_cnn, resnet18, resnet50 \(got "vgg"\)\n$/],
    [['--data', 'nope'], /^ratatouille: nope: unknown dataset; one of .*\n$/],
    [['--lr', '-1'], /^ratatouille: --lr: Too small: expected number to be >0\n$/],
    [['--lr', 'fast'], /^ratatouille: --lr: must be a number \(got "fast"\)\n$/],
    [['--test-env', '0'], /^ratatouille: --test-env: \[0\] leaves no training domain in mnist\n$/],
    [['--model', 'net.onnx', '--width', '8'], /^ratatouille: --width: does not apply to an imported \.onnx model\n$/],
    [['--schedule', 'step'], /^ratatouille: --schedule: must be one of constant, cosine, linear \(got "step"\)\n$/],
    [['--warmup-steps', '4'], /^ratatouille: --warmup-steps: 4 leaves no update after warm-up \(steps 4\)\n$/],
    [['--init', '/nonexistent.safetensors'], /^ratatouille: \/nonexistent\.safetensors: .*\n$/],
    [['--replicas', '0'], /^ratatouille: --replicas: must be an integer in \[1, \d+\] \(got "0"\)\n$/],
    [['--ema', '1'], /^ratatouille: --ema: Too big: expected number to be <1\n$/],
    [['--dev', '8000'], /^ratatouille: --dev: 8000 leaves nothing to train on \(8000 samples outside the test set\)\n$/],
    [['--shift', '28'], /^ratatouille: --shift: must be an integer from 0 to 27 pixels, got 28\n$/],
    [['--data', 'rotated_mnist', '--test-env', '0', '--dev', '10'], /^ratatouille: --dev: applies to single-domain data with a holdout test set .*\n$/],
  ])('rejects %j with one line', async (extra, message) => {
    const out = tmpDir('cli-bad');
    const argv = [...base];
    for (let i = 0; i < extra.length; i += 2) {
      const at = argv.indexOf(extra[i]);
      if (at >= 0) argv[at + 1] = extra[i + 1];
      else argv.push(extra[i], extra[i + 1]);
    }
    const r = await cli(...argv, '--out', out, '--in-process');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(existsSync(join(out, 'done'))).toBe(false);
  });

  it('names a missing .onnx model in one line, and refuses mixing --job with job options', async () => {
    const out = tmpDir('cli-onnx');
    const r = await cli('train', '--model', join(out, 'm.onnx'), '--data', 'mnist', '--steps', '1', '--out', out, '--in-process');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^ratatouille: .*m\.onnx: /);
    const job = join(out, 'job.json');
    writeFileSync(job, '{}');
    const mixed = await cli('train', '--job', job, '--lr', '0.1');
    expect(mixed.stderr).toBe('ratatouille: --job: cannot be combined with --lr (edit the job file instead)\n');
  });
});
