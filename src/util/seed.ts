// DomainBed's seed_hash: MD5 of Python's str() of the argument tuple, read as an integer,
// mod 2^31. Needs Python's repr of ints, floats, strings, lists and tuples to the byte, so
// `pyRepr` reproduces CPython 3's formatting for those types.
import { createHash } from 'node:crypto';

/** A Python tuple inside seedHash arguments (plain JS arrays print as Python lists). */
export class PyTuple {
  readonly items: readonly PyValue[];
  constructor(...items: PyValue[]) {
    this.items = items;
  }
}

/** Values pyRepr can print. JS numbers that are integers print as Python ints; use PyFloat for floats that are whole. */
export type PyValue = number | bigint | string | boolean | null | PyFloat | PyTuple | readonly PyValue[];

/** Forces float formatting of a whole number (Python `3.0`, not `3`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

export const pyTuple = (...items: PyValue[]) => new PyTuple(...items);
export const pyFloat = (v: number) => new PyFloat(v);

/** Python's repr(float): shortest round-trip digits, scientific when exponent < -4 or >= 16. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument gives the shortest digits that round-trip, like Python's repr.
  const [mant, expStr] = Math.abs(x).toExponential().split('e');
  const digits = mant.replace('.', '');
  const exp = Number(expStr);
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${e}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = digits.slice(exp + 1);
  return `${sign}${intPart}.${frac || '0'}`;
}

/** Python's repr(str): single quotes unless the text has ' and no ", standard escapes, \xNN for controls. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else if (c >= 0x80 && c < 0xa0) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += ch; // printable (Python 3 leaves printable non-ASCII as is)
  }
  return out + quote;
}

export function pyRepr(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) return String(v);
    if (Number.isInteger(v)) throw new RangeError(`pyRepr: integer ${v} is beyond 2^53; pass a bigint`);
    return pyFloatRepr(v);
  }
  if (typeof v === 'string') return pyStrRepr(v);
  if (v instanceof PyFloat) return pyFloatRepr(v.value);
  if (v instanceof PyTuple) {
    const items = v.items.map(pyRepr);
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
  }
  return `[${(v as readonly PyValue[]).map(pyRepr).join(', ')}]`;
}

/** DomainBed `misc.seed_hash(*args)`: int(md5(str(args)).hexdigest(), 16) % 2**31. */
export function seedHash(...args: PyValue[]): number {
  const digest = createHash('md5').update(pyRepr(new PyTuple(...args)), 'utf8').digest();
  // The low 31 bits of the 128-bit big-endian integer are in the last four bytes.
  return digest.readUInt32BE(12) & 0x7fffffff;
}
