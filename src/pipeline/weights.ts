// Small-model weight maps as the pipeline handles them: read a checkpoint into name → fp32 arrays,
// keep only the featurizer, write maps back as safetensors (atomically), and measure featurizer
// distances (‖Δφ‖ relative to ‖φ_foundation‖, mini-benchmark §5).
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { InputError } from '../errors.js';
import { fileSha256 } from '../io/digest.js';
import type { Model } from '../graph/index.js';
import { readAllF32, writeSafetensors } from '../io/safetensors.js';

export type Weights = Map<string, Float32Array>;

export const isFeaturizer = (name: string) => name.startsWith('featurizer.');

/** Every tensor of a safetensors file as fp32 (small models: one read). */
export async function readWeights(path: string): Promise<Weights> {
  const { tensors } = await readAllF32(path);
  return new Map([...tensors].map(([k, t]) => [k, t.data]));
}

/** Writes tensors with the model's shapes, in the model's order; names not in the model are refused. */
export function writeWeights(dest: string, model: Model, weights: ReadonlyMap<string, Float32Array>, metadata: Record<string, string> = {}, only?: (name: string) => boolean): void {
  mkdirSync(dirname(dest), { recursive: true });
  const specs = model.params.filter((p) => (only ? only(p.name) : true));
  for (const p of specs) if (!weights.has(p.name)) throw new InputError(dest, `no values for tensor ${p.name}`);
  writeSafetensors(dest, specs.map((p) => ({ name: p.name, dtype: 'F32' as const, shape: p.shape, data: weights.get(p.name)! })), metadata);
}

/**
 * The featurizer tensors of a checkpoint, written on their own (pool members, fused inits).
 * `include` names them: `featurizer.*` by default; an imported model's come from its groups.
 */
export async function extractFeaturizer(src: string, dest: string, model: Model, metadata: Record<string, string> = {}, include: (name: string) => boolean = isFeaturizer): Promise<void> {
  writeWeights(dest, model, await readWeights(src), metadata, include);
}

/** √Σ x² over the featurizer tensors (float64 accumulation). */
export function featurizerNorm(w: ReadonlyMap<string, Float32Array>, include: (name: string) => boolean = isFeaturizer): number {
  let s = 0;
  for (const [k, v] of w) if (include(k)) for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** ‖φ_a − φ_b‖ over the featurizer tensors of `a` (which `b` must hold too). */
export function featurizerDistance(a: ReadonlyMap<string, Float32Array>, b: ReadonlyMap<string, Float32Array>, include: (name: string) => boolean = isFeaturizer): number {
  let s = 0;
  for (const [k, va] of a) {
    if (!include(k)) continue;
    const vb = b.get(k);
    if (!vb) throw new InputError('distance', `tensor ${k} is missing from one side`);
    for (let i = 0; i < va.length; i++) s += (va[i] - vb[i]) ** 2;
  }
  return Math.sqrt(s);
}

/**
 * Renames a freshly written file to `<stem>-<sha256:12>.<ext>` and returns the new path. Files
 * that later jobs read (featurizers, probes) are named by content, so a job that points at one
 * changes whenever its input changes, and resumption never reuses a run made from other inputs.
 */
export function addressByContent(path: string): string {
  const hash = fileSha256(path).slice(0, 12);
  const dot = path.lastIndexOf('.');
  const dest = `${path.slice(0, dot)}-${hash}${path.slice(dot)}`;
  if (existsSync(dest)) rmSync(path);
  else renameSync(path, dest);
  return dest;
}
