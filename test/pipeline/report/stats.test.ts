// DomainBed aggregation and Python-compatible formatting, against values computed by hand.
import { describe, expect, it } from 'vitest';
import { formatFixed, formatMean, formatSigned, populationStd, standardError } from '../../../src/pipeline/report/stats.js';

describe('formatFixed (Python format(x, ".Nf"))', () => {
  it('rounds exact binary ties to even, unlike toFixed', () => {
    expect(formatFixed(0.25, 1)).toBe('0.2');
    expect((0.25).toFixed(1)).toBe('0.3'); // why the helper exists
    expect(formatFixed(0.75, 1)).toBe('0.8');
    expect(formatFixed(87.25, 1)).toBe('87.2');
    expect(formatFixed(81.75, 1)).toBe('81.8');
    expect(formatFixed(1234.5, 0)).toBe('1234');
    expect(formatFixed(1235.5, 0)).toBe('1236');
  });
  it('rounds the exact binary value of non-ties', () => {
    expect(formatFixed(2.675, 2)).toBe('2.67'); // 2.67499999…
    expect(formatFixed(1.05, 1)).toBe('1.1'); // 1.05000000000000004…
    expect(formatFixed(0.35, 1)).toBe('0.3'); // 0.34999999…
    expect(formatFixed(99.95, 1)).toBe('100.0'); // 99.9500000000000028…
    expect(formatFixed(9.96, 1)).toBe('10.0');
    expect(formatFixed(0.0004, 3)).toBe('0.000');
    expect(formatFixed(12, 2)).toBe('12.00');
  });
  it('keeps the sign of negatives that round to zero, as Python does', () => {
    expect(formatFixed(-0.04, 1)).toBe('-0.0');
    expect(formatFixed(-0, 1)).toBe('-0.0');
    expect(formatFixed(-1.26, 1)).toBe('-1.3');
  });
});

describe('DomainBed mean ± SE', () => {
  it('population std and SE = std/√n', () => {
    expect(populationStd([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(1.25), 15);
    // [80, 85, 90]: std √(50/3) = 4.0825, SE 4.0825/√3 = 2.3570
    expect(100 * standardError([0.8, 0.85, 0.9])).toBeCloseTo(2.357022603955158, 12);
    expect(standardError([0.7])).toBe(0);
  });
  it('format_mean text', () => {
    const c = formatMean([0.8, 0.85, 0.9]);
    expect(c.text).toBe('85.0 ± 2.4');
    expect(c.mean).toBeCloseTo(85, 12);
    expect(c.n).toBe(3);
    expect(formatMean([0.7, 0.72, 0.74]).text).toBe('72.0 ± 0.9'); // SE 1.633/√3 = 0.943
    expect(formatMean([0.77, 0.75, 0.78]).text).toBe('76.7 ± 0.7'); // mean 76.667, SE 1.247/√3 = 0.720
    // 81.25 exactly: Python prints 81.2 where toFixed would print 81.3.
    expect(formatMean([0.8125, 0.8125]).text).toBe('81.2 ± 0.0');
  });
  it('no data is "X"', () => {
    expect(formatMean([])).toEqual({ mean: null, se: null, n: 0, text: 'X' });
  });
  it('signed differences', () => {
    expect(formatSigned(1.26)).toBe('+1.3');
    expect(formatSigned(-1.03)).toBe('-1.0');
    expect(formatSigned(-0.04)).toBe('0.0');
    expect(formatSigned(0)).toBe('0.0');
  });
});
