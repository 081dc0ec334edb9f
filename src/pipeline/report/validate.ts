// Reading results back: zod checks each section's shape, then crossChecks ties the sections
// together (members exist, belong to the right cell and sweep, and ran to completion). Every
// problem is found before any report is rendered; the error names the file and the first one.
import { readFileSync } from 'node:fs';
import { InputError } from '../../errors.js';
import { METHOD_SWEEP, SINGLE_RUN_METHODS, resultsSchema, type DatasetInfo, type Results, type RunRecord } from './schema.js';

interface Problem {
  path: string;
  message: string;
}

function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(root)';
}

function fail(where: string, problems: Problem[]): never {
  const [first] = problems;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
  throw new InputError(where, `${first.path}: ${first.message}${more}`);
}

/** Validates an already-parsed value; returns it with keys in schema order (stable serialisation). */
export function validateResults(value: unknown, where = 'results'): Results {
  const parsed = resultsSchema.safeParse(value);
  if (!parsed.success) fail(where, parsed.error.issues.map((i) => ({ path: pathText(i.path), message: i.message })));
  const problems = crossCheck(parsed.data);
  if (problems.length) fail(where, problems);
  return parsed.data;
}

export function parseResults(text: string, where = 'results'): Results {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(where, `not valid JSON (${(e as Error).message})`);
  }
  return validateResults(value, where);
}

export function readResults(path: string): Results {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseResults(text, path);
}

function duplicates<T>(items: readonly T[], key: (t: T) => string): Set<number> {
  const seen = new Set<string>();
  const out = new Set<number>();
  items.forEach((t, i) => {
    const k = key(t);
    if (seen.has(k)) out.add(i);
    seen.add(k);
  });
  return out;
}

