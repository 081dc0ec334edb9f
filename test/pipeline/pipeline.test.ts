// End to end on a tiny configuration: `run` writes every report file; after a crash mid-run the
// sweep resumes to bit-identical checkpoints and identical results; misfit external auxiliary
// checkpoints are all reported before anything trains.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { parseConfig, type PipelineConfigInput } from '../../src/pipeline/config.js';
import { createContext } from '../../src/pipeline/context.js';
import { runAll } from '../../src/pipeline/pipeline.js';
import { adaptChannels } from '../../src/pipeline/pool.js';
import { readWeights } from '../../src/pipeline/weights.js';
import { buildModel } from '../../src/graph/index.js';
import { silentProgress } from '../../src/pipeline/progress.js';

// In-process trainings (workers 0): worker threads re-transpile the TS sources under vitest.
const TINY: PipelineConfigInput = {
  workers: 0,
  threads: 1,
  model: { width: 8 },
  foundation: { samples: 600, testSize: 100, steps: 8, batch: 16 },
  aux: { tasks: ['fashion-rot', 'fashion-coarse'], samples: 300, steps: 6, batch: 12, evalEvery: 3, probe: { steps: 20 } },
  target: { datasets: ['colored_mnist'], testEnvs: [2], trials: [0], nHparams: 3, steps: 6, batchPerDomain: 2, evalEvery: 6, headOnlySteps: 2, probe: { steps: 30 }, fusing: { runs: 1 } },
  diagnostics: { alphas: [0, 0.5, 1] },
};

const info = () => ({ command: ['test'], startedAt: performance.now(), stageSeconds: {} });

