// The one place that loads the native addon, and the typed surface of everything it exports.
// Each op family (info, optim, average) declares its part of `Native` below.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeInfo {
  cpuLevel: 'scalar' | 'avx2' | 'avx512';
  cpuLevelSupported: 'scalar' | 'avx2' | 'avx512';
  threads: number;
  cudaBuilt: boolean;
  cudaDevices: number;
  cudaDeviceNames: string[];
  cudaStatus: string;
  cudaPeakBandwidthGBs: number;
}

export interface NativeCore {
  info(): NativeInfo;
  /** Threads for CPU kernels (0 = all cores). Returns the count in force. */
  setThreads(n: number): number;
  /** Caps the CPU kernel level (tests run every variant). Returns the level in force. */
  setCpuLevel(level: 'scalar' | 'avx2' | 'avx512'): string;
}

// Families extend this interface in their own declaration blocks below.
export type Native = NativeCore & NativeOptim & NativeAverage;

// ---- optim family (native/optim, bindings/optim.cc) -------------------------------------------
/** One SGD parameter group for `sgdStep`: arrays are updated in place. */
export interface SgdGroupArgs {
  params: Float32Array[];
  grads: Float32Array[];
  /** Required when momentum != 0; ignored (may be null) otherwise. */
  momentumBuffers?: Float32Array[] | null;
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov?: boolean;
  maximize?: boolean;
  /** The buffers hold no history yet: this step sets buf = g (torch's first step). */
  firstStep?: boolean;
}

/** One Adam/AdamW parameter group for `adamStep`: arrays are updated in place. */
export interface AdamGroupArgs {
  params: Float32Array[];
  grads: Float32Array[];
  expAvg: Float32Array[];
  expAvgSq: Float32Array[];
  /** 1-based number of this update (bias corrections use it). */
  step: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW: p *= 1 - lr*wd instead of g += wd*p. */
  decoupled?: boolean;
  maximize?: boolean;
}

export interface CudaStepOptions {
  /** Steps to run on the device copies (SGD: firstStep only on the first; Adam: step, step+1, ...). */
  steps?: number;
  device?: number;
}

export interface CudaStepResult {
  steps: number;
  /** Kernel time per step from CUDA events, transfers excluded. */
  medianMs: number;
  minMs: number;
  device: string;
}

export interface MemoryBandwidthOptions {
  /** Bytes of each of the three triad arrays (default 64 MiB). */
  arrayBytes?: number;
  /** Timed passes after one warm-up (default 10). */
  repeats?: number;
  /** CPU threads for this probe only (default: the current pool). */
  threads?: number;
  device?: 'cpu' | 'cuda';
  cudaDevice?: number;
  /** CPU: streaming stores, so the counted bytes are the moved bytes (default true). */
  nonTemporal?: boolean;
}

export interface MemoryBandwidthResult {
  device: 'cpu' | 'cuda';
  /** Best pass, STREAM convention: 3 arrays x 4 bytes per element. */
  gbs: number;
  medianGBs: number;
  arrayBytes: number;
  repeats: number;
  threads: number;
  nonTemporal?: boolean;
  deviceName?: string;
}

export interface NativeOptim {
  /** One fused SGD step (torch.optim.SGD semantics) over every tensor of every group. */
  sgdStep(groups: SgdGroupArgs[]): void;
  /** One fused Adam/AdamW step (torch.optim.Adam/AdamW semantics) over every group. */
  adamStep(groups: AdamGroupArgs[]): void;
  /** Uploads, runs `steps` CUDA multi-tensor steps, downloads params and state in place. */
  cudaSgdSteps(groups: SgdGroupArgs[], options?: CudaStepOptions): CudaStepResult;
  cudaAdamSteps(groups: AdamGroupArgs[], options?: CudaStepOptions): CudaStepResult;
  /** STREAM-style triad bandwidth of the CPU pool or a GPU. */
  memoryBandwidth(options?: MemoryBandwidthOptions): MemoryBandwidthResult;
}

