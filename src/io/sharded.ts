// Sharded safetensors checkpoints (Hugging Face convention): `*.safetensors.index.json` with
// `metadata.total_size` and `weight_map` {tensor -> shard file}, shards named
// `model-0000i-of-0000N.safetensors`. Read as one logical checkpoint; planned and written in shards.
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../errors.js';
import { openAtomicFiles, writeFileAtomic } from './atomic.js';
import { parseStrictJson } from './json-strict.js';
import {
  type SafetensorsEntry, type SafetensorsFile, type SafetensorsPlan, type SafetensorsTensor, type TensorToWrite,
  encodeTensorData, openSafetensorsWriter, planSafetensors, readSafetensorsHeader,
} from './safetensors.js';
import { AtomicTensorSink, type PlannedTensor, type TensorSink, resolveInside, writeAllAndCommit } from './tensor-io.js';

export interface ShardedTensor {
  shard: SafetensorsFile;
  tensor: SafetensorsTensor;
}

export interface ShardedCheckpoint {
  indexPath: string;
  /** The index's `metadata` object as written (may hold more than total_size). */
  metadata: Record<string, unknown>;
  /** `metadata.total_size` if present (informational: writers disagree on what it counts). */
  declaredTotalSize: number | null;
  /** Shards sorted by file name; each tensor list inside in data order. */
  shards: SafetensorsFile[];
  /** Every tensor, shard by shard in data order. */
  tensors: Map<string, ShardedTensor>;
}

const q = (s: string) => JSON.stringify(s);

/** Reads and validates an index and every shard header it names. */
export async function readShardedIndex(indexPath: string): Promise<ShardedCheckpoint> {
  let text: string;
  try {
    text = await readFile(indexPath, 'utf8');
  } catch (e) {
    throw new InputError(indexPath, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const parsed = parseStrictJson(text);
  if ('problem' in parsed) throw new InputError(indexPath, parsed.problem);
  const index = parsed.value as Record<string, unknown>;
  if (typeof index !== 'object' || index === null || Array.isArray(index)) throw new InputError(indexPath, 'index is not a JSON object');
  const weightMap = index.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new InputError(indexPath, 'missing "weight_map" object');
  }
  const metadata = (index.metadata ?? {}) as Record<string, unknown>;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw new InputError(indexPath, '"metadata" is not an object');
  const total = metadata.total_size;
  if (total !== undefined && !(typeof total === 'number' && Number.isSafeInteger(total) && total >= 0)) {
    throw new InputError(indexPath, `metadata.total_size ${JSON.stringify(total)} is not a non-negative integer`);
  }

  const dir = dirname(indexPath);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string') throw new InputError(indexPath, `weight_map[${q(name)}] is not a file name`);
    if (!byShard.has(shard)) byShard.set(shard, []);
    byShard.get(shard)!.push(name);
  }
  const shardNames = [...byShard.keys()].sort();
  const shards: SafetensorsFile[] = [];
  for (const s of shardNames) {
    shards.push(await readSafetensorsHeader(await resolveInside(dir, s, indexPath, 'shard')));
  }

  const owner = new Map<string, string>(); // tensor -> shard that holds it
  shardNames.forEach((s, i) => {
    for (const t of shards[i].tensors.keys()) {
      const other = owner.get(t);
      if (other !== undefined) throw new InputError(indexPath, `tensor ${q(t)} is in two shards, ${q(other)} and ${q(s)}`);
      owner.set(t, s);
    }
  });
  shardNames.forEach((s, i) => {
    for (const t of byShard.get(s)!) {
      if (!shards[i].tensors.has(t)) {
        const where = owner.get(t);
        throw new InputError(indexPath, `tensor ${q(t)} is mapped to ${q(s)} but ${where ? `found in ${q(where)}` : 'that shard does not hold it'}`);
      }
    }
  });
  shardNames.forEach((s, i) => {
    for (const t of shards[i].tensors.keys()) {
      if ((weightMap as Record<string, unknown>)[t] !== s) throw new InputError(indexPath, `shard ${q(s)} holds tensor ${q(t)} that weight_map does not list`);
    }
  });

  const tensors = new Map<string, ShardedTensor>();
  for (const shard of shards) for (const t of shard.byOffset) tensors.set(t.name, { shard, tensor: t });
  return { indexPath, metadata, declaredTotalSize: total ?? null, shards, tensors };
}

