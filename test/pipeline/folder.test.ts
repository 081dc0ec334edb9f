// The pipeline on an image-folder target with a foundation other than our pretrained MNIST_CNN:
// a tiny ResNet-18 given as a safetensors checkpoint, then an imported ONNX ResNet whose
// initializers are the foundation; one folder auxiliary task each. The report rows exist, the
// averaged checkpoints load strictly and are the mean of their members, and the image-dataset
// hparams are used. Bad model/foundation/aux combinations fail up front naming the key.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { buildModel, importOnnxModel, type Model } from '../../src/graph/index.js';
import { fileSha256 } from '../../src/io/digest.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { loadFullCheckpoint } from '../../src/train/checkpoint.js';
import { parseConfig, type PipelineConfigInput } from '../../src/pipeline/config.js';
import { createContext } from '../../src/pipeline/context.js';
import { IMAGE_HPARAMS } from '../../src/pipeline/hparams.js';
import { runAll, runAux } from '../../src/pipeline/pipeline.js';
import { silentProgress } from '../../src/pipeline/progress.js';
import { datasetSource } from '../../src/pipeline/tasks.js';
import { readWeights } from '../../src/pipeline/weights.js';
import type { Results } from '../../src/pipeline/report/index.js';

const RESNET_ONNX = join(import.meta.dirname, '../fixtures/import/resnet.onnx');

/** root/<domain>/<class>/<i>.png, 32×32 RGB: class c lights channel c, each domain its own tint and noise. */
async function makeFolder(root: string, domains: number, classes: number, perClass: number, seed: number): Promise<void> {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
  for (let d = 0; d < domains; d++) {
    for (let c = 0; c < classes; c++) {
      const dir = join(root, `domain${d}`, `class${c}`);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < perClass; i++) {
        const px = Buffer.alloc(32 * 32 * 3);
        for (let p = 0; p < 32 * 32; p++) {
          for (let ch = 0; ch < 3; ch++) px[p * 3 + ch] = Math.min(255, (ch === c % 3 ? 150 : 30) + 25 * d * (ch === (d + 1) % 3 ? 1 : 0) + Math.floor(rand() * 60));
        }
        await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(join(dir, `${i}.png`));
      }
    }
  }
}

const info = () => ({ command: ['test'], startedAt: performance.now(), stageSeconds: {} });

const SMALL = (target: string, aux: string): PipelineConfigInput => ({
  workers: 0,
  threads: 1,
  aux: { tasks: [`folder:${aux}`], steps: 3, batch: 4, evalEvery: 3, probe: { steps: 10 } },
  target: { datasets: [`folder:${target}`], testEnvs: [0], trials: [0], nHparams: 2, steps: 3, batchPerDomain: 2, evalEvery: 3, headOnlySteps: 1, probe: { steps: 10 }, fusing: { runs: 1 } },
  diagnostics: { alphas: [0, 0.5, 1] },
});

const METHODS = ['erm', 'soups_uniform', 'soups_greedy', 'inter_training', 'fusing', 'ratatouille_uniform', 'ratatouille_greedy', 'ratatouille_dagger'];
const ROWS = ['ERM', 'Soups uniform', 'Soups greedy', 'Inter-training', 'Fusing', 'Ratatouille uniform', 'Ratatouille greedy'];

/** Every uniform soup on disk loads strictly into `model` and is the mean of its members' kept checkpoints. */
async function checkSoups(runDir: string, results: Results, model: Model): Promise<void> {
  const sweeps = JSON.parse(readFileSync(join(runDir, 'sweeps.json'), 'utf8')) as { runs: { plan: { id: string; outDir: string } }[] };
  const outDir = new Map(sweeps.runs.map((r) => [r.plan.id, r.plan.outDir]));
  const cell = join(runDir, 'selections', results.datasets[0].name.replace(/[^A-Za-z0-9_.-]/g, '_'), 'env0', 'trial0');
  for (const sweep of ['soups', 'ratatouille']) {
    for (const selection of ['uniform', 'greedy']) {
      const file = join(cell, `${sweep}-${selection}.safetensors`);
      expect(existsSync(file), file).toBe(true);
      const params = model.initParams(0);
      await loadFullCheckpoint(file, model, params); // every parameter and buffer, with its shape
      if (selection !== 'uniform') continue;
      const members = results.selections.find((s) => s.method === `${sweep}_uniform`)!.members;
      const ws = await Promise.all(members.map((id) => readWeights(join(outDir.get(id)!, 'weights.safetensors'))));
      for (const [name, v] of params) {
        for (let i = 0; i < v.length; i += 7) expect(v[i]).toBeCloseTo(ws.reduce((a, w) => a + w.get(name)![i], 0) / ws.length, 5);
      }
    }
  }
}

