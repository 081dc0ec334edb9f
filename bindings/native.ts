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
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface NativeOptim {}

// ---- average family (native/average, bindings/average.cc) -------------------------------------
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface NativeAverage {}

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
