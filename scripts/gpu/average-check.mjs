#!/usr/bin/env node
// GPU check of the average family, for scripts/gpu-check.sh: the CUDA weight-average path against
// the CPU engine on random mixed-dtype checkpoints (same bytes expected, same non-finite errors),
// then the CUDA path's GB/s against the page-cache read bandwidth of the same files (readBandwidth)
// and the device memory bandwidth. Prints one JSON object; without a GPU the CUDA parts say
// "skipped". Needs build/Release and dist/ (npx tsc -p tsconfig.build.json). Well under 90 s.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { native } from '../../dist/bindings/native.js';

const n = native();
const info = n.info();
const hasCuda = info.cudaDevices > 0;
const out = { info, equality: null, nonfinite: null, throughput: null, errors: [] };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rt-average-gpu-'));
const ES = { F32: 4, F16: 2, BF16: 2, F64: 8 };

// Deterministic finite values of each dtype: 16-bit ones as raw bit patterns (subnormals included)
// with a finite exponent, BF16 below 2^32 so that sums stay finite in fp32.
function randomBytes(numel, dtype, seed) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  if (dtype === 'F32') return new Uint8Array(Float32Array.from({ length: numel }, () => (next() - 0.5) * 4).buffer);
  if (dtype === 'F64') return new Uint8Array(Float64Array.from({ length: numel }, () => (next() - 0.5) * 4).buffer);
  const mask = dtype === 'F16' ? 0x7c00 : 0x7f80;
  const h = Uint16Array.from({ length: numel }, () => {
    let v;
    do v = Math.floor(next() * 65536) & (dtype === 'BF16' ? 0xcfff : 0xffff);
    while ((v & mask) === mask);
    return v;
  });
  return new Uint8Array(h.buffer);
}

// N checkpoint files, each a junk prefix and the tensors back to back (dtype differs per input).
function writeCheckpoints(tag, sizes, dtypesOf) {
  const n = dtypesOf(0).length;
  const files = [], layout = sizes.map(() => []);
  for (let i = 0; i < n; i++) {
    const parts = [Buffer.alloc(5 + i, 0xab)];
    let pos = parts[0].length;
    sizes.forEach((numel, t) => {
      const dtype = dtypesOf(t)[i];
      const b = randomBytes(numel, dtype, 1 + 97 * t + 13 * i);
      layout[t].push({ path: i, offset: pos, dtype });
      parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      pos += b.byteLength;
    });
    const f = path.join(dir, `${tag}${i}.bin`);
    fs.writeFileSync(f, Buffer.concat(parts));
    files.push(f);
  }
  return { files, layout };
}

function job(ck, sizes, outDtype, outPath, extra = {}) {
  let off = 7;
  const tensors = sizes.map((numel, t) => {
    const spec = { name: `t${t}`, numel, outOffset: off, sources: ck.layout[t] };
    off += numel * ES[outDtype];
    return spec;
  });
  fs.writeFileSync(outPath, Buffer.alloc(off + 3, 0xee));
  const w = ck.files.map((_, i) => (i + 1) / ((ck.files.length * (ck.files.length + 1)) / 2));
  return { inputs: ck.files, outputs: [outPath], weights: w, outDtype, tensors, ...extra };
}

async function equality() {
  const sizes = [0, 1, 7, 33, 100003, (1 << 20) + 3, 3 * 768 * 768];
  const rot = ['F32', 'F16', 'BF16', 'F64', 'BF16'];
  const ck = writeCheckpoints('eq', sizes, (t) => rot.map((_, i) => rot[(i + t) % rot.length]));
  const cases = [];
  for (const outDtype of ['F32', 'F16', 'BF16']) {
    const cpuPath = path.join(dir, `cpu-${outDtype}.bin`);
    // F16 outputs of large BF16 inputs overflow: both devices must then write the same infinities.
    await n.average(job(ck, sizes, outDtype, cpuPath, { allowNonfinite: true }));
    const want = fs.readFileSync(cpuPath);
    for (const chunkBytes of [4096, undefined]) {
      const c = { outDtype, chunkBytes: chunkBytes ?? 'default' };
      if (!hasCuda) { cases.push({ ...c, skipped: 'no CUDA device' }); continue; }
      const p = path.join(dir, `cuda-${outDtype}.bin`);
      const r = await n.average(job(ck, sizes, outDtype, p, { device: 'cuda', allowNonfinite: true, ...(chunkBytes ? { chunkBytes } : {}) }));
      const got = fs.readFileSync(p);
      let differing = 0;
      for (let k = 0; k < got.length; k++) if (got[k] !== want[k]) differing++;
      cases.push({ ...c, device: r.device, bytes: got.length, differingBytes: differing, bitExact: differing === 0 });
    }
  }
  out.equality = { pass: hasCuda ? cases.every((c) => c.bitExact) : 'skipped', cases };

  // A NaN in input 3 of tensor t4 and an infinity in input 1 of t6: same error on both devices.
  const bad = path.join(dir, 'eq3.bin');
  const fd = fs.openSync(bad, 'r+');
  const src = ck.layout[4][3];
  fs.writeSync(fd, src.dtype === 'F32' ? Buffer.from([0, 0, 0xc0, 0x7f]) : src.dtype === 'F64' ? Buffer.from([0, 0, 0, 0, 0, 0, 0xf8, 0x7f]) : Buffer.from([0xc0, 0x7f]), 0, ES[src.dtype], src.offset + 10 * ES[src.dtype]);
  fs.closeSync(fd);
  const msg = async (device) => n.average(job(ck, sizes, 'F32', path.join(dir, `nan-${device}.bin`), { device })).then(() => 'resolved', (e) => `${e.code}: ${e.message}`);
  const cpu = await msg('cpu');
  const cuda = hasCuda ? await msg('cuda') : 'skipped';
  out.nonfinite = { cpu, cuda, pass: hasCuda ? cpu === cuda && cpu.startsWith('ERR_AVERAGE_NONFINITE') : 'skipped' };
}

