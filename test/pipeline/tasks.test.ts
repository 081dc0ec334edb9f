// Auxiliary tasks derived from Fashion-MNIST: deterministic, with the documented domains and
// labels, and none built from the target digits.
import { describe, expect, it } from 'vitest';
import { buildTask, datasetSource } from '../../src/pipeline/tasks.js';

describe('auxiliary tasks', () => {
  it('builds rot with 6 angle domains and class labels, deterministically', () => {
    const a = buildTask({ source: 'fashion', kind: 'rot', samples: 120, seed: 0 });
    const b = buildTask({ source: 'fashion', kind: 'rot', samples: 120, seed: 0 });
    expect(a.name).toBe('task:fashion-rot');
    expect(a.domains).toEqual(['0', '15', '30', '45', '60', '75']);
    expect(Array.from(a.offsets)).toEqual([0, 20, 40, 60, 80, 100, 120]);
    expect(Buffer.from(a.images).equals(Buffer.from(b.images))).toBe(true);
    const c = buildTask({ source: 'fashion', kind: 'rot', samples: 120, seed: 1 });
    expect(Buffer.from(a.images).equals(Buffer.from(c.images))).toBe(false);
  });
  it('relabels: rotation index, coarse groups; inverts intensities', () => {
    const rp = buildTask({ source: 'fashion', kind: 'rotpred', samples: 300, seed: 0 });
    expect(rp.classes).toHaveLength(6);
    expect(new Set(rp.labels).size).toBe(6);
    const co = buildTask({ source: 'fashion', kind: 'coarse', samples: 300, seed: 0 });
    expect(co.classes).toEqual(['tops', 'trousers-dresses', 'footwear', 'bags']);
    const plain = buildTask({ source: 'fashion', kind: 'class', samples: 50, seed: 0 });
    const inv = buildTask({ source: 'fashion', kind: 'inv', samples: 50, seed: 0 });
    // Different task names draw different subsets; inverted images are mostly bright.
    const mean = (x: Uint8Array) => x.reduce((s, v) => s + v, 0) / x.length;
    expect(mean(inv.images)).toBeGreaterThan(128);
    expect(mean(plain.images)).toBeLessThan(128);
  });
  it('knows which image source each target comes from', () => {
    expect(['rotated_mnist', 'colored_mnist', 'mnist'].map(datasetSource)).toEqual(['digits', 'digits', 'digits']);
    expect(datasetSource('rotated_fashion_mnist')).toBe('fashion');
    expect(datasetSource('task:fashion-rot')).toBe('fashion');
  });
});
