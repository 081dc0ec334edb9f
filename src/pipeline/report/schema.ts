// The results of a pipeline run as the reporting layer reads them: the run table, each method's
// selected result per (dataset, test env, trial), diagnostics and metadata. Accuracies are
// fractions in [0, 1]; reports print them ×100. The zod schema mirrors these types (a compile-time
// check keeps the two equal); cross-references between sections are checked in validate.ts.
import { z } from 'zod';

/** Table rows, in table order. `ratatouille_dagger` is uniform over every trial's runs (one value per test env). */
export const METHODS = [
  'erm',
  'soups_uniform',
  'soups_greedy',
  'inter_training',
  'fusing',
  'ratatouille_uniform',
  'ratatouille_greedy',
  'ratatouille_dagger',
] as const;
export type Method = (typeof METHODS)[number];

export const METHOD_LABELS: Record<Method, string> = {
  erm: 'ERM',
  soups_uniform: 'Soups uniform',
  soups_greedy: 'Soups greedy',
  inter_training: 'Inter-training',
  fusing: 'Fusing',
  ratatouille_uniform: 'Ratatouille uniform',
  ratatouille_greedy: 'Ratatouille greedy',
  ratatouille_dagger: 'Ratatouille †',
};

/** The sweep whose runs each method selects from. */
export const METHOD_SWEEP: Record<Method, Sweep> = {
  erm: 'soups',
  soups_uniform: 'soups',
  soups_greedy: 'soups',
  inter_training: 'ratatouille',
  fusing: 'fusing',
  ratatouille_uniform: 'ratatouille',
  ratatouille_greedy: 'ratatouille',
  ratatouille_dagger: 'ratatouille',
};

/** Methods that report one run (best training-domain validation), not an average. */
export const SINGLE_RUN_METHODS: readonly Method[] = ['erm', 'inter_training', 'fusing'];

export const SWEEPS = ['soups', 'ratatouille', 'fusing'] as const;
export type Sweep = (typeof SWEEPS)[number];
/** Sweeps that are weight-averaged (fusing runs are only ever used one at a time). */
export type AveragedSweep = 'soups' | 'ratatouille';

/** 'in': the test domain's in-split (80%, DomainBed single-model rows); 'full': the whole test domain (averaged rows). */
export type TestMetric = 'in' | 'full';
export type RunStatus = 'ok' | 'diverged' | 'failed';

export interface Hparams {
  lr: number;
  weightDecay: number;
  dropout: number;
  /** Any further numeric hparams (batch size, steps, …) are kept and shown. */
  [extra: string]: number;
}

/** One target fine-tuning run. */
export interface RunRecord {
  /** Unique over the whole results file. */
  id: string;
  dataset: string;
  /** Index into the dataset's envNames. */
  testEnv: number;
  /** Trial seed. */
  trial: number;
  sweep: Sweep;
  hparamsSeed: number;
  /** 0 = the foundation featurizer, k ≥ 1 = auxiliary slot k, null = fused featurizers (fusing sweep). */
  initSlot: number | null;
  /** 'foundation', the auxiliary task's name, or 'fused'. */
  initName: string;
  hparams: Hparams;
  status: RunStatus;
  /** Why the run diverged or failed; null when ok. */
  reason: string | null;
  /** Step of the kept checkpoint (best training-domain validation); null when none was kept. */
  bestStep: number | null;
  /** Training-domain validation at bestStep: unweighted mean over training domains of out-split accuracy. */
  val: number | null;
  testIn: number | null;
  testFull: number | null;
  /** ‖φ_run − φ_init‖ / ‖φ_foundation‖ over featurizer parameters, at bestStep. */
  initDistance: number | null;
}

/** 'domain_mean': mean of per-domain out-split accuracies (run ranking); 'pooled': accuracy on the merged out-splits (greedy). */
export interface ValScore {
  value: number;
  metric: 'domain_mean' | 'pooled';
}

/** A method's result for one (dataset, test env, trial); trial is null only for ratatouille_dagger. */
export interface MethodResult {
  dataset: string;
  testEnv: number;
  trial: number | null;
  method: Method;
  test: number;
  testMetric: TestMetric;
  val: ValScore | null;
  /** Run ids used: one for single-run methods, the averaged runs otherwise. */
  members: string[];
}

/** Point k of an averaging curve: the average of k models, the k-th being `added`. */
export interface CurvePoint {
  k: number;
  added: string;
  test: number;
  /** Pooled out-split accuracy of the k-model average (greedy's acceptance metric), if measured. */
  val: number | null;
}

/** uniform: the first k runs in validation order, k = 1..M; greedy: the accepted set after each acceptance. */
export interface AveragingCurve {
  sweep: AveragedSweep;
  selection: 'uniform' | 'greedy';
  testMetric: TestMetric;
  points: CurvePoint[];
  /** Greedy candidates that were not accepted (empty for uniform). */
  rejected: string[];
}

export type PairKind = 'different_init' | 'same_init';

/** Accuracy of θ(α) = (1−α)·θa + α·θb on an α grid that starts at 0, ends at 1 and contains 0.5. */
export interface InterpolationCurve {
  kind: PairKind;
  a: string;
  b: string;
  testMetric: TestMetric;
  alphas: number[];
  test: number[];
  /** Training-domain validation at each α. */
  val: number[];
}

/** Fraction of test examples on which runs i and j predict different classes. */
export interface DisagreementMatrix {
  runs: string[];
  testMetric: TestMetric;
  values: number[][];
}

/** Accuracy of the averaged predicted probabilities of `members` (the diversity reference). */
export interface EnsembleResult {
  sweep: AveragedSweep;
  members: string[];
  test: number;
  testMetric: TestMetric;
}