async function best(times, fn) {
  let b = 0;
  for (let k = 0; k < times; k++) b = Math.max(b, await fn());
  return b;
}

// 8 inputs of 256 MiB (F32) or 128 Mi elements x 2 bytes (BF16), in the page cache after writing.
async function throughput() {
  const res = { files: 8, fileMiB: 256 };
  for (const dtype of ['F32', 'BF16']) {
    const numel = (256 << 20) / ES[dtype];
    const block = Buffer.from(randomBytes(1 << 20, dtype, 7).buffer);
    const files = [];
    for (let i = 0; i < 8; i++) {
      const f = path.join(dir, `tp-${dtype}-${i}.bin`);
      const fd = fs.openSync(f, 'w');
      for (let k = 0; k < numel / (1 << 20); k++) fs.writeSync(fd, block);
      // Flushed now: background writeback of fresh files would otherwise compete with the timing.
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      files.push(f);
    }
    const tensors = [];
    for (let off = 0, t = 0; off < numel; t++) {
      const len = Math.min(4 << 20, numel - off);
      tensors.push({ name: `t${t}`, numel: len, outOffset: off * ES[dtype], sources: files.map((_, i) => ({ path: i, offset: off * ES[dtype], dtype })) });
      off += len;
    }
    const outPath = path.join(dir, `tp-out-${dtype}.bin`);
    const ofd = fs.openSync(outPath, 'w');
    fs.writeSync(ofd, Buffer.alloc(numel * ES[dtype]));
    fs.fsyncSync(ofd);
    fs.closeSync(ofd);
    const mk = (device) => ({ inputs: files, outputs: [outPath], weights: files.map(() => 1 / 8), outDtype: dtype, tensors, device });
    const gbs = async (device) => { const r = await n.average(mk(device)); return { gbs: r.bytesRead / r.seconds / 1e9, chunkBytes: r.chunkBytes }; };
    const cpuRun = await gbs('cpu');
    // Read bandwidth with each path's own read size (chunk elements x input dtype size).
    const readAt = async (chunkBytes) => best(3, async () => { const r = await n.readBandwidth(files, (chunkBytes / 4) * ES[dtype]); return r.bytes / r.seconds / 1e9; });
    const cpuGBs = Math.max(cpuRun.gbs, await best(2, async () => (await gbs('cpu')).gbs));
    const readCpu = await readAt(cpuRun.chunkBytes);
    const entry = { cpu: { gbs: cpuGBs, readGBs: readCpu, ratio: cpuGBs / readCpu, chunkBytes: cpuRun.chunkBytes } };
    if (hasCuda) {
      const first = await gbs('cuda');
      const cudaGBs = Math.max(first.gbs, await best(2, async () => (await gbs('cuda')).gbs));
      const readCuda = await readAt(first.chunkBytes);
      entry.cuda = { gbs: cudaGBs, readGBs: readCuda, ratio: cudaGBs / readCuda, chunkBytes: first.chunkBytes };
    } else entry.cuda = 'skipped';
    res[dtype] = entry;
    for (const f of [...files, outPath]) fs.rmSync(f);
  }
  res.deviceMemory = { peakGBs: info.cudaPeakBandwidthGBs };
  if (hasCuda && typeof n.memoryBandwidth === 'function') {
    try { res.deviceMemory.triadGBs = n.memoryBandwidth({ device: 'cuda', arrayBytes: 256 << 20, repeats: 5 }).gbs; } catch (e) { out.errors.push(`memoryBandwidth: ${e.message}`); }
  }
  out.throughput = res;
}

try {
  await equality();
  await throughput();
} catch (e) {
  out.errors.push(String(e?.stack ?? e));
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(out, null, 1));
process.exitCode = out.errors.length || out.equality?.pass === false || out.nonfinite?.pass === false ? 1 : 0;