// ---- average family (native/average, bindings/average.cc) -------------------------------------
// out = Σᵢ λᵢ θᵢ over N checkpoints, tensor by tensor, streamed in chunks (≤ chunk elements of one
// tensor) through a fixed working set that grows with neither N nor the model:
//  - CPU, threads ≥ 2 (default: pool size): each worker thread takes the next chunk, preads it input
//    by input into its own staging buffer and folds it into its own fp32 accumulator while it is in
//    that core's cache; one worker's reads overlap the others' arithmetic. Memory: threads × ~1.5 MiB.
//  - CPU, threads = 1: a reader thread preads (chunk, input) pieces into a ring of 4 staging
//    buffers ahead of one consumer (the CPU kernels). Memory: ~6 chunk buffers of 512 KiB.
//  - CUDA: `threads` reader threads (default ≤ 8, at most 16) fill a ring of threads + 3 pinned
//    buffers ahead of one consumer (async H2D copies + kernels on two streams) and a writer
//    thread: one thread's page-cache reads are a fraction of the host link. Memory: threads + 5
//    chunk buffers of 4–8 MiB. On a many-core host the CPU schedule still reads files faster
//    (H200 host, 16 cores: CUDA 20–27 GB/s, CPU 35–40 GB/s); CUDA pays off when cores are few or busy.
// Arithmetic, identical on every CPU level, schedule, thread count, chunk size and on CUDA:
// acc = λ₀·x₀, then acc = fma(λᵢ, xᵢ, acc) for i = 1..N-1 in input order, in fp32 (inputs widened
// exactly; F64 rounded to nearest), then rounded to nearest-even into outDtype. Only NaN payloads
// may differ between levels/devices.

/** Storage dtypes the engine reads. */
export type AverageDType = 'F32' | 'F16' | 'BF16' | 'F64';
/** Storage dtypes the engine writes. */
export type AverageOutDType = 'F32' | 'F16' | 'BF16';

/**
 * One input's values of one tensor: `numel` little-endian values of `dtype`, either at byte
 * `offset` of file `job.inputs[path]` (read with pread, never mapped), or in caller memory
 * (`bytes`, from `offset`, default 0; kept referenced until the promise settles; do not detach or
 * transfer its ArrayBuffer meanwhile).
 */
export type AverageSource =
  | { path: number; offset: number; dtype: AverageDType }
  | { bytes: Uint8Array; offset?: number; dtype: AverageDType };

export interface AverageTensorSpec {
  /** Used in error messages and in `nonfinite`/`overflow` reports only. */
  name: string;
  /** Element count (0 allowed: nothing is read or written). */
  numel: number;
  /** Absolute byte offset in `job.outputs[outFile]` where numel × size(outDtype) bytes go. */
  outOffset: number;
  /** Index into `job.outputs` (default 0). */
  outFile?: number;
  /** Exactly one per weight, same order. */
  sources: AverageSource[];
}

export interface AverageJob {
  /** Input files, each opened once; sources name them by index. */
  inputs: string[];
  /**
   * Output files, already created with header/framing written; the engine only pwrites tensor data
   * (no create, no truncate). Write to temporary files: after a rejection they hold partial data.
   */
  outputs: string[];
  /** λᵢ, one per input, used as given (normalise beforehand); rounded to fp32. */
  weights: number[];
  outDtype: AverageOutDType;
  tensors: AverageTensorSpec[];
  /** Default 'cpu'. 'cuda' rejects with `CUDA device not available: …` when there is no GPU. */
  device?: 'cpu' | 'cuda';
  /** CPU worker threads, or CUDA reader threads (at most 16 used), 1..256; results never depend on
   * it. Default: the pool size (`info().threads`; at most 8 on CUDA). 1 = one compute thread fed by
   * a reader thread. */
  threads?: number;
  /** Reader threads of the pipelined schedule (CPU with threads = 1, and CUDA), 1..16; results
   * never depend on it. Default: 1 on CPU, `threads` on CUDA. */
  readers?: number;
  /** Bytes of fp32 accumulator per chunk, ≥ 64, rounded down to a multiple of 64 (results never
   * depend on it). Default 512 KiB on CPU, 4 MiB on CUDA. Staging buffers hold as many elements in
   * the widest input dtype. */
  chunkBytes?: number;
  /** Default false: a NaN/±inf input value (or an F64 value beyond fp32 range), or an output that
   * overflows outDtype, rejects. true: passes them through and reports the first in the result. */
  allowNonfinite?: boolean;
  /** Called on the JS thread about every 50 ms at most, and once at the end with done === total
   * (on success). A throw from it rejects the job (once the engine has finished). */
  onProgress?: (bytesRead: number, bytesTotal: number) => void;
}