/** Consistency between sections, which zod's per-field checks cannot see. */
export function crossCheck(r: Results): Problem[] {
  const problems: Problem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  const datasets = new Map<string, DatasetInfo>(r.datasets.map((d) => [d.name, d]));
  const runs = new Map<string, RunRecord>(r.runs.map((x) => [x.id, x]));

  for (const i of duplicates(r.datasets, (d) => d.name)) add(`datasets[${i}].name`, `duplicate dataset "${r.datasets[i].name}"`);
  r.datasets.forEach((d, i) => {
    d.testEnvs.forEach((e, j) => {
      if (e >= d.envNames.length) add(`datasets[${i}].testEnvs[${j}]`, `env ${e} is out of range (${d.envNames.length} domains)`);
    });
    for (const j of duplicates(d.testEnvs, String)) add(`datasets[${i}].testEnvs[${j}]`, 'duplicate test env');
    for (const j of duplicates(d.trials, String)) add(`datasets[${i}].trials[${j}]`, 'duplicate trial');
  });

  /** The cell (dataset, env, trial) must be one the datasets section declares; trial null = any. */
  const cell = (path: string, dataset: string, testEnv: number, trial: number | null): boolean => {
    const d = datasets.get(dataset);
    const before = problems.length;
    if (!d) add(`${path}.dataset`, `unknown dataset "${dataset}"`);
    else if (!d.testEnvs.includes(testEnv)) add(`${path}.testEnv`, `${testEnv} is not a test env of ${dataset}`);
    else if (trial !== null && !d.trials.includes(trial)) add(`${path}.trial`, `${trial} is not a trial of ${dataset}`);
    return problems.length === before;
  };
  /** The run must exist and belong to the same (dataset, env[, trial]). */
  const member = (path: string, runId: string, at: { dataset: string; testEnv: number; trial: number | null }): RunRecord | null => {
    const run = runs.get(runId);
    if (!run) {
      add(path, `unknown run "${runId}"`);
      return null;
    }
    if (run.dataset !== at.dataset || run.testEnv !== at.testEnv || (at.trial !== null && run.trial !== at.trial)) {
      add(path, `run "${runId}" belongs to ${run.dataset} env ${run.testEnv} trial ${run.trial}`);
      return null;
    }
    return run;
  };

  for (const i of duplicates(r.runs, (x) => x.id)) add(`runs[${i}].id`, `duplicate run id "${r.runs[i].id}"`);
  r.runs.forEach((run, i) => {
    const p = `runs[${i}]`;
    cell(p, run.dataset, run.testEnv, run.trial);
    if (run.status === 'ok') {
      if (run.reason !== null) add(`${p}.reason`, 'must be null for an ok run');
      if (run.val === null || run.bestStep === null) add(p, 'an ok run needs val and bestStep');
    } else if (!run.reason) add(`${p}.reason`, `a ${run.status} run needs a reason`);
    if (run.sweep === 'soups' && run.initSlot !== 0) add(`${p}.initSlot`, 'soups runs start from the foundation (slot 0)');
    if (run.sweep === 'fusing' && run.initSlot !== null) add(`${p}.initSlot`, 'fusing runs start from fused featurizers (null)');
    if (run.sweep === 'ratatouille' && run.initSlot === null) add(`${p}.initSlot`, 'ratatouille runs need a slot');
  });

  for (const i of duplicates(r.selections, (s) => `${s.dataset}\0${s.method}\0${s.testEnv}\0${s.trial}`)) {
    add(`selections[${i}]`, 'duplicate (dataset, method, testEnv, trial)');
  }
  const metricOf = new Map<string, string>();
  r.selections.forEach((s, i) => {
    const p = `selections[${i}]`;
    const dagger = s.method === 'ratatouille_dagger';
    if (dagger !== (s.trial === null)) add(`${p}.trial`, dagger ? 'must be null (all trials) for ratatouille_dagger' : 'must be a trial seed');
    if (!cell(p, s.dataset, s.testEnv, s.trial)) return;
    if (SINGLE_RUN_METHODS.includes(s.method) && s.members.length !== 1) add(`${p}.members`, `${s.method} selects exactly one run`);
    for (const j of duplicates(s.members, String)) add(`${p}.members[${j}]`, 'duplicate member');
    s.members.forEach((m, j) => {
      const run = member(`${p}.members[${j}]`, m, s);
      if (!run) return;
      if (run.status !== 'ok') add(`${p}.members[${j}]`, `run "${m}" is ${run.status} and must be left out of selection`);
      if (run.sweep !== METHOD_SWEEP[s.method]) add(`${p}.members[${j}]`, `run "${m}" is from the ${run.sweep} sweep, ${s.method} uses ${METHOD_SWEEP[s.method]}`);
    });
    const key = `${s.dataset}\0${s.method}`;
    const seen = metricOf.get(key);
    if (seen && seen !== s.testMetric) add(`${p}.testMetric`, `${s.method} on ${s.dataset} mixes test metrics ${seen} and ${s.testMetric}`);
    metricOf.set(key, s.testMetric);
  });

  for (const i of duplicates(r.diagnostics, (d) => `${d.dataset}\0${d.testEnv}\0${d.trial}`)) add(`diagnostics[${i}]`, 'duplicate (dataset, testEnv, trial)');
  r.diagnostics.forEach((d, i) => {
    const p = `diagnostics[${i}]`;
    if (!cell(p, d.dataset, d.testEnv, d.trial)) return;
    for (const j of duplicates(d.averaging, (c) => `${c.sweep}\0${c.selection}`)) add(`${p}.averaging[${j}]`, 'duplicate (sweep, selection) curve');
    d.averaging.forEach((c, j) => {
      const q = `${p}.averaging[${j}]`;
      c.points.forEach((pt, k) => {
        if (pt.k !== k + 1) add(`${q}.points[${k}].k`, `expected ${k + 1} (points count models 1, 2, …)`);
        const run = member(`${q}.points[${k}].added`, pt.added, d);
        if (run && run.sweep !== c.sweep) add(`${q}.points[${k}].added`, `run "${pt.added}" is not from the ${c.sweep} sweep`);
      });
      c.rejected.forEach((x, k) => member(`${q}.rejected[${k}]`, x, d));
      if (c.selection === 'uniform' && c.rejected.length) add(`${q}.rejected`, 'uniform averaging rejects nothing');
    });
    d.interpolation.forEach((c, j) => {
      const q = `${p}.interpolation[${j}]`;
      const n = c.alphas.length;
      if (c.alphas[0] !== 0 || c.alphas[n - 1] !== 1 || !c.alphas.includes(0.5)) add(`${q}.alphas`, 'must start at 0, end at 1 and contain 0.5');
      if (c.alphas.some((a, k) => k > 0 && a <= c.alphas[k - 1])) add(`${q}.alphas`, 'must be increasing');
      if (c.test.length !== n || c.val.length !== n) add(q, `test and val need ${n} values (one per alpha)`);
      if (c.a === c.b) add(`${q}.b`, 'a pair needs two different runs');
      const ra = member(`${q}.a`, c.a, d);
      const rb = member(`${q}.b`, c.b, d);
      if (ra && rb && (ra.initName === rb.initName) !== (c.kind === 'same_init')) {
        add(`${q}.kind`, `runs start from "${ra.initName}" and "${rb.initName}", which is not ${c.kind}`);
      }
    });
    if (d.disagreement) {
      const q = `${p}.disagreement`;
      const n = d.disagreement.runs.length;
      d.disagreement.runs.forEach((x, k) => member(`${q}.runs[${k}]`, x, d));
      for (const k of duplicates(d.disagreement.runs, String)) add(`${q}.runs[${k}]`, 'duplicate run');
      if (d.disagreement.values.length !== n || d.disagreement.values.some((row) => row.length !== n)) add(`${q}.values`, `must be ${n}×${n}`);
    }
    for (const j of duplicates(d.ensembles, (e) => e.sweep)) add(`${p}.ensembles[${j}]`, 'one ensemble per sweep');
    d.ensembles.forEach((e, j) => e.members.forEach((x, k) => member(`${p}.ensembles[${j}].members[${k}]`, x, d)));
  });

  if (r.auxiliary) {
    const names = new Set(r.auxiliary.tasks.map((t) => t.name));
    for (const i of duplicates(r.auxiliary.tasks, (t) => t.name)) add(`auxiliary.tasks[${i}].name`, 'duplicate task');
    r.auxiliary.pairs.forEach((pr, i) => {
      for (const side of ['a', 'b'] as const) {
        if (!names.has(pr[side])) add(`auxiliary.pairs[${i}].${side}`, `unknown auxiliary task "${pr[side]}"`);
      }
    });
  }
  return problems;
}
