// Synthetic results for the report tests: one dataset (RotatedMNIST, test envs 0° and 75°,
// trials 0–2) with Soups, Ratatouille and fusing runs, one diverged run, chosen selection values
// whose table cells were computed by hand, and diagnostics whose barriers and distances are known.
import type { Diagnostics, MethodResult, Method, Results, RunRecord, Sweep } from '../../../src/pipeline/report/schema.js';

export const DATASET = 'RotatedMNIST';
export const ENV_NAMES = ['0°', '15°', '30°', '45°', '60°', '75°'];
const TEST_ENVS = [0, 5];
const TRIALS = [0, 1, 2];
const AUX = ['rot90pred', 'fashion', 'colorpred'];

/** Per method and test env, the test accuracy of trials 0, 1, 2 (undefined = missing). */
export const SELECTED: Partial<Record<Method, Record<number, (number | undefined)[]>>> = {
  erm: { 0: [0.8, 0.85, 0.9], 5: [0.7, 0.72, 0.74] },
  soups_uniform: { 0: [0.8125, 0.8125, 0.8125], 5: [0.75, 0.76, 0.77] },
  soups_greedy: { 0: [0.82, 0.83, 0.84], 5: [0.74, 0.76, undefined] },
  inter_training: { 0: [0.83, 0.8, 0.86], 5: [0.73, 0.71, 0.72] },
  ratatouille_uniform: { 0: [0.8022, 0.8112, 0.7932], 5: [0.77, 0.75, 0.78] },
  ratatouille_greedy: { 0: [0.79, 0.8, 0.81], 5: [undefined, undefined, undefined] },
};
export const DAGGER: Record<number, number> = { 0: 0.8125, 5: 0.765 };

export const runId = (ds: string, env: number, trial: number, sweep: Sweep, h: number) => `${ds}/e${env}/t${trial}/${sweep}/h${h}`;
export const DIVERGED = runId(DATASET, 5, 1, 'ratatouille', 3);

function runsOf(ds: string, env: number, trial: number): RunRecord[] {
  const base = (sweep: Sweep, h: number, initSlot: number | null, initName: string): RunRecord => ({
    id: runId(ds, env, trial, sweep, h),
    dataset: ds,
    testEnv: env,
    trial,
    sweep,
    hparamsSeed: h,
    initSlot,
    initName,
    hparams: { lr: 5e-4 + 1e-4 * h, weightDecay: h % 2 ? 1e-4 : 1e-6, dropout: 0.05 * (h % 3), batchSize: 80 },
    status: 'ok',
    reason: null,
    bestStep: 100 + 50 * h,
    val: 0.9 - 0.01 * h,
    testIn: 0.8 - 0.01 * h,
    testFull: 0.79 - 0.01 * h,
    initDistance: sweep === 'soups' ? 0.09 : initSlot ? 0.05 : 0.09,
  });
  const runs: RunRecord[] = [];
  for (let h = 0; h < 4; h++) runs.push(base('soups', h, 0, 'foundation'));
  for (let h = 0; h < 4; h++) runs.push(base('ratatouille', h, h, h === 0 ? 'foundation' : AUX[h - 1]));
  runs.push({ ...base('fusing', 0, null, 'fused'), initDistance: null });
  for (const r of runs) {
    if (r.id === DIVERGED) Object.assign(r, { status: 'diverged', reason: 'loss is NaN at step 120 | <check lr & wd>', bestStep: null, val: null, testIn: null, testFull: null, initDistance: null });
  }
  return runs;
}

