// Reader for test/fixtures/optim/torch-trajectories.bin (written by scripts/gen_optim_fixtures.py):
// magic + version + JSON index, then fp32 data addressed by float offsets.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AdamHyperparams, SgdHyperparams } from '../../src/train/optim.js';

export interface TorchConfig {
  name: string;
  optimizer: 'sgd' | 'adam';
  groups: { tensors: number[]; hparams: SgdHyperparams | AdamHyperparams }[];
  /** trajectory[step][tensor]: torch's parameters after step+1 updates. */
  trajectory: Float32Array[][];
}

export interface TorchFixture {
  torch: string;
  steps: number;
  shapes: number[][];
  params0: Float32Array[];
  /** grads[step][tensor] */
  grads: Float32Array[][];
  configs: TorchConfig[];
}

const MAGIC = 'RTOPTFX\0';

export function loadTorchFixture(): TorchFixture {
  const file = fileURLToPath(new URL('../fixtures/optim/torch-trajectories.bin', import.meta.url));
  const buf = readFileSync(file);
  if (buf.subarray(0, 8).toString('latin1') !== MAGIC) throw new Error(`${file}: bad magic`);
  const version = buf.readUInt32LE(8);
  if (version !== 1) throw new Error(`${file}: unsupported version ${version}`);
  const n = buf.readUInt32LE(12);
  const index = JSON.parse(buf.subarray(16, 16 + n).toString('utf8'));
  const start = 16 + n;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
  const sizes: number[] = index.shapes.map((s: number[]) => s.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  // A block of all tensors at `at`, split per tensor (copies, so tests may update them in place).
  const tensors = (at: number) => {
    let o = at;
    return sizes.map((s) => data.slice(o, (o += s)));
  };
  const perStep = (at: number) => Array.from({ length: index.steps }, (_, k) => tensors(at + k * total));
  return {
    torch: index.torch,
    steps: index.steps,
    shapes: index.shapes,
    params0: tensors(index.params0),
    grads: perStep(index.grads),
    configs: index.configs.map((c: { name: string; optimizer: 'sgd' | 'adam'; groups: TorchConfig['groups']; trajectory: number }) => ({
      name: c.name,
      optimizer: c.optimizer,
      groups: c.groups,
      trajectory: perStep(c.trajectory),
    })),
  };
}

/** max|a-b| / max|b| over one tensor (0 when both are all zeros). */
export function relMaxDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}
