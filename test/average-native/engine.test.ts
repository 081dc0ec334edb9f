// The streaming weight-average engine (native().average) on small temporary checkpoints: mixed
// input dtypes and layouts, every output dtype, bit-identical to the in-memory kernels whatever
// the threads, chunk size or schedule; errors that name input, file and tensor; argument checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  native,
  type AverageDType,
  type AverageError,
  type AverageJob,
  type AverageOutDType,
  type AverageSource,
} from '../../bindings/native.js';
import { ES, decode, encode, randomValues, rng, ulpOut } from './dtypes.js';

const nat = native();
const hasCuda = nat.info().cudaDevices > 0;
let dir: string;

const DTYPES: AverageDType[] = ['F32', 'F16', 'BF16', 'F64'];
const SHAPES = [
  { name: 'empty', numel: 0 },
  { name: 'one', numel: 1 },
  { name: 'seven', numel: 7 },
  { name: 'w33', numel: 33 },
  { name: 'big', numel: 100003 },
];
const WEIGHTS = [0.3, 0.2, 0.25, 0.15, 0.1];
const HEADER = Buffer.from('RATATOUILLE!\n'); // 13 bytes: tensor data lands at odd offsets
const FOOTER = Buffer.from('END!!');

interface Fixture {
  files: string[];
  /** data[t][i]: input i's bytes of tensor t; dtypes[t][i] its dtype. */
  data: Uint8Array[][];
  dtypes: AverageDType[][];
  offsets: number[][];
}

// Inputs 0..3 are files (a junk prefix, then the tensors; every dtype meets every tensor), input 4
// lives in memory.
function makeFixture(sub: string, seed: number): Fixture {
  const next = rng(seed);
  const d = path.join(dir, sub);
  fs.mkdirSync(d, { recursive: true });
  const fx: Fixture = { files: [], data: [], dtypes: [], offsets: [] };
  const parts: Buffer[][] = [[], [], [], []];
  const pos = [0, 1, 2, 3].map((i) => {
    const junk = Buffer.alloc(3 + 8 * i + i, 0xab);
    parts[i].push(junk);
    return junk.length;
  });
  SHAPES.forEach((s, t) => {
    fx.data.push([]);
    fx.dtypes.push([]);
    fx.offsets.push([]);
    for (let i = 0; i < WEIGHTS.length; i++) {
      const dtype = i < 4 ? DTYPES[(i + t) % 4] : 'BF16';
      const bytes = encode(randomValues(s.numel, next), dtype);
      fx.data[t].push(bytes);
      fx.dtypes[t].push(dtype);
      if (i < 4) {
        fx.offsets[t].push(pos[i]);
        parts[i].push(Buffer.from(bytes));
        pos[i] += bytes.length;
      }
    }
  });
  for (let i = 0; i < 4; i++) {
    const f = path.join(d, `model${i}.bin`);
    fs.writeFileSync(f, Buffer.concat(parts[i]));
    fx.files.push(f);
  }
  return fx;
}

/** A pre-created output (header, zeroed data, footer) and the job that fills it. */
function makeJob(fx: Fixture, out: AverageOutDType, outPath: string, extra: Partial<AverageJob> = {}): AverageJob {
  const size = SHAPES.reduce((a, s) => a + s.numel * ES[out], 0);
  fs.writeFileSync(outPath, Buffer.concat([HEADER, Buffer.alloc(size), FOOTER]));
  let off = HEADER.length;
  const tensors = SHAPES.map((s, t) => {
    const sources: AverageSource[] = fx.data[t].map((bytes, i) =>
      i < 4 ? { path: i, offset: fx.offsets[t][i], dtype: fx.dtypes[t][i] } : { bytes, dtype: fx.dtypes[t][i] },
    );
    const spec = { name: s.name, numel: s.numel, outOffset: off, sources };
    off += s.numel * ES[out];
    return spec;
  });
  return { inputs: [...fx.files], outputs: [outPath], weights: [...WEIGHTS], outDtype: out, tensors, ...extra };
}

/** The expected output file: the in-memory kernel, tensor by tensor. */
function expectedFile(fx: Fixture, out: AverageOutDType): Buffer {
  const parts = SHAPES.map((_, t) => Buffer.from(nat.averageKernel(fx.data[t], fx.dtypes[t], WEIGHTS, out, 'scalar').out));
  return Buffer.concat([HEADER, ...parts, FOOTER]);
}