export interface AverageResult {
  /** Input bytes consumed (files and in-memory sources). */
  bytesRead: number;
  bytesWritten: number;
  /** Wall time of the native job, file opening and checks included. */
  seconds: number;
  device: 'cpu' | 'cuda';
  threads: number;
  chunkBytes: number;
  /** allowNonfinite only: first tensor (in job order) with a non-finite input, lowest input index. */
  nonfinite?: { input: number; tensor: string };
  /** allowNonfinite only: first tensor whose averaged values are not finite in outDtype. */
  overflow?: { tensor: string };
}

/**
 * How `average` rejects. Bad arguments (types, shapes, indices, in-memory lengths): TypeError or
 * RangeError without `code`, before any I/O. Otherwise an Error (RangeError for ERR_AVERAGE_RANGE)
 * whose message names input index, file and tensor, e.g.
 * `input 3 (/runs/m3.safetensors): tensor "conv1.weight" has non-finite values (NaN or infinity)`.
 */
export interface AverageError extends Error {
  code:
    | 'ERR_AVERAGE_RANGE' // a source's byte range lies past its file's end, or outputs overlap (nothing written)
    | 'ERR_AVERAGE_IO' // open/read/write failure or short read
    | 'ERR_AVERAGE_NONFINITE'
    | 'ERR_AVERAGE_OVERFLOW'
    | 'ERR_AVERAGE_DEVICE'; // CUDA unavailable or failed
  /** Input (weight) index, when one input is at fault. */
  input?: number;
  tensor?: string;
  path?: string;
}

export interface AverageKernelResult {
  out: Uint8Array;
  /** Lowest input index holding a non-finite value, or -1. */
  nonfinite: number;
  /** Some output value is not finite in outDtype. */
  outNonfinite: boolean;
  level: 'scalar' | 'avx2' | 'avx512';
}

export interface NativeAverage {
  /** Runs one averaging job off the JS thread. */
  average(job: AverageJob): Promise<AverageResult>;
  /**
   * The CPU kernels on whole in-memory arrays (equal element counts), single-threaded, unchunked:
   * the reference the engine must match bit for bit. `level` defaults to the current level and
   * throws RangeError if the CPU lacks it.
   */
  averageKernel(
    inputs: Uint8Array[],
    dtypes: AverageDType[],
    weights: number[],
    outDtype: AverageOutDType,
    level?: 'scalar' | 'avx2' | 'avx512',
  ): AverageKernelResult;
  /**
   * Sequential pread of each file, whole, into one reused buffer of chunkBytes (the engine's read
   * pattern, no arithmetic): the page-cache read bandwidth to compare `average` throughput with.
   */
  readBandwidth(paths: string[], chunkBytes: number): Promise<{ bytes: number; seconds: number }>;
}

/** The package root: the folder with our package.json, from src/ or from dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'model-ratatouille') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('model-ratatouille: package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

let cached: Native | undefined;

/** Loads build/Release/ratatouille.node once; a missing build says how to make it. */
export function native(): Native {
  if (cached) return cached;
  const file = join(packageRoot(), 'build', 'Release', 'ratatouille.node');
  if (!existsSync(file)) {
    throw new Error(`${file}: native addon not built; run \`npm ci\` or \`npm run build:native\``);
  }
  const require = createRequire(import.meta.url);
  cached = require(file) as Native;
  return cached;
}
