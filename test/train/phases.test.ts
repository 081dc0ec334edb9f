// The head-only phase (Ratatouille's second linear probe) and featurizer transplant: frozen
// featurizer weights stay bit-identical while the classifier trains; the first full update comes
// from a fresh Adam (every moved weight moves by exactly lr); a transplanted featurizer is the one
// trained; checkpoints that do not fit name the tensor and both shapes.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildModel } from '../../src/graph/index.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { runJob } from '../../src/train/trainer.js';
import { sameBits, smallMnist, tensors, tinyJob, tmpDir } from './helpers.js';

const isFeaturizer = (k: string) => k.startsWith('featurizer.');
const lr = 1e-2;

describe('head-only phase, then full fine-tuning with a fresh optimizer', () => {
  it('moves only the classifier first, then everything, restarting Adam at the switch', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('phases');
    const head = join(dir, 'head'), next = join(dir, 'next');
    // 6 head-only updates (0..5); the second run also does update 6, the first full one.
    await runJob(tinyJob(head, { hparams: { lr, steps: 6, headOnlySteps: 6 } }), { dataset });
    await runJob(tinyJob(next, { hparams: { lr, steps: 7, headOnlySteps: 6 } }), { dataset });

    const init = buildModel({ arch: 'mnist_cnn', width: 8, inputShape: [1, 28, 28], numClasses: 10 }).initParams(7);
    const afterHead = await tensors(join(head, 'last.safetensors'));
    const afterFull = await tensors(join(next, 'last.safetensors'));
    for (const [k, w] of afterHead) {
      if (isFeaturizer(k)) expect(sameBits(w, init.get(k)!), `${k} frozen`).toBe(true);
      else expect(sameBits(w, init.get(k)!), `${k} trained`).toBe(false);
    }
    // Adam's first update is lr * g / (|g| + eps): ±lr for every weight with a gradient. A
    // continued Adam (moments from the head phase) would move the classifier by other amounts.
    for (const [k, w] of afterFull) {
      const before = afterHead.get(k)!;
      const moved = w.map((v, i) => Math.abs(v - before[i]));
      const atLr = moved.filter((d) => Math.abs(d - lr) < 1e-4 * lr).length;
      expect(Math.max(...moved), k).toBeLessThanOrEqual(lr * (1 + 1e-4));
      expect(atLr / w.length, `${k}: share of weights moved by exactly lr`).toBeGreaterThan(0.9);
    }
  });

  it('skips the head-only phase when headOnlySteps is 0 (featurizer trains from update 0)', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('nohead');
    await runJob(tinyJob(dir, { hparams: { lr, steps: 1 } }), { dataset });
    const init = buildModel({ arch: 'mnist_cnn', width: 8, inputShape: [1, 28, 28], numClasses: 10 }).initParams(7);
    const after = await tensors(join(dir, 'last.safetensors'));
    expect(sameBits(after.get('featurizer.conv1.weight')!, init.get('featurizer.conv1.weight')!)).toBe(false);
  });
});

describe('initial weights', () => {
  it('trains a transplanted featurizer with the seeded head', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('transplant');
    // An "auxiliary run": a different seed and a 4-class head (other tensors in the file are ignored).
    const aux = buildModel({ arch: 'mnist_cnn', width: 8, inputShape: [1, 28, 28], numClasses: 4 });
    const auxParams = aux.initParams(99);
    const auxFile = join(dir, 'aux.safetensors');
    writeSafetensors(auxFile, aux.params.map((p) => ({ name: p.name, dtype: 'F32' as const, shape: p.shape, data: auxParams.get(p.name)! })));
    await runJob(tinyJob(join(dir, 'run'), { init: { featurizer: auxFile }, hparams: { lr, steps: 3, headOnlySteps: 3 } }), { dataset });
    const out = await tensors(join(dir, 'run', 'last.safetensors'));
    const init = buildModel({ arch: 'mnist_cnn', width: 8, inputShape: [1, 28, 28], numClasses: 10 }).initParams(7);
    for (const [k, w] of out) if (isFeaturizer(k)) expect(sameBits(w, auxParams.get(k)!), k).toBe(true);
    // The head trained from the run's own init: 3 Adam steps keep it within a few lr of it (another
    // init would be ~0.25, the U(-1/4, 1/4) bound, away).
    const head = out.get('classifier.weight')!, start = init.get('classifier.weight')!;
    expect(Math.max(...head.map((v, i) => Math.abs(v - start[i])))).toBeLessThan(5 * lr);
  });

  it('loads a full checkpoint strictly', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('full');
    await runJob(tinyJob(join(dir, 'a'), { hparams: { lr, steps: 2 } }), { dataset });
    const a = await tensors(join(dir, 'a', 'last.safetensors'));
    // Starting from a's weights, a head-only run keeps a's featurizer bit for bit.
    await runJob(tinyJob(join(dir, 'b'), { init: { checkpoint: join(dir, 'a', 'last.safetensors') }, hparams: { lr, steps: 1, headOnlySteps: 1 } }), { dataset });
    const b = await tensors(join(dir, 'b', 'last.safetensors'));
    for (const [k, w] of b) if (isFeaturizer(k)) expect(sameBits(w, a.get(k)!), k).toBe(true);
  });

  it('names the tensor and both shapes when a checkpoint does not fit', async () => {
    const dataset = await smallMnist();
    const dir = tmpDir('misfit');
    const wide = buildModel({ arch: 'mnist_cnn', width: 16, inputShape: [1, 28, 28], numClasses: 10 });
    const p = wide.initParams(0);
    const file = join(dir, 'wide.safetensors');
    writeSafetensors(file, wide.params.map((s) => ({ name: s.name, dtype: 'F32' as const, shape: s.shape, data: p.get(s.name)! })));
    const run = join(dir, 'run');
    await expect(runJob(tinyJob(run, { init: { featurizer: file } }), { dataset })).rejects.toThrow(
      `${file}: tensor featurizer.conv1.weight has shape [16, 1, 3, 3] but the model's is [8, 1, 3, 3]`,
    );
    await expect(runJob(tinyJob(run, { init: { checkpoint: file } }), { dataset })).rejects.toThrow(/tensor featurizer\.conv1\.weight has shape \[16, 1, 3, 3\] but the model's is \[8, 1, 3, 3\]/);
    const partial = join(dir, 'partial.safetensors');
    writeSafetensors(partial, [{ name: 'classifier.bias', dtype: 'F32', shape: [10], data: new Float32Array(10) }]);
    await expect(runJob(tinyJob(run, { init: { checkpoint: partial } }), { dataset })).rejects.toThrow(/tensor featurizer\.conv1\.weight \(shape \[8, 1, 3, 3\]\) is missing/);
  });
});