let fx: Fixture;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rt-average-'));
  fx = makeFixture('base', 11);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('average: results', () => {
  for (const out of ['F32', 'F16', 'BF16'] as const) {
    it(`mixed F32/F16/BF16/F64 files + in-memory input -> ${out}: equals the kernels, within the float64 bound`, async () => {
      const outPath = path.join(dir, `out-${out}.bin`);
      const r = await nat.average(makeJob(fx, out, outPath));
      const got = fs.readFileSync(outPath);
      expect(got.equals(expectedFile(fx, out))).toBe(true);
      expect(r.bytesRead).toBe(fx.data.flat().reduce((a, b) => a + b.byteLength, 0));
      expect(r.bytesWritten).toBe(got.length - HEADER.length - FOOTER.length);
      expect(r.nonfinite).toBeUndefined();
      expect(r.overflow).toBeUndefined();
      // Against float64: fp32 accumulation (N·2^-24·Σ|λx|) + one output ulp, as in kernels.test.ts.
      const t = SHAPES.findIndex((s) => s.name === 'big');
      const start = HEADER.length + SHAPES.slice(0, t).reduce((a, s) => a + s.numel * ES[out], 0);
      const vals = decode(new Uint8Array(got.subarray(start, start + SHAPES[t].numel * ES[out])), out);
      const xs = fx.data[t].map((b, i) => decode(b, fx.dtypes[t][i]));
      for (let j = 0; j < vals.length; j++) {
        let ref = 0, s = 0;
        for (let i = 0; i < WEIGHTS.length; i++) {
          const p = Math.fround(WEIGHTS[i]) * Math.fround(xs[i][j]);
          ref += p;
          s += Math.abs(p);
        }
        const bound = WEIGHTS.length * 2 ** -24 * s;
        if (!(Math.abs(vals[j] - ref) <= bound + ulpOut(Math.abs(ref) + bound, out)))
          throw new Error(`${out} element ${j}: ${vals[j]} vs ${ref}`);
      }
    });
  }

  it('gives identical bytes for threads 1/2/3, any readers, chunk size and schedule', async () => {
    const want = expectedFile(fx, 'BF16');
    const variants: Partial<AverageJob>[] = [
      { threads: 1 },
      { threads: 1, readers: 3 },
      { threads: 1, readers: 5, chunkBytes: 64 },
      { threads: 1, readers: 16, chunkBytes: 256 },
      { threads: 2 },
      { threads: 3, chunkBytes: 256 },
      { threads: 1, chunkBytes: 64 },
      { threads: 2, chunkBytes: 64 },
      { threads: 2, chunkBytes: 4096 },
      { chunkBytes: 1 << 22 },
    ];
    for (const [k, v] of variants.entries()) {
      const outPath = path.join(dir, `det-${k}.bin`);
      const r = await nat.average(makeJob(fx, 'BF16', outPath, v));
      expect(fs.readFileSync(outPath).equals(want), JSON.stringify(v)).toBe(true);
      if (v.threads) expect(r.threads).toBe(v.threads);
      if (v.chunkBytes) expect(r.chunkBytes).toBe(Math.floor(v.chunkBytes / 64) * 64);
    }
  });

  it('reports progress on the JS thread, ending at the total', async () => {
    const seen: [number, number][] = [];
    const r = await nat.average(makeJob(fx, 'F32', path.join(dir, 'progress.bin'), { onProgress: (a, b) => seen.push([a, b]) }));
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toEqual([r.bytesRead, r.bytesRead]);
    for (let k = 1; k < seen.length; k++) expect(seen[k][0]).toBeGreaterThanOrEqual(seen[k - 1][0]);
  });

  it('rejects with the error a progress callback throws', async () => {
    const job = makeJob(fx, 'F32', path.join(dir, 'progress-throw.bin'), {
      onProgress: () => {
        throw new Error('progress bar broke');
      },
    });
    await expect(nat.average(job)).rejects.toThrow('progress bar broke');
  });

  it('accepts a job with no tensors and no files', async () => {
    const r = await nat.average({ inputs: [], outputs: [], weights: [1], outDtype: 'F32', tensors: [] });
    expect([r.bytesRead, r.bytesWritten]).toEqual([0, 0]);
  });
});

