// The N-API boundary of the optim family: every argument is validated (TypeError / RangeError
// naming the group and index), nothing is written when a call is rejected, arrays are updated in
// place, and the CUDA entry points fail cleanly on a machine without a GPU.
import { describe, expect, it } from 'vitest';
import { native, type AdamGroupArgs, type SgdGroupArgs } from '../../bindings/native.js';
import { seeded } from './helpers.js';

const n = native();

function sgd(over: Partial<SgdGroupArgs> = {}): SgdGroupArgs {
  return {
    params: [seeded(5, 1), seeded(3, 2)],
    grads: [seeded(5, 3), seeded(3, 4)],
    momentumBuffers: [new Float32Array(5), new Float32Array(3)],
    lr: 0.1,
    momentum: 0.9,
    dampening: 0,
    weightDecay: 0,
    ...over,
  };
}

function adam(over: Partial<AdamGroupArgs> = {}): AdamGroupArgs {
  return {
    params: [seeded(4, 1)],
    grads: [seeded(4, 2)],
    expAvg: [new Float32Array(4)],
    expAvgSq: [new Float32Array(4)],
    step: 1,
    lr: 1e-3,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    ...over,
  };
}

describe('sgdStep arguments', () => {
  const cases: [string, () => unknown, ErrorConstructor, RegExp][] = [
    ['no argument', () => (n.sgdStep as () => void)(), TypeError, /sgdStep: expected 1 arguments/],
    ['groups not an array', () => n.sgdStep({} as never), TypeError, /sgdStep: groups must be an array/],
    ['group not an object', () => n.sgdStep([sgd(), 3 as never]), TypeError, /groups\[1\] must be an object/],
    ['params not an array', () => n.sgdStep([sgd({ params: 'x' as never })]), TypeError, /groups\[0\]\.params must be an array/],
    ['Float64Array param', () => n.sgdStep([sgd({ params: [seeded(5, 1), new Float64Array(3) as never] })]), TypeError,
      /groups\[0\]\.params\[1\] must be a Float32Array/],
    ['grads count', () => n.sgdStep([sgd({ grads: [seeded(5, 3)] })]), RangeError, /groups\[0\]\.grads has 1 arrays but params has 2/],
    ['grad length', () => n.sgdStep([sgd(), sgd({ grads: [seeded(5, 3), seeded(4, 4)] })]), RangeError,
      /groups\[1\]\.grads\[1\] has 4 elements but params\[1\] has 3/],
    ['momentum without buffers', () => n.sgdStep([sgd({ momentumBuffers: null })]), TypeError, /groups\[0\]\.momentumBuffers must be/],
    ['buffer length', () => n.sgdStep([sgd({ momentumBuffers: [new Float32Array(5), new Float32Array(2)] })]), RangeError,
      /momentumBuffers\[1\] has 2 elements/],
    ['lr missing', () => n.sgdStep([sgd({ lr: undefined })]), TypeError, /groups\[0\]\.lr must be a number/],
    ['lr string', () => n.sgdStep([sgd({ lr: '0.1' as never })]), TypeError, /groups\[0\]\.lr must be a number/],
    ['lr negative', () => n.sgdStep([sgd({ lr: -1 })]), RangeError, /groups\[0\]: lr must be a finite number >= 0/],
    ['lr NaN', () => n.sgdStep([sgd({ lr: NaN })]), RangeError, /groups\[0\]\.lr must be finite/],
    ['momentum infinite', () => n.sgdStep([sgd({ momentum: Infinity })]), RangeError, /groups\[0\]\.momentum must be finite/],
    ['weight decay negative', () => n.sgdStep([sgd({ weightDecay: -0.1 })]), RangeError, /weightDecay must be a finite number >= 0/],
    ['nesterov with dampening', () => n.sgdStep([sgd({ nesterov: true, dampening: 0.1 })]), RangeError, /nesterov momentum requires/],
    ['nesterov without momentum', () => n.sgdStep([sgd({ nesterov: true, momentum: 0 })]), RangeError, /nesterov momentum requires/],
    ['flag not boolean', () => n.sgdStep([sgd({ maximize: 1 as never })]), TypeError, /groups\[0\]\.maximize must be a boolean/],
  ];
  for (const [name, call, type, message] of cases) {
    it(name, () => {
      expect(call).toThrow(type);
      expect(call).toThrow(message);
    });
  }

  it('writes nothing when any group is rejected', () => {
    const good = sgd();
    const before = good.params.map((p) => p.slice());
    expect(() => n.sgdStep([good, sgd({ lr: -1 })])).toThrow(RangeError);
    good.params.forEach((p, i) => expect(p).toEqual(before[i]));
  });

  it('updates the given arrays in place and accepts empty lists and empty tensors', () => {
    const g = sgd({ momentum: 0, momentumBuffers: null, params: [seeded(5, 1), new Float32Array(0)], grads: [seeded(5, 3), new Float32Array(0)] });
    const p = g.params[0];
    const expected = p.map((x, i) => Math.fround(x + Math.fround(Math.fround(-0.1) * g.grads[0][i])));
    n.sgdStep([g]);
    expect(g.params[0]).toBe(p);
    expect(Array.from(p)).toEqual(Array.from(expected));
    expect(() => n.sgdStep([])).not.toThrow();
  });

  it('ignores momentumBuffers when momentum is 0 (but still checks them)', () => {
    const g = sgd({ momentum: 0 });
    n.sgdStep([g]);
    expect(Array.from(g.momentumBuffers![0])).toEqual([0, 0, 0, 0, 0]);
  });
});