export interface Diagnostics {
  dataset: string;
  testEnv: number;
  trial: number;
  averaging: AveragingCurve[];
  interpolation: InterpolationCurve[];
  disagreement: DisagreementMatrix | null;
  ensembles: EnsembleResult[];
}

/** Distances over featurizer parameters, divided by ‖φ_foundation‖. */
export interface AuxiliaryPool {
  tasks: { name: string; distanceToFoundation: number }[];
  pairs: { a: string; b: string; distance: number }[];
}

export interface DatasetInfo {
  name: string;
  /** Every domain's name, by env index. */
  envNames: string[];
  /** The envs held out as test domains (table columns, in this order). */
  testEnvs: number[];
  /** Trial seeds run. */
  trials: number[];
}

export interface Machine {
  os: string;
  cpu: string;
  cores: number;
  memoryBytes: number;
  node: string;
  /** e.g. 'NVIDIA H100'; null when the run used CPUs only. */
  accelerator: string | null;
}

export interface Metadata {
  /** argv after the node binary, e.g. ['ratatouille', 'run', '--config', 'c.yaml']. */
  command: string[];
  config: Record<string, unknown>;
  seeds: Record<string, number | number[]>;
  machine: Machine;
  wallSeconds: number;
  stageSeconds: Record<string, number>;
  version: string;
  /** ISO 8601; null keeps the report byte-identical across reruns. */
  createdAt: string | null;
}

export const RESULTS_SCHEMA_ID = 'ratatouille-results/1';

export interface Results {
  schema: typeof RESULTS_SCHEMA_ID;
  meta: Metadata;
  datasets: DatasetInfo[];
  runs: RunRecord[];
  selections: MethodResult[];
  diagnostics: Diagnostics[];
  auxiliary: AuxiliaryPool | null;
}

// ---- zod mirror -------------------------------------------------------------------------------

const acc = z.number().min(0).max(1);
const index = z.number().int().nonnegative();
const nonneg = z.number().nonnegative();
const id = z.string().min(1);
const testMetric = z.enum(['in', 'full']);
const averagedSweep = z.enum(['soups', 'ratatouille']);

const runSchema = z.strictObject({
  id,
  dataset: id,
  testEnv: index,
  trial: index,
  sweep: z.enum(SWEEPS),
  hparamsSeed: index,
  initSlot: index.nullable(),
  initName: id,
  hparams: z.object({ lr: nonneg, weightDecay: nonneg, dropout: z.number().min(0).max(1) }).catchall(z.number()),
  status: z.enum(['ok', 'diverged', 'failed']),
  reason: z.string().nullable(),
  bestStep: index.nullable(),
  val: acc.nullable(),
  testIn: acc.nullable(),
  testFull: acc.nullable(),
  initDistance: nonneg.nullable(),
});

const selectionSchema = z.strictObject({
  dataset: id,
  testEnv: index,
  trial: index.nullable(),
  method: z.enum(METHODS),
  test: acc,
  testMetric,
  val: z.strictObject({ value: acc, metric: z.enum(['domain_mean', 'pooled']) }).nullable(),
  members: z.array(id).min(1),
});

const diagnosticsSchema = z.strictObject({
  dataset: id,
  testEnv: index,
  trial: index,
  averaging: z.array(
    z.strictObject({
      sweep: averagedSweep,
      selection: z.enum(['uniform', 'greedy']),
      testMetric,
      points: z.array(z.strictObject({ k: z.number().int().positive(), added: id, test: acc, val: acc.nullable() })).min(1),
      rejected: z.array(id),
    }),
  ),
  interpolation: z.array(
    z.strictObject({
      kind: z.enum(['different_init', 'same_init']),
      a: id,
      b: id,
      testMetric,
      alphas: z.array(z.number().min(0).max(1)).min(3),
      test: z.array(acc),
      val: z.array(acc),
    }),
  ),
  disagreement: z.strictObject({ runs: z.array(id).min(1), testMetric, values: z.array(z.array(acc)) }).nullable(),
  ensembles: z.array(z.strictObject({ sweep: averagedSweep, members: z.array(id).min(1), test: acc, testMetric })),
});

const metaSchema = z.strictObject({
  command: z.array(z.string()),
  config: z.record(z.string(), z.unknown()),
  seeds: z.record(z.string(), z.union([z.number(), z.array(z.number())])),
  machine: z.strictObject({
    os: z.string(),
    cpu: z.string(),
    cores: z.number().int().positive(),
    memoryBytes: nonneg,
    node: z.string(),
    accelerator: z.string().nullable(),
  }),
  wallSeconds: nonneg,
  stageSeconds: z.record(z.string(), nonneg),
  version: z.string(),
  createdAt: z.string().nullable(),
});

export const resultsSchema = z.strictObject({
  schema: z.literal(RESULTS_SCHEMA_ID),
  meta: metaSchema,
  datasets: z
    .array(
      z.strictObject({
        name: id,
        envNames: z.array(z.string()).min(1),
        testEnvs: z.array(index).min(1),
        trials: z.array(index).min(1),
      }),
    )
    .min(1),
  runs: z.array(runSchema),
  selections: z.array(selectionSchema),
  diagnostics: z.array(diagnosticsSchema),
  auxiliary: z
    .strictObject({
      tasks: z.array(z.strictObject({ name: id, distanceToFoundation: nonneg })),
      pairs: z.array(z.strictObject({ a: id, b: id, distance: nonneg })),
    })
    .nullable(),
});

// Fails to compile if the interfaces above and the schema drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesTypes: Same<z.infer<typeof resultsSchema>, Results> = true;
void schemaMatchesTypes;