describe('average: non-finite values', () => {
  // Puts NaN/inf into input i's copy of tensor t (in a fresh fixture), element j.
  function poison(f: Fixture, t: number, i: number, j: number, v: number) {
    const dtype = f.dtypes[t][i];
    const b = encode([v], dtype);
    if (dtype === 'BF16' && Number.isNaN(v)) b.set([0xc0, 0x7f]);
    const fd = fs.openSync(f.files[i], 'r+');
    fs.writeSync(fd, b, 0, b.length, f.offsets[t][i] + j * ES[dtype]);
    fs.closeSync(fd);
    f.data[t][i].set(b, j * ES[dtype]);
  }
  const T = (name: string) => SHAPES.findIndex((s) => s.name === name);

  it('rejects naming the input, its file and the tensor, whatever the schedule', async () => {
    const f = makeFixture('nan', 12);
    poison(f, T('w33'), 2, 5, NaN);
    poison(f, T('big'), 1, 99999, Infinity);
    poison(f, T('seven'), 3, 6, -Infinity);
    poison(f, T('seven'), 2, 6, NaN);
    for (const v of [{ threads: 1 }, { threads: 1, readers: 4, chunkBytes: 64 }, { threads: 2 }, { threads: 2, chunkBytes: 64 }]) {
      const err = (await nat.average(makeJob(f, 'F32', path.join(dir, 'nan.bin'), v)).catch((e) => e)) as AverageError;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toBe(`input 2 (${f.files[2]}): tensor "seven" has non-finite values (NaN or infinity)`);
      expect([err.code, err.input, err.tensor, err.path]).toEqual(['ERR_AVERAGE_NONFINITE', 2, 'seven', f.files[2]]);
    }
  });

  it('with allowNonfinite, passes NaN through and reports where it came from', async () => {
    const f = makeFixture('nan-allowed', 13);
    poison(f, T('w33'), 2, 5, NaN);
    const outPath = path.join(dir, 'nan-allowed.bin');
    const r = await nat.average(makeJob(f, 'F16', outPath, { allowNonfinite: true }));
    expect(r.nonfinite).toEqual({ input: 2, tensor: 'w33' });
    const start = HEADER.length + (1 + 7) * 2;
    const vals = decode(new Uint8Array(fs.readFileSync(outPath).subarray(start, start + 33 * 2)), 'F16');
    expect(Array.from(vals, (v, j) => (Number.isNaN(v) ? j : -1)).filter((j) => j >= 0)).toEqual([5]);
  });

  it('rejects an average that overflows the output dtype, or reports it when allowed', async () => {
    const big = new Uint8Array(new Float32Array([1, 1e5, 2]).buffer);
    const outPath = path.join(dir, 'overflow.bin');
    fs.writeFileSync(outPath, Buffer.alloc(6));
    const job: AverageJob = {
      inputs: [], outputs: [outPath], weights: [1], outDtype: 'F16',
      tensors: [{ name: 'huge', numel: 3, outOffset: 0, sources: [{ bytes: big, dtype: 'F32' }] }],
    };
    await expect(nat.average(job)).rejects.toMatchObject({ code: 'ERR_AVERAGE_OVERFLOW', tensor: 'huge', message: expect.stringMatching(/"huge".*overflow F16/) });
    const r = await nat.average({ ...job, allowNonfinite: true });
    expect(r.overflow).toEqual({ tensor: 'huge' });
    expect(decode(new Uint8Array(fs.readFileSync(outPath)), 'F16')).toEqual(new Float64Array([1, Infinity, 2]));
  });
});