describe('memory overlap', () => {
  it('rejects a written array that overlaps another written array', () => {
    const mem = new Float32Array(10);
    const g = sgd({ params: [mem.subarray(0, 5), mem.subarray(4, 7)] });
    expect(() => n.sgdStep([g])).toThrow(/groups\[0\]\.params\[1\] overlaps groups\[0\]\.params\[0\] in memory/);
  });

  it('rejects a gradient that aliases a parameter of another group', () => {
    const a = sgd();
    const b = sgd({ grads: [seeded(5, 9), a.params[1]] });
    expect(() => n.sgdStep([a, b])).toThrow(/groups\[1\]\.grads\[1\] overlaps groups\[0\]\.params\[1\]/);
  });

  it('rejects Adam state that shares memory with the parameters', () => {
    const g = adam();
    expect(() => n.adamStep([{ ...g, expAvg: g.params }])).toThrow(RangeError);
    expect(() => n.adamStep([{ ...g, expAvg: g.params }])).toThrow(/overlaps/);
  });

  it('allows gradients to alias each other and adjacent views of one buffer', () => {
    const mem = new Float32Array(16);
    const grad = seeded(8, 5);
    const g = sgd({ params: [mem.subarray(0, 8), mem.subarray(8, 16)], grads: [grad, grad], momentumBuffers: null, momentum: 0 });
    expect(() => n.sgdStep([g])).not.toThrow();
  });
});

describe('adamStep arguments', () => {
  const cases: [string, () => unknown, ErrorConstructor, RegExp][] = [
    ['missing expAvgSq', () => n.adamStep([adam({ expAvgSq: undefined })]), TypeError, /groups\[0\]\.expAvgSq must be an array/],
    ['expAvg length', () => n.adamStep([adam({ expAvg: [new Float32Array(3)] })]), RangeError, /groups\[0\]\.expAvg\[0\] has 3 elements but params\[0\] has 4/],
    ['step 0', () => n.adamStep([adam({ step: 0 })]), RangeError, /step must be an integer >= 1/],
    ['step fractional', () => n.adamStep([adam({ step: 1.5 })]), RangeError, /step must be an integer >= 1/],
    ['beta1 = 1', () => n.adamStep([adam({ beta1: 1 })]), RangeError, /beta1 must be in \[0, 1\)/],
    ['beta2 negative', () => n.adamStep([adam(), adam({ beta2: -0.1 })]), RangeError, /groups\[1\]: beta2 must be in \[0, 1\)/],
    ['eps negative', () => n.adamStep([adam({ eps: -1e-8 })]), RangeError, /eps must be a finite number >= 0/],
    ['eps missing', () => n.adamStep([adam({ eps: undefined })]), TypeError, /groups\[0\]\.eps must be a number/],
    ['decoupled not boolean', () => n.adamStep([adam({ decoupled: 'yes' as never })]), TypeError, /decoupled must be a boolean/],
  ];
  for (const [name, call, type, message] of cases) {
    it(name, () => {
      expect(call).toThrow(type);
      expect(call).toThrow(message);
    });
  }
});