// ---- writing ------------------------------------------------------------------------------------

export interface ShardedPlan {
  /** One plan per shard, each with its `dest` inside `dir`. */
  shards: SafetensorsPlan[];
  /** `<prefix>.safetensors.index.json`, or null when everything fits in one `<prefix>.safetensors`. */
  indexPath: string | null;
  index: { metadata: { total_size: number }; weight_map: Record<string, string> } | null;
}

/**
 * Splits tensors (in the given order) into shards of at most `maxShardBytes` of tensor data, as
 * huggingface_hub does: a tensor that does not fit starts a new shard; one bigger than the limit
 * gets a shard of its own. `total_size` is the sum of tensor byte sizes.
 */
export function planShardedSafetensors(
  dir: string,
  entries: readonly SafetensorsEntry[],
  maxShardBytes: number,
  metadata?: Record<string, string> | null,
  prefix = 'model',
): ShardedPlan {
  if (!(Number.isSafeInteger(maxShardBytes) && maxShardBytes > 0)) throw new RangeError(`maxShardBytes must be a positive integer, got ${maxShardBytes}`);
  // Sizes come from a throwaway whole plan, which also validates names, dtypes and shapes once.
  const whole = planSafetensors(join(dir, `${prefix}.safetensors`), entries, metadata);
  const groups: SafetensorsEntry[][] = [];
  let used = 0;
  for (const e of entries) {
    const size = whole.tensors.get(e.name)!.byteLength;
    if (groups.length === 0 || (used + size > maxShardBytes && used > 0)) {
      groups.push([]);
      used = 0;
    }
    groups[groups.length - 1].push(e);
    used += size;
  }
  if (groups.length <= 1) return { shards: [whole], indexPath: null, index: null };
  const n = groups.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  const shards = groups.map((g, i) => planSafetensors(join(dir, `${prefix}-${pad(i + 1)}-of-${pad(n)}.safetensors`), g, metadata));
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (const s of shards) {
    for (const t of s.tensors.values()) {
      weightMap[t.name] = basename(s.dest);
      totalSize += t.byteLength;
    }
  }
  return { shards, indexPath: join(dir, `${prefix}.safetensors.index.json`), index: { metadata: { total_size: totalSize }, weight_map: weightMap } };
}

/** The index file's text: weight_map sorted by tensor name, as transformers writes it. */
export function shardedIndexJson(plan: ShardedPlan): string {
  if (!plan.index) throw new Error('single-file plan has no index');
  const sorted = Object.fromEntries(Object.entries(plan.index.weight_map).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify({ metadata: plan.index.metadata, weight_map: sorted }, null, 2) + '\n';
}

/**
 * Opens every shard (headers written to temporaries); on commit the shards are renamed into place
 * first and the index is written last, so an index never names a missing shard.
 */
export function openShardedWriter(plan: ShardedPlan): TensorSink {
  if (!plan.indexPath) return openSafetensorsWriter(plan.shards[0]);
  const tensors = new Map<string, PlannedTensor>();
  for (const shard of plan.shards) for (const [name, t] of shard.tensors) tensors.set(name, t);
  const files = openAtomicFiles(plan.shards, (s) => s.dest, (f, s) => f.write(s.headerBytes, 0));
  const indexPath = plan.indexPath;
  return new AtomicTensorSink(tensors, files, () => writeFileAtomic(indexPath, shardedIndexJson(plan)));
}

/** Writes a (possibly) sharded checkpoint: shards atomically, then the index. */
export function writeShardedSafetensors(
  dir: string,
  tensors: readonly TensorToWrite[],
  maxShardBytes: number,
  metadata?: Record<string, string> | null,
): ShardedPlan {
  const plan = planShardedSafetensors(dir, tensors, maxShardBytes, metadata);
  const encoded = tensors.map((t) => {
    const shard = plan.shards.find((s) => s.tensors.has(t.name))!;
    return [t.name, encodeTensorData(shard.dest, t.name, t.dtype, t.data, shard.tensors.get(t.name)!.byteLength)] as const;
  });
  writeAllAndCommit(openShardedWriter(plan), encoded);
  return plan;
}
