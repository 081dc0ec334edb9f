// Model topology at full size (parameter counts of DomainBed's MNIST_CNN and torchvision's
// ResNets) and the seeded PyTorch-style initialisation.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/graph/init.js';
import { buildModel } from '../../src/graph/models/index.js';

const count = (m: ReturnType<typeof buildModel>, group?: string) =>
  m.params.filter((p) => p.kind === 'param' && (!group || p.group === group)).reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);

describe('full-size models', () => {
  it('MNIST_CNN has 370,560 (1 channel) / 371,136 (2 channels) featurizer parameters, as DomainBed', () => {
    expect(count(buildModel({ arch: 'mnist_cnn', inputShape: [1, 28, 28], numClasses: 10 }), 'featurizer')).toBe(370_560);
    const m = buildModel({ arch: 'mnist_cnn', inputShape: [2, 28, 28], numClasses: 2 });
    expect(count(m, 'featurizer')).toBe(371_136);
    expect(count(m, 'classifier')).toBe(258);
    expect(m.featureDim).toBe(128);
  });

  it('ResNet-18/50 featurizers have torchvision parameter counts without fc (11,176,512 / 23,508,032)', () => {
    const r18 = buildModel({ arch: 'resnet18', inputShape: [3, 224, 224], numClasses: 7 });
    const r50 = buildModel({ arch: 'resnet50', inputShape: [3, 224, 224], numClasses: 7 });
    expect(count(r18, 'featurizer')).toBe(11_689_512 - 513_000);
    expect(count(r50, 'featurizer')).toBe(25_557_032 - 2_049_000);
    expect([r18.featureDim, r50.featureDim]).toEqual([512, 2048]);
    expect(r50.params.filter((p) => p.kind === 'buffer')).toHaveLength(2 * 53);
  });

  it('rejects a bad spec with one line naming it', () => {
    expect(() => buildModel({ arch: 'mnist_cnn', inputShape: [1, 28, 28], numClasses: 0 })).toThrow('model spec: numClasses must be a positive integer, got 0');
  });
});

describe('initialisation', () => {
  const model = buildModel({ arch: 'mnist_cnn', inputShape: [1, 28, 28], numClasses: 10, width: 16 });

  it('follows torch defaults: U(±1/√fan_in) weights and biases, norm γ=1 β=0', () => {
    const p = model.initParams(3);
    const w = p.get('featurizer.conv2.weight')!; // fan_in 16·9
    const bound = 1 / Math.sqrt(16 * 9);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.95 * bound);
    const mean = w.reduce((a, b) => a + b, 0) / w.length, variance = w.reduce((a, b) => a + b * b, 0) / w.length;
    expect(Math.abs(mean)).toBeLessThan(0.05 * bound);
    expect(variance / (bound * bound / 3)).toBeGreaterThan(0.9); // U(-b, b) has variance b²/3
    expect(variance / (bound * bound / 3)).toBeLessThan(1.1);
    expect([...p.get('featurizer.bn1.weight')!]).toEqual(new Array(32).fill(1));
    expect([...p.get('featurizer.bn1.bias')!]).toEqual(new Array(32).fill(0));
  });

  it('is deterministic per seed and per parameter name', () => {
    const a = model.initParams(1), b = model.initParams(1), c = model.initParams(2);
    for (const [k, v] of a) expect(b.get(k)).toEqual(v);
    expect(c.get('featurizer.conv1.weight')).not.toEqual(a.get('featurizer.conv1.weight'));
    // Another head leaves every featurizer parameter's initial values unchanged.
    const other = buildModel({ arch: 'mnist_cnn', inputShape: [1, 28, 28], numClasses: 3, width: 16 }).initParams(1);
    for (const [k, v] of a) if (k.startsWith('featurizer.')) expect(other.get(k)).toEqual(v);
  });

  it('Rng gives uniform [0, 1) and standard normal draws', () => {
    const r = new Rng(5);
    const u = Array.from({ length: 20000 }, () => r.uniform());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(u.reduce((a, b) => a + b, 0) / u.length - 0.5)).toBeLessThan(0.01);
    const z = Array.from({ length: 20000 }, () => r.normal());
    const m = z.reduce((a, b) => a + b, 0) / z.length;
    expect(Math.abs(m)).toBeLessThan(0.03);
    expect(Math.abs(z.reduce((a, b) => a + (b - m) ** 2, 0) / z.length - 1)).toBeLessThan(0.04);
  });
});