describe('JS running during argument reads', () => {
  it('a getter that detaches a parameter buffer cannot make the kernel touch freed memory', () => {
    const p = seeded(3, 1);
    const g = { ...sgd({ params: [p], grads: [seeded(3, 2)], momentum: 0, momentumBuffers: null }) } as Record<string, unknown>;
    Object.defineProperty(g, 'weightDecay', {
      get() {
        structuredClone(p.buffer, { transfer: [p.buffer as ArrayBuffer] });  // detaches p
        return 0;
      },
    });
    expect(() => n.sgdStep([g as unknown as SgdGroupArgs])).toThrow(/groups\[0\]\.grads\[0\] has 3 elements but params\[0\] has 0/);
  });
});

describe('CUDA entry points', () => {
  const gpus = n.info().cudaDevices;
  it.skipIf(gpus > 0)('fail with a clean Error when there is no GPU', () => {
    expect(() => n.cudaSgdSteps([sgd()])).toThrow(/cudaSgdSteps: options: (no CUDA device|CUDA kernels not built)/);
    expect(() => n.cudaAdamSteps([adam()], { steps: 2 })).toThrow(/cudaAdamSteps: options: (no CUDA device|CUDA kernels not built)/);
    expect(() => n.memoryBandwidth({ device: 'cuda', arrayBytes: 1 << 20 })).toThrow(/no CUDA device|CUDA kernels not built/);
  });
  it('validate their options first', () => {
    expect(() => n.cudaSgdSteps([sgd()], { steps: 0 })).toThrow(RangeError);
    expect(() => n.cudaSgdSteps([sgd()], { steps: 0 })).toThrow(/options\.steps must be an integer in \[1, 100000\]/);
    expect(() => n.cudaAdamSteps([adam()], 5 as never)).toThrow(/cudaAdamSteps: options must be an object/);
  });
});

describe('memoryBandwidth', () => {
  it('measures a positive, finite triad bandwidth and reports what it measured', () => {
    const r = n.memoryBandwidth({ arrayBytes: 4 << 20, repeats: 2 });
    expect(r.device).toBe('cpu');
    expect(r.arrayBytes).toBe(4 << 20);
    expect(r.repeats).toBe(2);
    expect(r.threads).toBe(n.info().threads);
    expect(Number.isFinite(r.gbs) && r.gbs > 0).toBe(true);
    expect(r.gbs).toBeGreaterThanOrEqual(r.medianGBs);
  });
  it('runs with a temporary thread count and restores the pool', () => {
    const before = n.info().threads;
    expect(n.memoryBandwidth({ arrayBytes: 1 << 20, repeats: 1, threads: 1, nonTemporal: false }).threads).toBe(1);
    expect(n.info().threads).toBe(before);
  });
  it('rejects bad options', () => {
    expect(() => n.memoryBandwidth({ arrayBytes: 100 })).toThrow(/arrayBytes must be an integer in \[4096, 16 GiB\]/);
    expect(() => n.memoryBandwidth({ repeats: 0 })).toThrow(RangeError);
    expect(() => n.memoryBandwidth({ device: 'tpu' as never })).toThrow(/device must be 'cpu' or 'cuda'/);
    expect(() => n.memoryBandwidth({ threads: 1.5 })).toThrow(/threads must be an integer/);
  });
});