describe('average: files', () => {
  it('rejects a source past the end of its file before writing anything', async () => {
    const f = makeFixture('short', 14);
    const outPath = path.join(dir, 'short.bin');
    const job = makeJob(f, 'F32', outPath);
    const size = fs.statSync(f.files[3]).size;
    (job.tensors[4].sources[3] as { offset: number }).offset = size - 100;
    const before = fs.readFileSync(outPath);
    const err = (await nat.average(job).catch((e) => e)) as AverageError;
    expect(err).toBeInstanceOf(RangeError);
    expect(err.code).toBe('ERR_AVERAGE_RANGE');
    expect(err.message).toContain(`input 3 (${f.files[3]}): tensor "big": bytes [${size - 100}, `);
    expect(err.message).toContain(`lie past the end of the ${size}-byte file`);
    expect(fs.readFileSync(outPath).equals(before)).toBe(true);
  });

  it('rejects missing inputs and outputs, naming them, and never creates an output', async () => {
    const missing = path.join(dir, 'nope', 'model.bin');
    await expect(nat.average({ ...makeJob(fx, 'F32', path.join(dir, 'm.bin')), inputs: [fx.files[0], missing, fx.files[2], fx.files[3]] }))
      .rejects.toMatchObject({ code: 'ERR_AVERAGE_IO', message: expect.stringContaining(`input file 1 (${missing}): cannot open`) });
    const noOut = path.join(dir, 'not-created.bin');
    await expect(nat.average({ ...makeJob(fx, 'F32', path.join(dir, 'm2.bin')), outputs: [noOut] }))
      .rejects.toMatchObject({ code: 'ERR_AVERAGE_IO', message: expect.stringContaining(`output 0 (${noOut}): cannot open`) });
    expect(fs.existsSync(noOut)).toBe(false);
  });

  it('rejects a failed read naming the input, its file and the tensor, in both schedules', async () => {
    // A directory opens and has a size, but pread on it fails (EISDIR): a read error mid-job.
    const sub = path.join(dir, 'a-directory');
    fs.mkdirSync(sub, { recursive: true });
    const outPath = path.join(dir, 'read-error.bin');
    fs.writeFileSync(outPath, Buffer.alloc(16));
    const mem = new Uint8Array(new Float32Array([1, 2]).buffer);
    for (const threads of [1, 2]) {
      const job: AverageJob = {
        inputs: [fx.files[0], sub], outputs: [outPath], weights: [0.5, 0.5], outDtype: 'F32', threads,
        tensors: [
          { name: 'fine', numel: 2, outOffset: 0, sources: [{ bytes: mem, dtype: 'F32' }, { bytes: mem, dtype: 'F32' }] },
          { name: 'broken', numel: 1, outOffset: 8, sources: [{ bytes: mem, dtype: 'F32' }, { path: 1, offset: 0, dtype: 'F32' }] },
        ],
      };
      await expect(nat.average(job)).rejects.toMatchObject({
        code: 'ERR_AVERAGE_IO', input: 1, tensor: 'broken', path: sub,
        message: `input 1 (${sub}): tensor "broken": read failed at byte 0: Is a directory`,
      });
    }
  });

  it('rejects tensors whose output ranges overlap', async () => {
    const job = makeJob(fx, 'F32', path.join(dir, 'overlap.bin'));
    job.tensors[3].outOffset = job.tensors[2].outOffset + 4;
    await expect(nat.average(job)).rejects.toMatchObject({ code: 'ERR_AVERAGE_RANGE', message: expect.stringMatching(/tensors "seven" and "w33" overlap/) });
  });

  it('readBandwidth reads every byte of the files', async () => {
    const r = await nat.readBandwidth(fx.files, 4096);
    expect(r.bytes).toBe(fx.files.reduce((a, f) => a + fs.statSync(f).size, 0));
    expect(r.seconds).toBeGreaterThan(0);
    await expect(nat.readBandwidth([path.join(dir, 'absent')], 4096)).rejects.toThrow(/absent\): cannot open/);
  });
});

