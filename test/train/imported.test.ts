// Fine-tuning an imported torch.onnx.export model (the graph team's fixture): its weights are
// the init, a head of another class count is drawn fresh, and training runs like any model.
import { appendFileSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeTensorDataset } from '../../src/data/index.js';
import { importOnnxModel } from '../../src/graph/import.js';
import { fileSha256 } from '../../src/io/digest.js';
import { runJob } from '../../src/train/trainer.js';
import { sameBits, smallMnist, tensors, tinyJob, tmpDir } from './helpers.js';

const fixture = fileURLToPath(new URL('../fixtures/import/mnist_cnn.onnx', import.meta.url));

/** The small digit set at 14×14 (2×2 mean pooling), the fixture's input size. */
async function digits14() {
  const d = await smallMnist();
  const n = d.labels.length;
  const images = new Uint8Array(n * 196);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < 14; r++) {
      for (let c = 0; c < 14; c++) {
        const at = (rr: number, cc: number) => d.images[i * 784 + rr * 28 + cc];
        images[i * 196 + r * 14 + c] = Math.round((at(2 * r, 2 * c) + at(2 * r, 2 * c + 1) + at(2 * r + 1, 2 * c) + at(2 * r + 1, 2 * c + 1)) / 4);
      }
    }
  }
  return makeTensorDataset({ name: 'digits14', domains: ['all'], classes: d.classes, shape: [1, 14, 14], images, labels: d.labels, offsets: d.offsets });
}

describe('imported ONNX models', () => {
  it('trains the head on the imported featurizer, then everything, and lowers the loss', async () => {
    const dataset = await digits14();
    const { model, params } = await importOnnxModel(fixture, { numClasses: 10 });
    const dir = tmpDir('import');
    const job = tinyJob(dir, { model: { arch: 'onnx', path: fixture }, data: { dataset: 'digits14', holdout: { testSize: 400 } }, evalEvery: 39, hparams: { steps: 40, headOnlySteps: 20 } });
    const r = await runJob(job, { dataset });
    expect(r.status).toBe('done');
    expect(r.model).toMatchObject({ arch: 'onnx', inputShape: [1, 14, 14], numClasses: 10 });
    const [first, last] = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(last.loss).toBeLessThan(first.loss);
    // Head-only for 20 updates: a run stopped there still has the imported featurizer, bit for bit.
    const head = tmpDir('import-head');
    await runJob({ ...job, outDir: head, hparams: { ...job.hparams, steps: 20 } }, { dataset });
    const after = await tensors(join(head, 'last.safetensors'));
    for (const p of model.params) if (p.group === 'featurizer' && p.kind === 'param') expect(sameBits(after.get(p.name)!, params.get(p.name)!), p.name).toBe(true);
  });

  it('refuses a model file whose content is not the one the job recorded', async () => {
    const dataset = await digits14();
    const copy = join(tmpDir('import-digest'), 'model.onnx');
    copyFileSync(fixture, copy);
    const job = tinyJob(tmpDir('import-digest-run'), { model: { arch: 'onnx', path: copy, sha256: fileSha256(fixture) }, data: { dataset: 'digits14', holdout: { testSize: 400 } }, evalEvery: 2, hparams: { steps: 2 } });
    expect((await runJob(job, { dataset })).status).toBe('done');
    appendFileSync(copy, Buffer.from([0]));
    const err = (await runJob({ ...job, outDir: tmpDir('import-digest-changed') }, { dataset }).catch((e: Error) => e)) as Error;
    expect(err.message).toBe(`${copy}: content changed since the job was made (sha256 ${fileSha256(copy).slice(0, 12)}…, the job expects ${fileSha256(fixture).slice(0, 12)}…)`);
  });
});