/** Every file under dir (relative paths), for comparing two run directories. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

describe('pipeline end to end', () => {
  const root = mkdtempSync(join(tmpdir(), 'rt-pipeline-'));
  const refDir = join(root, 'ref');

  it('runs every stage and writes the report', async () => {
    const ctx = createContext(parseConfig({ ...TINY, runDir: refDir }), silentProgress);
    const { results, paths } = await runAll(ctx, info());
    for (const p of [paths.markdown, paths.csv, paths.json, paths.results, paths.runs, ...Object.values(paths.plots)]) expect(existsSync(p), p).toBe(true);
    expect(new Set(results.selections.map((s) => s.method))).toEqual(
      new Set(['erm', 'soups_uniform', 'soups_greedy', 'inter_training', 'fusing', 'ratatouille_uniform', 'ratatouille_greedy', 'ratatouille_dagger']),
    );
    // 3 Soups + 3 Ratatouille (h0 shared with Soups) + 1 fusing run records, 6 distinct trainings.
    expect(results.runs).toHaveLength(7);
    const rat0 = results.runs.find((r) => r.sweep === 'ratatouille' && r.hparamsSeed === 0)!;
    const soup0 = results.runs.find((r) => r.sweep === 'soups' && r.hparamsSeed === 0)!;
    expect([rat0.initSlot, rat0.val, rat0.testFull]).toEqual([0, soup0.val, soup0.testFull]);
    expect(results.runs.filter((r) => r.sweep === 'ratatouille').map((r) => r.initName)).toEqual(['foundation', 'fashion-coarse/h0', 'fashion-rot/h0']);
    const d = results.diagnostics[0];
    expect(d.interpolation.map((c) => c.kind).sort()).toEqual(['different_init', 'same_init']);
    expect(d.averaging).toHaveLength(4);
    expect(readFileSync(paths.markdown, 'utf8')).toMatch(/Ratatouille uniform/);

    // The fusing run started from Σ λ_i φ_i of the (channel-adapted) foundation and pool members.
    const fusingRun = JSON.parse(readFileSync(join(refDir, 'targets/colored_mnist/env2/trial0/runs/h0-fusing/result.json'), 'utf8'));
    const fusedFile: string = fusingRun.job.init.featurizer;
    const plan = JSON.parse(readFileSync(fusedFile.replace(/\.safetensors$/, '.json'), 'utf8')) as { featurizers: string[]; coefficients: number[] };
    const pool = JSON.parse(readFileSync(join(refDir, 'aux/pool.json'), 'utf8'));
    const memberFile = (m: string) => (m === 'foundation' ? pool.foundation : pool.tasks.flatMap((t: { members: { id: string; featurizer: string }[] }) => t.members).find((x: { id: string }) => x.id === m).featurizer);
    const parts = await Promise.all(plan.featurizers.map((m) => readWeights(memberFile(m))));
    const fused = await readWeights(fusedFile);
    const model = buildModel({ arch: 'mnist_cnn', width: 8, inputShape: [2, 28, 28], numClasses: 2 });
    for (const [name, v] of fused) {
      const expected = adaptChannels(parts[0], model, 2).get(name)!.map((_, i) => plan.coefficients.reduce((acc, c, k) => acc + c * adaptChannels(parts[k], model, 2).get(name)![i], 0));
      for (let i = 0; i < v.length; i += 97) expect(v[i]).toBeCloseTo(expected[i], 5);
    }
  }, 120_000);

  it('resumes after a crash mid-run to bit-identical results', async () => {
    // The reference run's outputs, then one run left as a crash leaves it: no done marker, no
    // result, a truncated checkpoint and a stray temporary; selections and results deleted.
    const models = files(refDir).filter((f) => f.endsWith('.safetensors'));
    expect(models.length).toBeGreaterThan(10);
    const bytes = new Map(models.map((f) => [f, readFileSync(join(refDir, f))]));
    const ref = JSON.parse(readFileSync(join(refDir, 'results.json'), 'utf8'));
    const crashed = join(refDir, 'targets/colored_mnist/env2/trial0/runs/h2-fashion-rot-h0');
    rmSync(join(crashed, 'done'));
    rmSync(join(crashed, 'result.json'));
    truncateSync(join(crashed, 'weights.safetensors'), 100);
    writeFileSync(join(crashed, '.last.safetensors.tmp-1-abcdef'), 'partial');
    rmSync(join(refDir, 'selections'), { recursive: true });
    rmSync(join(refDir, 'results.json'));
    const soup = join(refDir, 'targets/colored_mnist/env2/trial0/runs/h0-foundation/weights.safetensors');
    const before = statSync(soup).mtimeMs;

    const { results } = await runAll(createContext(parseConfig({ ...TINY, runDir: refDir }), silentProgress), info());
    expect(statSync(soup).mtimeMs).toBe(before); // finished runs were not trained again
    expect(existsSync(join(crashed, '.last.safetensors.tmp-1-abcdef'))).toBe(false);
    expect(results.runs).toEqual(ref.runs);
    expect(results.selections).toEqual(ref.selections);
    expect(results.diagnostics).toEqual(ref.diagnostics);
    expect(files(refDir).filter((f) => f.endsWith('.safetensors'))).toEqual(models);
    for (const f of models) expect(readFileSync(join(refDir, f)).equals(bytes.get(f)!), f).toBe(true);
  }, 120_000);

  it('reports every misfit external checkpoint before training anything', async () => {
    const dir = join(root, 'bad');
    const a = join(root, 'a.safetensors');
    const b = join(root, 'b.safetensors');
    const t = (name: string, shape: number[]) => ({ name, dtype: 'F32' as const, shape, data: new Float32Array(shape.reduce((x, y) => x * y, 1)) });
    writeSafetensors(a, [t('featurizer.conv1.weight', [8, 1, 5, 5])]);
    writeSafetensors(b, [t('featurizer.conv9.weight', [1])]);
    const config = parseConfig({ ...TINY, runDir: dir, aux: { ...TINY.aux, external: [{ name: 'a', path: a }, { name: 'b', path: b }, { name: 'c', path: join(root, 'missing.safetensors') }] } });
    const err = await runAll(createContext(config, silentProgress), info()).catch((e: Error) => e);
    const msg = String((err as Error).message);
    expect(msg).toMatch(/^\d+ problems in auxiliary checkpoints/);
    expect(msg).toContain(`aux.external a (${a}): tensor featurizer.conv1.weight has shape [8, 1, 5, 5], the featurizer needs [8, 1, 3, 3]`);
    expect(msg).toContain(`aux.external a (${a}): missing tensor featurizer.conv2.weight`);
    expect(msg).toContain(`aux.external b (${b}): tensor featurizer.conv9.weight is not part of the featurizer`);
    expect(msg).toContain('aux.external c');
    expect(existsSync(join(dir, 'foundation'))).toBe(false);
  });
});
