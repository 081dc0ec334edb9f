// One read-only view over every checkpoint format: a list of named tensors with dtype, shape and
// where their bytes are. Dispatches on the file name: .safetensors, .safetensors.index.json, .onnx.
import { InputError } from '../errors.js';
import { type DType, decodeToF32 } from './dtype.js';
import { readOnnxInitializers } from './onnx.js';
import { readSafetensorsHeader, requireFloatDType } from './safetensors.js';
import { readShardedIndex } from './sharded.js';
import { type TensorLocation, readLocation } from './tensor-io.js';

export interface CheckpointTensor {
  name: string;
  dtype: DType;
  shape: number[];
  numel: number;
  byteLength: number;
  location: TensorLocation;
}

export interface Checkpoint {
  path: string;
  kind: 'safetensors' | 'onnx';
  /** In file order: data order (shard by shard) for safetensors, graph order for ONNX. */
  tensors: CheckpointTensor[];
  byName: Map<string, CheckpointTensor>;
  /** safetensors `__metadata__` (the first shard's for a sharded checkpoint), else null. */
  metadata: Record<string, string> | null;
  /** Tensors with no raw byte form (ONNX STRING, COMPLEX128, segmented...): listed, not readable. */
  skipped: { name: string; reason: string }[];
}

export type CheckpointFormat = 'safetensors' | 'safetensors-index' | 'onnx';

export function checkpointFormat(path: string): CheckpointFormat {
  const lower = path.toLowerCase();
  if (lower.endsWith('.safetensors.index.json')) return 'safetensors-index';
  if (lower.endsWith('.safetensors')) return 'safetensors';
  if (lower.endsWith('.onnx')) return 'onnx';
  throw new InputError(path, 'unknown checkpoint format (expected .safetensors, .safetensors.index.json or .onnx)');
}

function finish(path: string, kind: Checkpoint['kind'], tensors: CheckpointTensor[], metadata: Checkpoint['metadata'], skipped: Checkpoint['skipped']): Checkpoint {
  return { path, kind, tensors, byName: new Map(tensors.map((t) => [t.name, t])), metadata, skipped };
}

/** Opens (reads headers of, validates) a checkpoint; tensor data stays on disk. */
export async function openCheckpoint(path: string): Promise<Checkpoint> {
  const format = checkpointFormat(path);
  if (format === 'onnx') {
    const tensors: CheckpointTensor[] = [];
    const skipped: Checkpoint['skipped'] = [];
    for (const init of await readOnnxInitializers(path)) {
      if (!init.dtype || !init.location) {
        skipped.push({ name: init.name, reason: init.unsupported ?? 'no data' });
        continue;
      }
      const { name, dtype, dims: shape, numel, byteLength, location } = init;
      tensors.push({ name, dtype, shape, numel, byteLength, location });
    }
    return finish(path, 'onnx', tensors, null, skipped);
  }
  const files = format === 'safetensors' ? [await readSafetensorsHeader(path)] : (await readShardedIndex(path)).shards;
  const tensors: CheckpointTensor[] = [];
  for (const f of files) {
    for (const t of f.byOffset) {
      const location: TensorLocation = { kind: 'file', path: f.path, offset: t.offset, byteLength: t.byteLength };
      tensors.push({ name: t.name, dtype: t.dtype, shape: t.shape, numel: t.numel, byteLength: t.byteLength, location });
    }
  }
  return finish(path, 'safetensors', tensors, files[0]?.metadata ?? null, []);
}

/** A tensor's values as fp32 (F32, F16, BF16, F64; other dtypes are an InputError naming it). */
export async function readCheckpointTensorF32(ckpt: Checkpoint, name: string): Promise<Float32Array> {
  const t = ckpt.byName.get(name);
  if (!t) throw new InputError(ckpt.path, `no tensor ${JSON.stringify(name)}`);
  return decodeToF32(await readLocation(t.location), requireFloatDType(ckpt.path, name, t.dtype));
}
