// A run's weights on disk: the output file names, checkpoints written as F32 safetensors in
// state_dict order (atomically), initial weights loaded strictly or transplanted (featurizer
// parameters only, as MR copies an auxiliary featurizer into a target model), and clean-up of a
// previous attempt's outputs so a restarted run never mixes files from two attempts.
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import type { Model } from '../graph/index.js';
import { readAllF32, writeSafetensors, type LoadedTensorF32 } from '../io/safetensors.js';
import { sameShape } from '../util/shape.js';

/** The files a run writes into its outDir; `done` is written last. */
export const OUTPUTS = {
  weights: 'weights.safetensors',
  last: 'last.safetensors',
  onnx: 'model.onnx',
  metrics: 'metrics.jsonl',
  result: 'result.json',
  done: 'done',
} as const;

export type Params = Map<string, Float32Array>;

/** Creates outDir and removes a previous attempt's outputs (the `done` marker first) and temporaries. */
export function prepareOutDir(outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  rmSync(join(outDir, OUTPUTS.done), { force: true });
  const names = new Set<string>(Object.values(OUTPUTS));
  for (const f of readdirSync(outDir)) {
    const tmpOf = /^\.(.+)\.tmp-\d+-[0-9a-f]+$/.exec(f)?.[1];
    if (names.has(f) || (tmpOf && names.has(tmpOf))) rmSync(join(outDir, f), { force: true });
  }
}

/** Every parameter and buffer of the model as F32, atomically; metadata values are strings. */
export function writeCheckpoint(dest: string, model: Model, params: ReadonlyMap<string, Float32Array>, metadata: Record<string, unknown>): void {
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) meta[k] = typeof v === 'string' ? v : JSON.stringify(v);
  writeSafetensors(
    dest,
    model.params.map((p) => ({ name: p.name, dtype: 'F32' as const, shape: p.shape, data: params.get(p.name)! })),
    meta,
  );
}

/** A deep copy of the parameters (the best checkpoint kept in memory). */
export function cloneParams(params: ReadonlyMap<string, Float32Array>): Params {
  return new Map([...params].map(([k, v]) => [k, v.slice()]));
}

/** Copies `from` into the preallocated arrays of `into` (same names and sizes). */
export function copyParams(into: Params, from: ReadonlyMap<string, Float32Array>): void {
  for (const [k, v] of from) into.get(k)!.set(v);
}

/** The first non-finite parameter value, if any: a diverged run must not be saved as "last". */
export function firstNonFinite(params: ReadonlyMap<string, Float32Array>): string | null {
  for (const [k, v] of params) {
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return `${k}[${i}] = ${v[i]}`;
  }
  return null;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

function fit(path: string, name: string, t: LoadedTensorF32, expected: readonly number[]): void {
  const same = sameShape(t.shape, expected);
  if (!same) throw new InputError(path, `tensor ${name} has shape ${fmt(t.shape)} but the model's is ${fmt(expected)}`);
}

/**
 * A full checkpoint: every parameter and buffer of the model must be present with its shape, and
 * nothing else (torch's strict load_state_dict). Overwrites `params` in place.
 */
export async function loadFullCheckpoint(path: string, model: Model, params: Params): Promise<void> {
  const { tensors } = await readAllF32(path);
  const known = new Set(model.params.map((p) => p.name));
  for (const name of tensors.keys()) {
    if (!known.has(name)) throw new InputError(path, `tensor ${name} is not in the model (${model.spec.arch}); not a checkpoint of this model`);
  }
  for (const p of model.params) {
    const t = tensors.get(p.name);
    if (!t) throw new InputError(path, `tensor ${p.name} (shape ${fmt(p.shape)}) is missing`);
    fit(path, p.name, t, p.shape);
  }
  for (const p of model.params) params.get(p.name)!.set(tensors.get(p.name)!.data);
}

/**
 * Transplants a featurizer: every trainable `featurizer.*` parameter is replaced by the file's.
 * Buffers (BatchNorm statistics) and the classifier stay as they are (MR copies named parameters
 * only); the file may hold other tensors, e.g. a whole auxiliary run with another head.
 */
export async function loadFeaturizer(path: string, model: Model, params: Params): Promise<void> {
  const { tensors } = await readAllF32(path);
  const known = new Set(model.params.filter((p) => p.group === 'featurizer').map((p) => p.name));
  for (const name of tensors.keys()) {
    if (name.startsWith('featurizer.') && !known.has(name)) {
      throw new InputError(path, `tensor ${name} is not in the model's featurizer (${model.spec.arch}); not a featurizer of this model`);
    }
  }
  const wanted = model.params.filter((p) => p.group === 'featurizer' && p.kind === 'param');
  for (const p of wanted) {
    const t = tensors.get(p.name);
    if (!t) throw new InputError(path, `featurizer tensor ${p.name} (shape ${fmt(p.shape)}) is missing`);
    fit(path, p.name, t, p.shape);
  }
  for (const p of wanted) params.get(p.name)!.set(tensors.get(p.name)!.data);
}