function diagnosticsOf(ds: string, env: number, trial: number, cellIndex: number, runs: RunRecord[]): Diagnostics {
  const ok = (sweep: Sweep) => runs.filter((r) => r.sweep === sweep && r.status === 'ok').map((r) => r.id);
  const soups = ok('soups');
  const rat = ok('ratatouille');
  const id = (sweep: Sweep, h: number) => runId(ds, env, trial, sweep, h);
  const alphas = [0, 0.25, 0.5, 0.75, 1];
  return {
    dataset: ds,
    testEnv: env,
    trial,
    averaging: [
      { sweep: 'soups', selection: 'uniform', testMetric: 'full', rejected: [], points: soups.map((added, i) => ({ k: i + 1, added, test: 0.78 + 0.01 * i, val: null })) },
      { sweep: 'soups', selection: 'greedy', testMetric: 'full', rejected: soups.slice(2), points: soups.slice(0, 2).map((added, i) => ({ k: i + 1, added, test: 0.79 + 0.01 * i, val: 0.9 + 0.005 * i })) },
      { sweep: 'ratatouille', selection: 'uniform', testMetric: 'full', rejected: [], points: rat.map((added, i) => ({ k: i + 1, added, test: 0.8 - 0.005 * i, val: null })) },
      { sweep: 'ratatouille', selection: 'greedy', testMetric: 'full', rejected: rat.slice(1), points: [{ k: 1, added: rat[0], test: 0.8, val: 0.91 }] },
    ],
    interpolation: [
      // Barrier 9 − cellIndex points: cells 0..5 give 9, 8, …, 4 (mean 6.5).
      { kind: 'different_init', a: id('ratatouille', 1), b: id('ratatouille', 2), testMetric: 'full', alphas, test: [0.8, 0.76, 0.7 + 0.01 * cellIndex, 0.75, 0.78], val: [0.9, 0.86, 0.82, 0.86, 0.89] },
      // Barrier 1 point everywhere.
      { kind: 'same_init', a: id('soups', 0), b: id('soups', 1), testMetric: 'full', alphas, test: [0.8, 0.8, 0.79, 0.8, 0.8], val: [0.9, 0.9, 0.9, 0.9, 0.9] },
    ],
    disagreement: {
      runs: [...soups, ...rat],
      testMetric: 'full',
      values: [...soups, ...rat].map((a, i, all) => all.map((b, j) => (i === j ? 0 : a.includes('soups') === b.includes('soups') ? 0.05 : 0.12))),
    },
    ensembles: [
      { sweep: 'soups', members: soups, test: 0.83, testMetric: 'full' },
      { sweep: 'ratatouille', members: rat, test: 0.84, testMetric: 'full' },
    ],
  };
}

/** The synthetic results; `extraDataset` adds a second dataset (same shapes, all values +1 point). */
export function syntheticResults(extraDataset?: string): Results {
  const datasets = [DATASET, ...(extraDataset ? [extraDataset] : [])];
  const runs: RunRecord[] = [];
  const selections: MethodResult[] = [];
  const diagnostics: Diagnostics[] = [];
  datasets.forEach((ds, di) => {
    let cellIndex = 0;
    for (const env of TEST_ENVS) {
      for (const trial of TRIALS) {
        const cellRuns = runsOf(ds, env, trial);
        runs.push(...cellRuns);
        diagnostics.push(diagnosticsOf(ds, env, trial, cellIndex++, cellRuns));
        for (const [method, byEnv] of Object.entries(SELECTED) as [Method, Record<number, (number | undefined)[]>][]) {
          const test = byEnv[env][trial];
          if (test === undefined) continue;
          const single = method === 'erm' || method === 'inter_training';
          const sweep: Sweep = method.startsWith('soups') || method === 'erm' ? 'soups' : 'ratatouille';
          const members = cellRuns.filter((r) => r.sweep === sweep && r.status === 'ok').map((r) => r.id);
          selections.push({
            dataset: ds,
            testEnv: env,
            trial,
            method,
            test: test + 0.01 * di,
            testMetric: single ? 'in' : 'full',
            val: { value: 0.9, metric: single ? 'domain_mean' : 'pooled' },
            members: single ? members.slice(0, 1) : members,
          });
        }
      }
      const all = runs.filter((r) => r.dataset === ds && r.testEnv === env && r.sweep === 'ratatouille' && r.status === 'ok').map((r) => r.id);
      selections.push({ dataset: ds, testEnv: env, trial: null, method: 'ratatouille_dagger', test: DAGGER[env] + 0.01 * di, testMetric: 'full', val: null, members: all });
    }
  });
  return {
    schema: 'ratatouille-results/1',
    meta: {
      command: ['ratatouille', 'run', '--config', 'demo.yaml'],
      config: { dataset: DATASET, nHparams: 4, targetSteps: 300 },
      seeds: { trials: TRIALS, data: 0 },
      machine: { os: 'Linux 6.1', cpu: 'Test CPU', cores: 2, memoryBytes: 24 * 2 ** 30, node: '20.17.0', accelerator: null },
      wallSeconds: 283.4,
      stageSeconds: { foundation: 25, auxiliary: 40 },
      version: '0.1.0',
      createdAt: null,
    },
    datasets: datasets.map((name) => ({ name, envNames: ENV_NAMES, testEnvs: TEST_ENVS, trials: TRIALS })),
    runs,
    selections,
    diagnostics,
    auxiliary: {
      tasks: AUX.map((name, i) => ({ name, distanceToFoundation: [0.1, 0.12, 0.08][i] })),
      pairs: [
        { a: AUX[0], b: AUX[1], distance: 0.15 },
        { a: AUX[0], b: AUX[2], distance: 0.17 },
        { a: AUX[1], b: AUX[2], distance: 0.16 },
      ],
    },
  };
}
