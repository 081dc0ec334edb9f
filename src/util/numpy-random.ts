// A port of numpy's legacy `numpy.random.RandomState` (MT19937) for the draws DomainBed makes:
// seeding (integer seeds use init_genrand, array seeds init_by_array, exactly as numpy's
// `_legacy_seeding`), random_sample, legacy bounded integers (masked rejection), shuffle,
// permutation, choice and uniform. Streams are bit-identical to numpy's.

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER = 0x80000000;
const LOWER = 0x7fffffff;

export class RandomState {
  private readonly mt = new Uint32Array(N);
  private pos = N;

  /** `seed`: an integer in [0, 2^32) (numpy `mt19937_seed`) or an array of such (numpy `init_by_array`). */
  constructor(seed: number | readonly number[] = 0) {
    if (typeof seed === 'number') this.seedInt(seed);
    else this.seedArray(seed);
  }

  private seedInt(seed: number): void {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`RandomState: seed must be an integer between 0 and 2**32 - 1, got ${seed}`);
    }
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.pos = N;
  }

  private seedArray(key: readonly number[]): void {
    for (const k of key) {
      if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) throw new RangeError(`RandomState: array seed values must be in [0, 2**32), got ${k}`);
    }
    if (key.length === 0) throw new RangeError('RandomState: array seed must be non-empty');
    this.seedInt(19650218);
    const mt = this.mt;
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    this.pos = N;
  }

  /** numpy `get_state()`'s key and pos (a copy). */
  getState(): { key: Uint32Array; pos: number } {
    return { key: this.mt.slice(), pos: this.pos };
  }

  private generate(): void {
    const mt = this.mt;
    for (let k = 0; k < N; k++) {
      const y = (mt[k] & UPPER) | (mt[(k + 1) % N] & LOWER);
      mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    this.pos = 0;
  }

  /** The next raw 32-bit output (numpy `next_uint32`). */
  nextUint32(): number {
    if (this.pos >= N) this.generate();
    let y = this.mt[this.pos++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1) with 53 random bits (numpy `random_sample` / `rand`). */
  randomSample(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `size` doubles in [0, 1). */
  randomSampleArray(size: number): Float64Array {
    const out = new Float64Array(size);
    for (let i = 0; i < size; i++) out[i] = this.randomSample();
    return out;
  }

  /** numpy `uniform(low, high)`: low + (high - low) * random_sample(). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.randomSample();
  }

  /**
   * An integer in [0, rng] by legacy masked rejection (numpy `random_bounded_uint64_fill` with
   * use_masked, the path `randint` and `choice` take on RandomState).
   */
  boundedMasked(rng: number): number {
    if (rng === 0) return 0;
    if (rng <= 0xffffffff) {
      if (rng === 0xffffffff) return this.nextUint32();
      let mask = rng;
      mask |= mask >>> 1;
      mask |= mask >>> 2;
      mask |= mask >>> 4;
      mask |= mask >>> 8;
      mask |= mask >>> 16;
      mask >>>= 0;
      let v: number;
      do v = (this.nextUint32() & mask) >>> 0;
      while (v > rng);
      return v;
    }
    if (rng > Number.MAX_SAFE_INTEGER) throw new RangeError(`RandomState: range ${rng} exceeds 2^53`);
    const r = BigInt(rng);
    let mask = r;
    for (let s = 1n; s <= 32n; s *= 2n) mask |= mask >> s;
    let v: bigint;
    do v = ((BigInt(this.nextUint32()) << 32n) | BigInt(this.nextUint32())) & mask;
    while (v > r);
    return Number(v);
  }

  /** numpy `randint(low, high)` (high exclusive; one `high=None` form: randint(n) = [0, n)). */
  randint(low: number, high?: number): number {
    if (high === undefined) {
      high = low;
      low = 0;
    }
    if (!Number.isInteger(low) || !Number.isInteger(high)) throw new RangeError('randint: bounds must be integers');
    if (high <= low) throw new RangeError(`randint: low >= high (${low} >= ${high})`);
    return low + this.boundedMasked(high - 1 - low);
  }

  /** `size` draws of randint(low, high) into an Int32Array (values must fit in int32). */
  randintArray(low: number, high: number, size: number, out = new Int32Array(size)): Int32Array {
    if (high <= low) throw new RangeError(`randint: low >= high (${low} >= ${high})`);
    const rng = high - 1 - low;
    for (let i = 0; i < size; i++) out[i] = low + this.boundedMasked(rng);
    return out;
  }

  /** numpy legacy `shuffle` (in place, Fisher–Yates from the end with `random_interval`). */
  shuffle<T extends { length: number; [i: number]: unknown }>(x: T): T {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.boundedMasked(i);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
    return x;
  }

  /** numpy `permutation(n)`: shuffle(arange(n)). */
  permutation(n: number): Int32Array {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) a[i] = i;
    return this.shuffle(a);
  }

  /** numpy `choice(a)` for a sequence, uniform, one draw: a[randint(0, len(a))]. */
  choice<T>(a: readonly T[]): T {
    if (a.length === 0) throw new RangeError('choice: a cannot be empty');
    return a[this.randint(0, a.length)];
  }
}
