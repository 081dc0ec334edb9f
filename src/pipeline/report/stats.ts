// DomainBed's aggregation and number formatting, reproduced to the printed digit: mean and
// "standard error" (population std / √n) ×100, and Python's '{:.1f}' rounding, which rounds exact
// ties to even (87.25 → "87.2") where JavaScript's toFixed rounds them up ("87.3").

import { mean, populationStd, standardError } from '../../util/stats.js';

export { mean, populationStd, standardError };

/** Adds one unit in the last place to a string of decimal digits ("0999" → "1000"). */
function incrementDigits(digits: string): string {
  const d = digits.split('');
  for (let i = d.length - 1; i >= 0; i--) {
    if (d[i] !== '9') {
      d[i] = String.fromCharCode(d[i].charCodeAt(0) + 1);
      return d.join('');
    }
    d[i] = '0';
  }
  return '1' + d.join('');
}

/**
 * Python's format(x, f'.{digits}f'): correct rounding of the exact binary value, ties to even,
 * and the sign of negative values kept even when they round to zero ("-0.0").
 */
export function formatFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const negative = x < 0 || Object.is(x, -0);
  // toFixed(100) is exact for every value a report prints (at most ~60 significant fraction digits).
  const exact = Math.abs(x).toFixed(100);
  const dot = exact.indexOf('.');
  const whole = exact.slice(0, dot);
  const frac = exact.slice(dot + 1);
  const kept = whole + frac.slice(0, digits);
  const rest = frac.slice(digits);
  const half = '5'.padEnd(rest.length, '0');
  const lastOdd = Number(kept[kept.length - 1]) % 2 === 1;
  const roundUp = rest > half || (rest === half && lastOdd);
  let out = roundUp ? incrementDigits(kept) : kept;
  const intLen = out.length - digits;
  out = digits > 0 ? `${out.slice(0, intLen)}.${out.slice(intLen)}` : out;
  return (negative ? '-' : '') + out;
}

export interface MeanCell {
  /** Mean ×100, or null without data. */
  mean: number | null;
  /** Standard error ×100, or null without data. */
  se: number | null;
  n: number;
  /** "85.0 ± 2.4", or "X" without data. */
  text: string;
}

/** DomainBed's format_mean over accuracies in [0, 1], with "±" for "+/-". */
export function formatMean(fractions: readonly number[]): MeanCell {
  if (fractions.length === 0) return { mean: null, se: null, n: 0, text: 'X' };
  const m = 100 * mean(fractions);
  const se = 100 * standardError(fractions);
  return { mean: m, se, n: fractions.length, text: `${formatFixed(m, 1)} ± ${formatFixed(se, 1)}` };
}

/** A signed difference in points, "+1.3" / "-0.4" / "0.0" (no negative zero). */
export function formatSigned(points: number, digits = 1): string {
  const s = formatFixed(points, digits);
  if (/^-0(\.0*)?$/.test(s)) return s.slice(1);
  return s.startsWith('-') || /^0(\.0*)?$/.test(s) ? s : `+${s}`;
}
