// `ratatouille bench average`: the streaming average against two baselines measured in the same
// run: sequential page-cache read bandwidth of the same files (the ceiling: averaging must read
// every byte once), and a naive average that loads every checkpoint into JS arrays first.
// Peak RSS comes from child `ratatouille average --json` runs at N=4 and N=n, so it is not
// polluted by this process's own buffers.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { native, packageRoot } from '../../bindings/native.js';
import { decodeToF32, encodeFromF32, type FloatDType } from '../io/dtype.js';
import { parseSafetensorsHeader, planSafetensors, openSafetensorsWriter, writeSafetensors } from '../io/safetensors.js';
import { writeAllAndCommit } from '../io/tensor-io.js';
import { averageCheckpoints } from '../merge/average.js';
import { parseChoice, parseIntOption } from '../cli/options.js';
import { formatBytes } from '../util/format.js';
import { emit, median, ratio, timeRuns } from './stats.js';

const TENSOR_BYTES = 4 << 20;

/** One synthetic checkpoint: `mb` MiB of `dtype` values in 4 MiB tensors plus small biases. */
function writeSynthetic(path: string, mb: number, dtype: FloatDType, seed: number): void {
  const elt = dtype === 'F32' ? 4 : 2;
  const total = Math.floor((mb * 2 ** 20) / elt);
  const per = TENSOR_BYTES / elt;
  const entries: { name: string; dtype: FloatDType; shape: number[] }[] = [];
  for (let i = 0, left = total; left > 0; i++) {
    const n = Math.min(per, left);
    entries.push({ name: `layer${i}.weight`, dtype, shape: [n] });
    left -= n;
  }
  const plan = planSafetensors(path, entries);
  // generated one tensor at a time, so the checkpoint never sits in memory whole
  function* tensors(): Generator<[string, Uint8Array]> {
    let s = seed >>> 0;
    for (const e of entries) {
      const v = new Float32Array(e.shape[0]);
      for (let i = 0; i < v.length; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        v[i] = (s / 2 ** 32 - 0.5) * 0.1;
      }
      yield [e.name, encodeFromF32(v, dtype)];
    }
  }
  writeAllAndCommit(openSafetensorsWriter(plan), tensors());
}

/** The naive way: every checkpoint whole in memory as JS Float32Arrays, then sum and divide. */
function naiveAverage(paths: string[], out: string): void {
  const models = paths.map((p) => {
    const bytes = readFileSync(p);
    const n = Number(bytes.readBigUInt64LE(0));
    const file = parseSafetensorsHeader(p, bytes.subarray(8, 8 + n), bytes.length);
    const tensors = new Map<string, Float32Array>();
    for (const t of file.byOffset) tensors.set(t.name, decodeToF32(bytes.subarray(t.offset, t.offset + t.byteLength), t.dtype as FloatDType));
    return { file, tensors };
  });
  const first = models[0];
  const result = [];
  for (const t of first.file.byOffset) {
    const sum = new Float32Array(t.numel);
    for (const m of models) {
      const v = m.tensors.get(t.name)!;
      for (let i = 0; i < sum.length; i++) sum[i] += v[i];
    }
    for (let i = 0; i < sum.length; i++) sum[i] /= models.length;
    result.push({ name: t.name, dtype: t.dtype, shape: t.shape, data: encodeFromF32(sum, t.dtype as FloatDType) });
  }
  writeSafetensors(out, result);
}

function childPeakRss(inputs: string[], out: string, threads: number | undefined): number {
  const cliPath = join(packageRoot(), 'dist', 'src', 'cli', 'index.js');
  if (!existsSync(cliPath)) return Number.NaN;
  const args = [cliPath, 'average', ...inputs, '-o', out, '--json', ...(threads ? ['--threads', String(threads)] : [])];
  const stdout = execFileSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, RATATOUILLE_NO_PROGRESS: '1' } });
  return JSON.parse(stdout).peakRssBytes as number;
}

export interface AverageBenchOptions {
  n: number;
  mb: number;
  dtype: FloatDType;
  repeats: number;
  threads?: number;
  naive: boolean;
}

