// Seeded, deterministic parameter initialisation. Each parameter draws from its own xoshiro128**
// stream keyed by (seed, state_dict name), so adding or resizing one layer (e.g. the head's class
// count) leaves every other parameter's initial values unchanged.
import type { ParamSpec } from './ir.js';
import { numel } from './ir.js';

/** xoshiro128** (Blackman & Vigna): small, fast, 32-bit state words, good statistical quality. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Seeds from a 32-bit seed and an optional stream key, through splitmix32. */
  constructor(seed: number, key = '') {
    let x = (Math.trunc(seed) ^ fnv1a(key)) >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }

  /** Standard normal (Box–Muller, one value per call). */
  normal(): number {
    const u = 1 - this.uniform(); // (0, 1]
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Fresh values for one parameter, following its ParamSpec init. */
export function initParam(p: ParamSpec, seed: number): Float32Array {
  const out = new Float32Array(numel(p.shape));
  const init = p.init;
  if (init.kind === 'const') return out.fill(init.value);
  if (init.kind === 'values') {
    if (init.values.length !== out.length) throw new Error(`${p.name}: ${init.values.length} imported values for [${p.shape}]`);
    out.set(init.values);
    return out;
  }
  const rng = new Rng(seed, p.name);
  if (init.kind === 'uniform') for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform() - 1) * init.bound;
  else for (let i = 0; i < out.length; i++) out[i] = rng.normal() * init.std;
  return out;
}

/** Every parameter and buffer, keyed by state_dict name, in declaration order. */
export function initParams(params: ParamSpec[], seed: number): Map<string, Float32Array> {
  return new Map(params.map((p) => [p.name, initParam(p, seed)]));
}
