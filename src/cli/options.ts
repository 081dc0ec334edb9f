// Parsers for option values shared by commands (each failure is a one-line InputError naming the
// option), and the option groups several commands declare alike.
import type { Command } from 'commander';
import type { OpenOptions } from '../data/registry.js';
import { InputError } from '../errors.js';

export function parseChoice<T extends string>(option: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new InputError(option, `must be one of ${choices.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

export function parseIntOption(option: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new InputError(option, `must be an integer in [${min}, ${max}] (got ${JSON.stringify(value)})`);
  }
  return n;
}

export function parseNumberList(option: string, value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  return parts.map((p, i) => {
    const n = Number(p);
    if (p === '' || !Number.isFinite(n)) throw new InputError(option, `item ${i + 1} (${JSON.stringify(p)}) is not a number`);
    return n;
  });
}

/** "16M", "64k", "1e6", "1024" -> count (powers of 1000 for k/M/G, as in parameter counts). */
export function parseCount(option: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kKmMgG]?)\s*$/.exec(value);
  if (!m) throw new InputError(option, `expected a count like 16M or 1000000 (got ${JSON.stringify(value)})`);
  const mult = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InputError(option, `must be positive (got ${JSON.stringify(value)})`);
  return n;
}

/** A finite number ("1e-3", "0.5"); range checks are left to the consumer's schema. */
export function parseNumberOption(option: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InputError(option, `must be a number (got ${JSON.stringify(value)})`);
  return n;
}

/** The dataset location/cache flags as commander parses them (`--no-cache` gives `cache: false`). */
export interface DatasetFlags {
  dataDir?: string;
  cacheDir?: string;
  cache?: boolean;
  strict?: boolean;
}

/** Adds the flags of every command that opens a dataset: where the files are, the cache, strictness. */
export function withDatasetOptions(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'folder with the Fashion-MNIST IDX files (default: $RATATOUILLE_DATA_DIR or /usr/share/datasets/fashion-mnist)')
    .option('--cache-dir <dir>', 'dataset cache (default: $RATATOUILLE_CACHE or ~/.cache/model-ratatouille)')
    .option('--no-cache', 'build the dataset in memory without reading or writing the cache')
    .option('--strict', 'image folders: fail on an undecodable image instead of skipping it');
}

/** The `openDataset` options those flags set. */
export function datasetOpenOptions(o: DatasetFlags): Pick<OpenOptions, 'dataDir' | 'cacheDir' | 'strict'> {
  return { dataDir: o.dataDir, cacheDir: o.cache === false ? null : o.cacheDir, strict: o.strict };
}