export async function runAverageBench(o: AverageBenchOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'rt-bench-avg-'));
  try {
    process.stderr.write(`bench average: writing ${o.n} × ${o.mb} MiB ${o.dtype} checkpoints to ${dir}\n`);
    const paths = Array.from({ length: o.n }, (_, i) => join(dir, `m${i}.safetensors`));
    paths.forEach((p, i) => writeSynthetic(p, o.mb, o.dtype, i + 1));
    // The engine reads 512 KiB of fp32-equivalent per chunk; the baseline preads with the same size
    // (pread speed depends on it). The generated files were fsynced, so no writeback competes.
    const chunk = (512 << 10) * (o.dtype === 'F32' ? 1 : 0.5);
    await native().readBandwidth(paths, chunk); // warm the page cache
    const reads = [];
    const engine = [];
    const endToEnd = [];
    let bytes = 0;
    for (let r = 0; r < o.repeats; r++) {
      // interleave the two so drift of the machine hits both alike
      const rb = await native().readBandwidth(paths, chunk);
      reads.push(rb.bytes / rb.seconds / 1e9);
      const s = await averageCheckpoints({ inputs: paths, output: join(dir, 'avg.safetensors'), threads: o.threads });
      rmSync(join(dir, 'avg.safetensors'));
      engine.push(s.bytesRead / s.engineSeconds / 1e9);
      endToEnd.push(s.bytesRead / s.seconds / 1e9);
      bytes = s.bytesRead;
    }
    const readGBs = median(reads);
    const engineGBs = median(engine);
    const engineSeconds = bytes / engineGBs / 1e9;
    let naiveSeconds = Number.NaN;
    if (o.naive) {
      naiveSeconds = median(await timeRuns(1, () => naiveAverage(paths, join(dir, 'naive.safetensors'))));
      rmSync(join(dir, 'naive.safetensors'));
    }
    const small = Math.min(4, o.n);
    const rssSmall = childPeakRss(paths.slice(0, small), join(dir, 'rss4.safetensors'), o.threads);
    const rssAll = childPeakRss(paths, join(dir, 'rssN.safetensors'), o.threads);
    return {
      n: o.n,
      mbPerCheckpoint: o.mb,
      dtype: o.dtype,
      bytesRead: bytes,
      readGBs,
      engineGBs,
      engineVsRead: ratio(engineGBs, readGBs),
      endToEndGBs: median(endToEnd),
      naiveSeconds,
      engineSeconds,
      speedupVsNaive: ratio(naiveSeconds, engineSeconds),
      peakRss: { [`n${small}`]: rssSmall, [`n${o.n}`]: rssAll },
      rssRatio: ratio(rssAll, rssSmall),
      repeats: o.repeats,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function averageBenchCommand(): Command {
  return new Command('average')
    .description('streaming average vs page-cache read bandwidth and vs a naive JS average, same run')
    .option('--n <count>', 'checkpoints', '16')
    .option('--mb <MiB>', 'size of each checkpoint', '64')
    .option('--dtype <dtype>', 'f32 or bf16', 'f32')
    .option('--repeats <k>', 'timed repeats (median)', '3')
    .option('--threads <n>', 'compute threads')
    .option('--no-naive', 'skip the naive baseline')
    .option('--json', 'machine-readable output')
    .action(async (raw: { n: string; mb: string; dtype: string; repeats: string; threads?: string; naive: boolean; json?: boolean }) => {
      const r = await runAverageBench({
        n: parseIntOption('--n', raw.n, 1, 1024),
        mb: parseIntOption('--mb', raw.mb, 1, 1 << 16),
        dtype: parseChoice('--dtype', raw.dtype, ['f32', 'bf16'] as const) === 'f32' ? 'F32' : 'BF16',
        repeats: parseIntOption('--repeats', raw.repeats, 1, 100),
        threads: raw.threads === undefined ? undefined : parseIntOption('--threads', raw.threads, 1, 256),
        naive: raw.naive,
      });
      emit(!!raw.json, r, () => [
        `average ${r.n} × ${r.mbPerCheckpoint} MiB ${r.dtype} (${formatBytes(r.bytesRead)} read per run, median of ${r.repeats})`,
        `  page-cache read      ${r.readGBs.toFixed(2)} GB/s   (baseline, same files, same run)`,
        `  streaming average    ${r.engineGBs.toFixed(2)} GB/s   = ${(100 * r.engineVsRead).toFixed(0)}% of read bandwidth (target ≥ 80%)`,
        `  with plan + fsync    ${r.endToEndGBs.toFixed(2)} GB/s   (the whole command: headers, engine, copy, fsync, rename)`,
        Number.isNaN(r.naiveSeconds)
          ? '  naive JS average     skipped'
          : `  naive JS average     ${r.naiveSeconds.toFixed(2)} s vs ${r.engineSeconds.toFixed(2)} s = ${r.speedupVsNaive.toFixed(1)}× faster (target ≥ 5×)`,
        `  peak RSS             ${Object.entries(r.peakRss).map(([k, v]) => `${k}: ${formatBytes(v)}`).join(', ')}  (ratio ${r.rssRatio.toFixed(2)}, target 1.0)`,
      ]);
    });
}