function checkReport(results: Results, markdown: string): void {
  expect(new Set(results.selections.map((s) => s.method))).toEqual(new Set(METHODS));
  for (const row of ROWS) expect(markdown).toContain(row);
  expect(results.runs.every((r) => r.status === 'ok'), JSON.stringify(results.runs.map((r) => r.reason))).toBe(true);
  // A 32×32 folder dataset still takes MR's image distribution (by kind, not size): h0 is its default.
  expect(results.runs.find((r) => r.sweep === 'soups' && r.hparamsSeed === 0)!.hparams.lr).toBe(IMAGE_HPARAMS.defaults.lr);
  expect(results.runs.filter((r) => r.sweep === 'ratatouille').map((r) => r.initName)).toEqual(['foundation', 'folder-aux/h0']);
}

describe('pipeline on image folders', () => {
  const root = mkdtempSync(join(tmpdir(), 'rt-folder-'));
  const target = join(root, 'target');
  const aux = join(root, 'aux');
  const ready = (async () => {
    await makeFolder(target, 3, 3, 3, 1);
    await makeFolder(aux, 2, 2, 4, 2);
  })();

  it('runs Ratatouille with a ResNet-18 foundation checkpoint and a folder auxiliary task', async () => {
    await ready;
    const spec = { arch: 'resnet18', baseWidth: 4, inputShape: [3, 32, 32], numClasses: 7 } as const;
    const init = buildModel(spec).initParams(3);
    const foundation = join(root, 'resnet18.safetensors');
    // A whole network: its head (another class count) is ignored, the featurizer is the foundation.
    writeSafetensors(foundation, [...init].map(([name, data]) => ({ name, dtype: 'F32' as const, shape: buildModel(spec).params.find((p) => p.name === name)!.shape, data })));
    const runDir = join(root, 'resnet');
    const config = parseConfig({ ...SMALL(target, aux), runDir, model: { arch: 'resnet18', baseWidth: 4, imageSize: 32 }, foundation: { checkpoint: foundation } });
    const { results, paths } = await runAll(createContext(config, silentProgress), info());
    checkReport(results, readFileSync(paths.markdown, 'utf8'));
    expect(results.datasets[0].envNames).toEqual(['domain0', 'domain1', 'domain2']);
    // The foundation featurizer is the checkpoint's featurizer, BatchNorm statistics included.
    const pool = JSON.parse(readFileSync(join(runDir, 'aux/pool.json'), 'utf8'));
    const f = await readWeights(pool.foundation);
    expect([...f.keys()].sort()).toEqual([...init.keys()].filter((k) => k.startsWith('featurizer.')).sort());
    for (const [k, v] of f) expect(v).toEqual(init.get(k));
    expect(pool.tasks[0].sources).toEqual([datasetSource(`folder:${aux}`)]);
    await checkSoups(runDir, results, buildModel({ ...spec, numClasses: 3 }));
  }, 60_000);

  it('runs Ratatouille with an imported ONNX model as the foundation', async () => {
    await ready;
    const runDir = join(root, 'onnx');
    const config = parseConfig({ ...SMALL(target, aux), runDir, model: { arch: 'onnx', onnx: RESNET_ONNX } });
    const { results, paths } = await runAll(createContext(config, silentProgress), info());
    checkReport(results, readFileSync(paths.markdown, 'utf8'));
    const imported = await importOnnxModel(RESNET_ONNX, { numClasses: 3 });
    const pool = JSON.parse(readFileSync(join(runDir, 'aux/pool.json'), 'utf8'));
    const f = await readWeights(pool.foundation);
    const featurizer = imported.model.params.filter((p) => p.group === 'featurizer').map((p) => p.name);
    expect([...f.keys()].sort()).toEqual(featurizer.sort());
    for (const [k, v] of f) expect(v).toEqual(imported.params.get(k));
    await checkSoups(runDir, results, imported.model);
    // Every target job records the model file's content: replacing the file reruns, never resumes.
    const resultFiles = (readdirSync(join(runDir, 'targets'), { recursive: true }) as string[]).filter((f) => f.endsWith('result.json'));
    expect(resultFiles.length).toBeGreaterThan(0);
    for (const f of resultFiles) expect(JSON.parse(readFileSync(join(runDir, 'targets', f), 'utf8')).job.model.sha256).toBe(fileSha256(RESNET_ONNX));
  }, 60_000);

  it('skips an auxiliary folder built from the target, however its path is spelled', () => {
    expect(datasetSource(`folder:${target}/`)).toBe(datasetSource(`folder:${target}`));
    expect(datasetSource(`folder:${join(target, '..', 'target')}`)).toBe(datasetSource(`folder:${target}`));
    expect(datasetSource(`folder:${aux}`)).not.toBe(datasetSource(`folder:${target}`));
  });

  it('refuses bad model, foundation and auxiliary combinations before training, naming the key', async () => {
    await ready;
    const run = async (extra: PipelineConfigInput) => {
      const dir = join(root, `bad-${Math.random().toString(36).slice(2)}`);
      const err = await runAux(createContext(parseConfig({ ...SMALL(target, aux), runDir: dir, ...extra }), silentProgress)).then(
        () => null,
        (e: Error) => e,
      );
      expect(existsSync(join(dir, 'foundation'))).toBe(false);
      return String(err?.message);
    };
    expect(await run({ model: { arch: 'resnet18', imageSize: 32 } })).toMatch(/^config\.foundation\.checkpoint: required with model\.arch resnet18: pretraining is built in for mnist_cnn only/);
    expect(await run({ model: { arch: 'onnx', onnx: RESNET_ONNX }, aux: { tasks: ['fashion-rot'] } })).toMatch(/^config\.aux\.tasks: fashion-rot is a built-in 1×28×28 task but the onnx pool takes 3×32×32/);
    expect(await run({ model: { arch: 'mnist_cnn' } })).toMatch(/^config\.aux\.tasks: folder:.* has 3×28×28 samples but the mnist_cnn pool takes 1×28×28/);
    expect(await run({ model: { arch: 'onnx', onnx: RESNET_ONNX }, aux: { tasks: [] }, target: { ...SMALL(target, aux).target, datasets: ['rotated_mnist'] } })).toMatch(/^config\.target\.datasets: rotated_mnist has 1×28×28 samples but .*resnet\.onnx takes 3×32×32/);
    // Checkpoints of another architecture: every one listed at once.
    const mnist = join(root, 'mnist.safetensors');
    const m = buildModel({ arch: 'mnist_cnn', width: 8, inputShape: [1, 28, 28], numClasses: 10 });
    writeSafetensors(mnist, m.params.map((p) => ({ name: p.name, dtype: 'F32' as const, shape: p.shape, data: new Float32Array(p.shape.reduce((a, b) => a * b, 1)) })));
    const msg = await run({ model: { arch: 'resnet18', baseWidth: 4, imageSize: 32 }, foundation: { checkpoint: mnist }, aux: { tasks: [`folder:${aux}`], external: [{ name: 'x', path: mnist }] } });
    expect(msg).toMatch(/problems in auxiliary checkpoints/);
    expect(msg).toContain(`foundation.checkpoint (${mnist}): missing tensor featurizer.layer1.0.conv1.weight`);
    expect(msg).toContain(`aux.external x (${mnist}): tensor featurizer.conv1.weight has shape [8, 1, 3, 3], the featurizer needs [4, 3, 7, 7]`);
    expect(() => parseConfig({ model: { onnx: RESNET_ONNX } })).toThrow(/^config\.model\.onnx: applies to model\.arch onnx only/);
    expect(() => parseConfig({ model: { arch: 'onnx' } })).toThrow(/^config\.model\.onnx: required with model\.arch onnx/);
    expect(() => parseConfig({ model: { arch: 'mnist_cnn', baseWidth: 8 } })).toThrow(/^config\.model\.baseWidth: applies to model\.arch resnet18\|resnet50 only/);
  }, 30_000);
});
