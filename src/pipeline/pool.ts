// The auxiliary pool: its manifest (tasks, their members' featurizer files, the image sources
// each was built from), the up-front check of external checkpoints (every misfit tensor of every
// file reported at once, from headers, before any training starts), and the adaptation of a
// pool featurizer to a target with another channel count (conv1 filters copied cyclically over
// input channels, as DomainBed rebuilds a ResNet's conv1 for non-RGB inputs).
import { existsSync, readFileSync } from 'node:fs';
import { InputError, InputErrors } from '../errors.js';
import type { Model } from '../graph/index.js';
import { isFloatDType } from '../io/dtype.js';
import { readSafetensorsHeader } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { PoolTask } from './assign.js';
import { isFeaturizer, type Weights } from './weights.js';

export interface PoolMember {
  /** Unique id, e.g. `fashion-rot/h0` or `external/my-run`. */
  readonly id: string;
  readonly featurizer: string;
}

export interface PoolManifestTask {
  readonly name: string;
  readonly sources: string[];
  readonly external: boolean;
  readonly members: PoolMember[];
}

export interface PoolManifest {
  readonly format: 'ratatouille-pool/1';
  /** The foundation featurizer every member was fine-tuned from (or is assumed to be). */
  readonly foundation: string;
  readonly tasks: PoolManifestTask[];
}

export function writePoolManifest(path: string, m: PoolManifest): void {
  writeFileAtomic(path, JSON.stringify(m, null, 2) + '\n');
}

export function readPoolManifest(path: string): PoolManifest {
  if (!existsSync(path)) throw new InputError(path, 'no auxiliary pool here; run `ratatouille aux` first (same --run-dir)');
  const m = JSON.parse(readFileSync(path, 'utf8')) as PoolManifest;
  if (m.format !== 'ratatouille-pool/1') throw new InputError(path, `not a pool manifest (format ${JSON.stringify(m.format)})`);
  return m;
}

/** The manifest as assignment sees it (member ids, in order). */
export function poolTasks(m: PoolManifest): PoolTask[] {
  return m.tasks.map((t) => ({ name: t.name, sources: t.sources, members: t.members.map((x) => x.id) }));
}

const shape = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Checks that each file holds exactly the model's featurizer parameters with their shapes (other,
 * non-featurizer tensors such as a head are allowed and ignored); `buffers` files (a foundation)
 * must hold the BatchNorm statistics too. Reads headers only; throws one InputErrors with every
 * problem of every file.
 */
export async function validateFeaturizerFiles(files: readonly { name: string; path: string; buffers?: boolean }[], model: Model): Promise<void> {
  const known = new Set(model.params.filter((p) => p.group === 'featurizer').map((p) => p.name));
  const problems: InputError[] = [];
  for (const f of files) {
    const wanted = model.params.filter((p) => p.group === 'featurizer' && (p.kind === 'param' || f.buffers));
    const where = `${f.name} (${f.path})`;
    let header;
    try {
      header = await readSafetensorsHeader(f.path);
    } catch (e) {
      problems.push(new InputError(where, (e as Error).message.replace(`${f.path}: `, '')));
      continue;
    }
    for (const p of wanted) {
      const t = header.tensors.get(p.name);
      if (!t) problems.push(new InputError(where, `missing tensor ${p.name} ${shape(p.shape)}`));
      else if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) problems.push(new InputError(where, `tensor ${p.name} has shape ${shape(t.shape)}, the featurizer needs ${shape(p.shape)}`));
      else if (!isFloatDType(t.dtype)) problems.push(new InputError(where, `tensor ${p.name} is ${t.dtype}, not a float type`));
    }
    for (const name of header.tensors.keys()) {
      if (isFeaturizer(name) && !known.has(name)) problems.push(new InputError(where, `tensor ${name} is not part of the featurizer (${model.spec.arch})`));
    }
  }
  if (problems.length === 1) throw problems[0];
  if (problems.length) throw new InputErrors(problems, `${problems.length} problems in auxiliary checkpoints (nothing was trained)`);
}

/**
 * A featurizer for a model with `channels` input channels: the first conv's filters are copied
 * cyclically over input channels (channel c takes source channel c mod C). For ColoredMNIST, whose
 * digit sits in one of two otherwise-zero channels, the adapted conv responds exactly as the
 * grayscale one did to the digit.
 */
export function adaptChannels(w: ReadonlyMap<string, Float32Array>, model: Model, channels: number): Weights {
  const out: Weights = new Map();
  for (const p of model.params) {
    if (p.group !== 'featurizer') continue;
    const src = w.get(p.name);
    if (!src) throw new InputError('featurizer', `missing ${p.name}`);
    const n = p.shape.reduce((a, b) => a * b, 1);
    if (src.length === n) {
      out.set(p.name, src);
      continue;
    }
    // conv weight [out, C_src, kh, kw] → [out, channels, kh, kw]
    const [o, c, kh, kw] = p.shape;
    const k = kh * kw;
    const cs = src.length / (o * k);
    if (p.shape.length !== 4 || c !== channels || !Number.isInteger(cs)) throw new InputError('featurizer', `tensor ${p.name} has ${src.length} values, cannot adapt to ${shape(p.shape)}`);
    const dst = new Float32Array(n);
    for (let i = 0; i < o; i++) for (let ch = 0; ch < c; ch++) dst.set(src.subarray((i * cs + (ch % cs)) * k, (i * cs + (ch % cs) + 1) * k), (i * c + ch) * k);
    out.set(p.name, dst);
  }
  return out;
}
