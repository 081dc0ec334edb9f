// Streaming weight average of N checkpoints (safetensors, sharded safetensors or ONNX):
// headers are validated first, the output is planned (header/framing written to temporary files),
// then the native engine streams every float tensor through a bounded fp32 working set and writes
// its bytes in place; the files are renamed into place only when everything succeeded.
import { realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { native, type AverageDType, type AverageOutDType, type AverageSource, type AverageTensorSpec } from '../../bindings/native.js';
import { InputError, InputErrors } from '../errors.js';
import { type Checkpoint, type CheckpointTensor, checkpointFormat, openCheckpoint } from '../io/checkpoint.js';
import { isFloatDType, type DType, type FloatDType } from '../io/dtype.js';
import { openOnnxCopyWriter, planOnnxCopy } from '../io/onnx-copy.js';
import { openSafetensorsWriter, planSafetensors, type SafetensorsEntry } from '../io/safetensors.js';
import { openShardedWriter, planShardedSafetensors } from '../io/sharded.js';
import { readLocation, type TensorSink } from '../io/tensor-io.js';
import { peakRssBytes } from '../util/format.js';
import { checkCompatible, resolveWeights } from './validate.js';

export type OutDType = 'f32' | 'f16' | 'bf16';

export interface AverageOptions {
  inputs: string[];
  output: string;
  weights?: number[];
  normalize?: boolean;
  dtype?: OutDType;
  device?: 'cpu' | 'cuda';
  threads?: number;
  allowNonfinite?: boolean;
  /** Sharded output (`*.safetensors.index.json`): most tensor bytes per shard (default 5 GB). */
  maxShardBytes?: number;
  /** Working-set knob passed to the engine (bytes of fp32 accumulator per chunk). */
  chunkBytes?: number;
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
}

export interface AverageSummary {
  inputs: string[];
  output: string;
  weights: number[];
  tensors: number;
  averaged: number;
  /** Non-float tensors (integer buffers...) copied from the first input. */
  copiedFromFirst: string[];
  bytesRead: number;
  bytesWritten: number;
  /** Wall time from the first read to the rename, fsync included. */
  seconds: number;
  /** Time inside the native engine (read, average, write; no fsync). */
  engineSeconds: number;
  gbPerSec: number;
  peakRssBytes: number;
  device: 'cpu' | 'cuda';
  nonfinite?: { input: string; tensor: string };
}

const OUT: Record<OutDType, AverageOutDType> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };

function realOrResolved(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** Every file an input reads from (shards, external data), for the output-equals-input check. */
function filesOf(ck: Checkpoint): string[] {
  const files = new Set<string>([ck.path]);
  for (const t of ck.tensors) if (t.location.kind === 'file') files.add(t.location.path);
  return [...files].map(realOrResolved);
}

function refuseOverwrite(output: string, inputs: readonly Checkpoint[]): void {
  const out = realOrResolved(output);
  const dataOut = out + '.data';
  for (const ck of inputs) {
    for (const f of filesOf(ck)) {
      if (f === out || f === dataOut) throw new InputError(output, `output is also an input (${ck.path}); choose another path`);
    }
  }
}

function outDtypeOf(t: CheckpointTensor, forced: OutDType | undefined): AverageOutDType {
  if (forced) return OUT[forced];
  return t.dtype === 'F64' ? 'F32' : (t.dtype as AverageOutDType);
}

/** Plans the output files and opens them (framing written to temporaries). */
async function openOutput(
  output: string,
  ref: Checkpoint,
  averaged: readonly CheckpointTensor[],
  dtypes: ReadonlyMap<string, AverageOutDType>,
  maxShardBytes: number,
): Promise<TensorSink> {
  const outFormat = checkpointFormat(output);
  if ((outFormat === 'onnx') !== (ref.kind === 'onnx')) {
    throw new InputError(output, `output must be ${ref.kind === 'onnx' ? 'an .onnx file' : 'a .safetensors file or .safetensors.index.json'} like the inputs`);
  }
  if (ref.kind === 'onnx') {
    const plan = await planOnnxCopy(ref.path, output, {
      replace: averaged.map((t) => t.name),
      dtypes: new Map(averaged.map((t) => [t.name, dtypes.get(t.name)! as FloatDType])),
    });
    return openOnnxCopyWriter(plan);
  }
  const entries: SafetensorsEntry[] = ref.tensors.map((t) => ({
    name: t.name,
    dtype: (dtypes.get(t.name) ?? t.dtype) as DType,
    shape: t.shape,
  }));
  if (outFormat === 'safetensors-index') {
    return openShardedWriter(planShardedSafetensors(dirname(output), entries, maxShardBytes, ref.metadata, indexPrefix(output)));
  }
  return openSafetensorsWriter(planSafetensors(output, entries, ref.metadata));
}

function indexPrefix(indexPath: string): string {
  const base = indexPath.split(/[\\/]/).pop()!;
  return base.slice(0, -'.safetensors.index.json'.length);
}

/** Sources of one tensor across inputs, in input order, naming input files by index in `files`. */
function sourcesOf(name: string, inputs: readonly Checkpoint[], files: string[], fileIndex: Map<string, number>): AverageSource[] {
  return inputs.map((ck) => {
    const t = ck.byName.get(name)!;
    const dtype = t.dtype as AverageDType;
    if (t.location.kind === 'memory') return { bytes: t.location.bytes, dtype };
    let idx = fileIndex.get(t.location.path);
    if (idx === undefined) {
      idx = files.length;
      files.push(t.location.path);
      fileIndex.set(t.location.path, idx);
    }
    return { path: idx, offset: t.location.offset, dtype };
  });
}

export async function averageCheckpoints(opts: AverageOptions): Promise<AverageSummary> {
  if (opts.inputs.length === 0) throw new InputError('', 'no input checkpoints given');
  checkpointFormat(opts.output);
  const weights = resolveWeights(opts.inputs.length, opts.weights, opts.normalize ?? true);
  const inputs = await openAll(opts.inputs);
  refuseOverwrite(opts.output, inputs);
  checkCompatible(inputs);

  const ref = inputs[0];
  const averaged = ref.tensors.filter((t) => isFloatDType(t.dtype));
  const copied = ref.tensors.filter((t) => !isFloatDType(t.dtype));
  const dtypes = new Map(averaged.map((t) => [t.name, outDtypeOf(t, opts.dtype)]));
  if (ref.kind === 'onnx') {
    // The graph's value types are fixed; a dtype change would need Casts the model does not have.
    const changed = averaged.find((t) => dtypes.get(t.name) !== t.dtype);
    if (changed) {
      throw new InputError('--dtype', `ONNX outputs keep the initializer types of the graph (${JSON.stringify(changed.name)} is ${changed.dtype}); drop --dtype`);
    }
  }
  const sink = await openOutput(opts.output, ref, averaged, dtypes, opts.maxShardBytes ?? 5e9);

  const started = performance.now();
  try {
    const files: string[] = [];
    const fileIndex = new Map<string, number>();
    const outputs = sink.outputs.map((o) => o.tmpPath);
    const outIndex = new Map(sink.outputs.map((o, i) => [o.dest, i]));
    const byOutDtype = new Map<AverageOutDType, AverageTensorSpec[]>();
    for (const t of averaged) {
      const planned = sink.tensors.get(t.name)!;
      const spec: AverageTensorSpec = {
        name: t.name,
        numel: t.numel,
        outOffset: planned.offset,
        outFile: outIndex.get(planned.file)!,
        sources: sourcesOf(t.name, inputs, files, fileIndex),
      };
      const d = dtypes.get(t.name)!;
      if (!byOutDtype.has(d)) byOutDtype.set(d, []);
      byOutDtype.get(d)!.push(spec);
    }
    const total = averaged.reduce((s, t) => s + t.byteLength * inputs.length, 0);
    let base = 0;
    let bytesRead = 0;
    let bytesWritten = 0;
    let engineSeconds = 0;
    let nonfinite: AverageSummary['nonfinite'];
    for (const [outDtype, tensors] of byOutDtype) {
      const r = await native()
        .average({
          inputs: files,
          outputs,
          weights,
          outDtype,
          tensors,
          device: opts.device ?? 'cpu',
          threads: opts.threads,
          chunkBytes: opts.chunkBytes,
          allowNonfinite: opts.allowNonfinite ?? false,
          onProgress: opts.onProgress ? (done) => opts.onProgress!(base + done, total) : undefined,
        })
        .catch((e) => {
          throw engineError(e, inputs);
        });
      base += r.bytesRead;
      engineSeconds += r.seconds;
      bytesRead += r.bytesRead;
      bytesWritten += r.bytesWritten;
      if (r.nonfinite && !nonfinite) nonfinite = { input: inputs[r.nonfinite.input].path, tensor: r.nonfinite.tensor };
      for (const t of tensors) sink.markWritten(t.name);
    }
    for (const t of copied) {
      const bytes = await readLocation(t.location);
      sink.write(t.name, bytes);
      bytesWritten += bytes.byteLength;
    }
    sink.commit();
    const seconds = (performance.now() - started) / 1000;
    return {
      inputs: opts.inputs,
      output: opts.output,
      weights,
      tensors: ref.tensors.length,
      averaged: averaged.length,
      copiedFromFirst: copied.map((t) => t.name),
      bytesRead,
      bytesWritten,
      seconds,
      engineSeconds,
      gbPerSec: seconds > 0 ? bytesRead / seconds / 1e9 : 0,
      peakRssBytes: peakRssBytes(),
      device: opts.device ?? 'cpu',
      nonfinite,
    };
  } catch (e) {
    sink.abort();
    throw e;
  }
}

/** Opens every input, reporting all unreadable ones together. */
async function openAll(paths: readonly string[]): Promise<Checkpoint[]> {
  const results = await Promise.allSettled(paths.map((p) => openCheckpoint(p)));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failed.length === 1) throw failed[0];
  if (failed.length > 1) {
    const errs = failed.map((e) => (e instanceof InputError ? e : new InputError('', String((e as Error)?.message ?? e))));
    throw new InputErrors(errs, `${errs.length} inputs could not be read`);
  }
  return results.map((r) => (r as PromiseFulfilledResult<Checkpoint>).value);
}

/** Engine failures caused by the data (non-finite values, short files) are input errors. */
function engineError(e: unknown, inputs: readonly Checkpoint[]): unknown {
  const err = e as { code?: string; input?: number; tensor?: string; path?: string; message?: string };
  switch (err?.code) {
    case 'ERR_AVERAGE_NONFINITE': {
      const file = err.input !== undefined ? inputs[err.input].path : err.path ?? '';
      return new InputError(file, `tensor ${JSON.stringify(err.tensor)} has non-finite values (NaN or infinity); pass --allow-nonfinite to average anyway`);
    }
    case 'ERR_AVERAGE_OVERFLOW':
      return new InputError('', `tensor ${JSON.stringify(err.tensor)} overflows the output dtype; choose --dtype f32 or pass --allow-nonfinite`);
    case 'ERR_AVERAGE_RANGE':
    case 'ERR_AVERAGE_IO':
      return new InputError(err.path ?? '', err.message ?? 'I/O error');
    case 'ERR_AVERAGE_DEVICE':
      return new InputError('--device', err.message ?? 'CUDA device not available');
    default:
      return e;
  }
}
