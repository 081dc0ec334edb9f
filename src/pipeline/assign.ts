// Which featurizer each target run starts from (MR lib/misc.py, spec §1.3/§4): auxiliary tasks
// derived from the target's own images are left out, the rest sorted by name; run h takes slot
// h mod (F+1) (slot 0 = the foundation) and, in that task, member h mod n. Fusing interpolates the
// foundation and one member per task with weights ∝ exp(range·u), u drawn like Python's random.
import { InputError } from '../errors.js';
import { RandomState } from '../util/numpy-random.js';

/** An auxiliary task's finished members, as assignment sees them. */
export interface PoolTask {
  readonly name: string;
  /** Image sources the task was built from (e.g. 'fashion', 'digits'); a target sharing one is excluded. */
  readonly sources: readonly string[];
  /** Member ids (featurizer files), in their fixed order. */
  readonly members: readonly string[];
}

export type InitChoice = { readonly slot: 0; readonly kind: 'foundation' } | { readonly slot: number; readonly kind: 'aux'; readonly task: string; readonly member: string; readonly memberIndex: number };

/** The tasks a target may use: not built from the target's image source, with members, sorted by name. */
export function allowedTasks(pool: readonly PoolTask[], targetSource: string): PoolTask[] {
  return pool
    .filter((t) => !t.sources.includes(targetSource) && t.members.length > 0)
    .slice()
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Round-robin init of hparams seed h over the allowed tasks (none: always the foundation). */
export function assignInit(tasks: readonly PoolTask[], h: number): InitChoice {
  const slot = h % (tasks.length + 1);
  if (slot === 0) return { slot: 0, kind: 'foundation' };
  const t = tasks[slot - 1];
  const memberIndex = h % t.members.length;
  return { slot, kind: 'aux', task: t.name, member: t.members[memberIndex], memberIndex };
}

export interface FusingPlan {
  /** 'foundation' or member ids, in draw order: the foundation, then one member per task by name. */
  readonly featurizers: string[];
  readonly coefficients: number[];
}

/**
 * MR's fusing init for run h: u_i ~ U[0,1) from Python's `random` seeded with the run seed (its
 * MT19937 init_by_array([seed]) stream equals RandomState([seed])'s random_sample), κ = exp(range·u),
 * λ = κ / Σκ. range 0 gives a uniform average.
 */
export function planFusing(tasks: readonly PoolTask[], h: number, runSeed: number, range: number): FusingPlan {
  if (tasks.length === 0) throw new InputError('fusing', 'needs at least one auxiliary task usable for this target');
  if (!(range >= 0) || !Number.isFinite(range)) throw new InputError('fusing.range', `must be a finite number >= 0, got ${range}`);
  const featurizers = ['foundation', ...tasks.map((t) => t.members[h % t.members.length])];
  const rng = new RandomState([runSeed >>> 0]);
  const kappa = featurizers.map(() => Math.exp(range * rng.randomSample()));
  const total = kappa.reduce((a, b) => a + b, 0);
  return { featurizers, coefficients: kappa.map((k) => k / total) };
}
