// seed_hash / pyRepr and the numpy legacy RandomState port against vectors from real numpy
// (scripts/gen_data_fixtures.py) and the spec's §2.1 hparam table.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RandomState } from '../../src/util/numpy-random.js';
import { pyFloat, pyRepr, pyTuple, seedHash, type PyValue } from '../../src/util/seed.js';

const fx = JSON.parse(readFileSync(new URL('../fixtures/data/numpy-random.json', import.meta.url), 'utf8'));
const sha256I32 = (a: Int32Array | number[]) => createHash('sha256').update(Buffer.from(Int32Array.from(a).buffer)).digest('hex');

// The tuples of the fixture, written as JS values (order matches gen_data_fixtures.py).
const tuples: PyValue[][] = [
  [3, 0],
  [894182419, 'lr'],
  ['RotatedMNIST', 'ERM', [0], 1, 0],
  [5],
  [],
  [0.1, 1e-5, pyFloat(3), pyFloat(1e16), pyFloat(1.5e16), 123.456, pyFloat(-0), 0.0001, 1e-4 / 3, 2.5e-300, pyFloat(1e22)],
  ["it's", 'a"b', 'both\'"', 'tab\tnew\nline\\', '\x01\x7f'],
  [pyTuple(1, 2), [pyTuple(3), []], 'x', true, false, null, -7, 2 ** 40],
];

describe('pyRepr / seedHash', () => {
  it('prints tuples exactly as Python str() and hashes like DomainBed seed_hash', () => {
    tuples.forEach((t, i) => {
      expect(pyRepr(pyTuple(...t))).toBe(fx.seedHash[i].repr);
      expect(seedHash(...t)).toBe(fx.seedHash[i].hash);
    });
  });
});

describe('RandomState', () => {
  it('seeds integers like numpy (state key) and streams the same uint32 and doubles', () => {
    for (const st of fx.states) {
      const rs = new RandomState(st.seed);
      const u = Array.from({ length: 8 }, () => rs.nextUint32());
      expect(u).toEqual(st.uint32);
      const r2 = new RandomState(st.seed);
      expect(Array.from(r2.randomSampleArray(8))).toEqual(st.sample);
      // key[0..3]: internal state right after seeding
      const { key, pos } = new RandomState(st.seed).getState();
      expect(pos).toBe(624);
      expect(Array.from(key.subarray(0, 4))).toEqual(st.key0);
      expect(key[623]).toBe(st.key623);
    }
  });

  it('seeds from arrays with init_by_array, short and longer than the state', () => {
    expect(Array.from(new RandomState(fx.arraySeed.seed).randomSampleArray(6))).toEqual(fx.arraySeed.sample);
    expect(Array.from(new RandomState(fx.arraySeed.seedLong).randomSampleArray(3))).toEqual(fx.arraySeed.sampleLong);
  });

  it('rejects seeds numpy rejects', () => {
    expect(() => new RandomState(-1)).toThrow(/2\*\*32/);
    expect(() => new RandomState(2 ** 32)).toThrow(/2\*\*32/);
    expect(() => new RandomState(1.5)).toThrow(RangeError);
  });

  it('draws bounded integers by legacy masked rejection, including 64-bit ranges', () => {
    const rs = new RandomState(7);
    for (const r of fx.randint) {
      expect(Array.from({ length: 12 }, () => rs.randint(0, r.high))).toEqual(r.values);
    }
  });

  it('shuffles lists, permutes arange, chooses and draws uniforms like numpy', () => {
    const lst = Array.from({ length: 10 }, (_, i) => i);
    new RandomState(fx.shuffleList.seed).shuffle(lst);
    expect(lst).toEqual(fx.shuffleList.result);
    const perm = new RandomState(0).permutation(fx.permutation.n);
    expect(Array.from(perm.subarray(0, 20))).toEqual(fx.permutation.head);
    expect(sha256I32(perm)).toBe(fx.permutation.sha256);
    const rs = new RandomState(fx.choice.seed);
    expect(Array.from({ length: 10 }, () => rs.choice(fx.choice.values))).toEqual(fx.choice.draws);
    const ru = new RandomState(fx.uniform.seed);
    expect(Array.from({ length: 6 }, () => ru.uniform(fx.uniform.low, fx.uniform.high))).toEqual(fx.uniform.draws);
  });

  it('reproduces the MR hparam draws of numpy and the spec §2.1 table', () => {
    const draw = (h: number, trial: number) => {
      const s = seedHash(h, trial);
      return {
        lr: new RandomState(seedHash(s, 'lr')).choice([1e-5, 3e-5, 5e-5]),
        wd: new RandomState(seedHash(s, 'weight_decay')).choice([1e-4, 1e-6]),
        dropout: new RandomState(seedHash(s, 'resnet_dropout')).choice([0, 0.1, 0.5]),
      };
    };
    for (const row of fx.hparams) {
      expect(draw(row.h, row.trial)).toEqual({ lr: row.lr, wd: row.weight_decay, dropout: row.resnet_dropout });
    }
    // Rows copied from ratatouille-spec.md §2.1 (lr / wd / dropout for trials 0, 1, 2).
    const spec: Record<number, [number, number, number][]> = {
      1: [[3e-5, 1e-4, 0.5], [3e-5, 1e-6, 0.5], [3e-5, 1e-6, 0.5]],
      4: [[1e-5, 1e-6, 0.0], [3e-5, 1e-4, 0.0], [5e-5, 1e-4, 0.5]],
      13: [[5e-5, 1e-6, 0.5], [5e-5, 1e-4, 0.5], [3e-5, 1e-4, 0.0]],
      19: [[3e-5, 1e-6, 0.0], [1e-5, 1e-6, 0.5], [1e-5, 1e-4, 0.1]],
    };
    for (const [h, rows] of Object.entries(spec)) {
      rows.forEach(([lr, wd, dropout], trial) => expect(draw(Number(h), trial)).toEqual({ lr, wd, dropout }));
    }
  });
});