describe('average: arguments', () => {
  const base = () => makeJob(fx, 'F32', path.join(dir, 'args.bin'));
  const cases: [string, (j: AverageJob) => unknown, ErrorConstructor, RegExp][] = [
    ['weights not an array', (j) => ((j as { weights: unknown }).weights = 'x'), TypeError, /job\.weights must be an array/],
    ['no weights', (j) => (j.weights = []), RangeError, /job\.weights must name at least one input/],
    ['non-finite weight', (j) => (j.weights[1] = Infinity), RangeError, /job\.weights\[1\]/],
    ['F64 output', (j) => ((j as { outDtype: string }).outDtype = 'F64'), RangeError, /job\.outDtype must be one of F32, F16, BF16/],
    ['negative numel', (j) => (j.tensors[2].numel = -1), RangeError, /job\.tensors\[2\] \("seven"\)\.numel must be an integer/],
    ['fractional numel', (j) => (j.tensors[2].numel = 1.5), RangeError, /numel must be an integer/],
    ['string numel', (j) => ((j.tensors[2] as { numel: unknown }).numel = '7'), TypeError, /numel must be a number/],
    ['missing name', (j) => delete (j.tensors[1] as { name?: string }).name, TypeError, /job\.tensors\[1\]\.name must be a string/],
    ['too few sources', (j) => j.tensors[3].sources.pop(), RangeError, /"w33"\)\.sources has 4 entries, expected one per weight \(5\)/],
    ['unknown dtype', (j) => ((j.tensors[3].sources[1] as { dtype: string }).dtype = 'I8'), RangeError, /sources\[1\] \(input 1\)\.dtype must be one of/],
    ['bad file index', (j) => ((j.tensors[3].sources[1] as { path: number }).path = 7), RangeError, /sources\[1\] \(input 1\)\.path 7 is not an index into inputs \(4 files\)/],
    ['negative offset', (j) => ((j.tensors[3].sources[1] as { offset: number }).offset = -4), RangeError, /\.offset must be an integer/],
    ['short in-memory bytes', (j) => ((j.tensors[4].sources[4] as { bytes: Uint8Array }).bytes = new Uint8Array(10)), RangeError, /"big"\)\.sources\[4\] \(input 4\)\.bytes holds 10 bytes, tensor "big" needs 200006/],
    ['both bytes and path', (j) => ((j.tensors[4].sources[4] as { path?: number }).path = 0), TypeError, /exactly one of bytes and path/],
    ['negative outOffset', (j) => (j.tensors[1].outOffset = -1), RangeError, /outOffset must be an integer/],
    ['bad outFile', (j) => (j.tensors[1].outFile = 2), RangeError, /outFile 2 is not an index into outputs/],
    ['zero threads', (j) => (j.threads = 0), RangeError, /job\.threads/],
    ['zero readers', (j) => (j.readers = 0), RangeError, /job\.readers must be an integer in \[1, 16\]/],
    ['too many readers', (j) => (j.readers = 17), RangeError, /job\.readers/],
    ['tiny chunk', (j) => (j.chunkBytes = 8), RangeError, /job\.chunkBytes must be at least 64/],
    ['unknown device', (j) => ((j as { device: string }).device = 'tpu'), RangeError, /job\.device must be "cpu" or "cuda"/],
    ['progress not a function', (j) => ((j as { onProgress: unknown }).onProgress = 5), TypeError, /job\.onProgress must be a function/],
    ['allowNonfinite not a boolean', (j) => ((j as { allowNonfinite: unknown }).allowNonfinite = 1), TypeError, /allowNonfinite must be a boolean/],
  ];
  for (const [what, mutate, cls, msg] of cases) {
    it(`rejects ${what}`, async () => {
      const job = base();
      mutate(job);
      const err = await nat.average(job).catch((e) => e);
      expect(err).toBeInstanceOf(cls);
      expect(err.message).toMatch(msg);
    });
  }
  it('rejects a job that is not an object', async () => {
    await expect(nat.average(null as unknown as AverageJob)).rejects.toThrow(TypeError);
  });
});

describe('average: CUDA', () => {
  it.skipIf(hasCuda)('rejects device cuda clearly when there is no GPU', async () => {
    const job = makeJob(fx, 'F32', path.join(dir, 'cuda.bin'), { device: 'cuda' });
    await expect(nat.average(job)).rejects.toMatchObject({ code: 'ERR_AVERAGE_DEVICE', message: expect.stringMatching(/^CUDA device not available: /) });
  });

  it.skipIf(!hasCuda)('CUDA gives the CPU bytes for every output dtype and chunk size', async () => {
    for (const out of ['F32', 'F16', 'BF16'] as const) {
      for (const chunkBytes of [64, 1 << 20]) {
        const p = path.join(dir, `cuda-${out}-${chunkBytes}.bin`);
        const r = await nat.average(makeJob(fx, out, p, { device: 'cuda', chunkBytes }));
        expect(r.device).toBe('cuda');
        expect(fs.readFileSync(p).equals(expectedFile(fx, out))).toBe(true);
      }
    }
  });
});
