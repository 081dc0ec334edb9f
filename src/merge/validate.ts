// Pre-flight checks for averaging, from headers only: every input has the same tensor names,
// shapes and dtypes as the first. All mismatches are reported at once, naming files and tensors,
// before any tensor data is read (mergekit users learn of a mismatch only mid-merge).
import { InputError, InputErrors } from '../errors.js';
import type { Checkpoint } from '../io/checkpoint.js';

const q = (s: string) => JSON.stringify(s);
const shape = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Throws InputErrors listing every tensor that differs between inputs[0] and the others. */
export function checkCompatible(inputs: readonly Checkpoint[]): void {
  const problems: InputError[] = [];
  const [ref, ...rest] = inputs;
  for (const ck of rest) {
    if (ck.kind !== ref.kind) {
      problems.push(new InputError(ck.path, `is ${ck.kind} but ${ref.path} is ${ref.kind}; inputs must all be one kind`));
      continue;
    }
    const missing: string[] = [];
    for (const t of ref.tensors) {
      const u = ck.byName.get(t.name);
      if (!u) {
        missing.push(t.name);
        continue;
      }
      if (u.shape.length !== t.shape.length || u.shape.some((d, i) => d !== t.shape[i])) {
        problems.push(new InputError(ck.path, `tensor ${q(t.name)} has shape ${shape(u.shape)}, ${ref.path} has ${shape(t.shape)}`));
      }
      if (u.dtype !== t.dtype) {
        problems.push(new InputError(ck.path, `tensor ${q(t.name)} is ${u.dtype}, ${ref.path} has ${t.dtype}`));
      }
    }
    if (missing.length) problems.push(new InputError(ck.path, `missing ${list(missing)} present in ${ref.path}`));
    const extra = ck.tensors.filter((t) => !ref.byName.has(t.name)).map((t) => t.name);
    if (extra.length) problems.push(new InputError(ck.path, `has ${list(extra)} absent from ${ref.path}`));
  }
  if (problems.length === 1) throw problems[0];
  if (problems.length) throw new InputErrors(problems, `${problems.length} mismatches between inputs`);
}

function list(names: string[]): string {
  const shown = names.slice(0, 5).map(q).join(', ');
  const more = names.length > 5 ? ` and ${names.length - 5} more` : '';
  return `${names.length === 1 ? 'tensor' : `${names.length} tensors`} ${shown}${more}`;
}

/** λ: one finite weight per input; normalised to sum 1 unless `normalize` is false. */
export function resolveWeights(n: number, given: readonly number[] | undefined, normalize: boolean): number[] {
  if (!given) return Array.from({ length: n }, () => 1 / n);
  if (given.length !== n) throw new InputError('--weights', `${given.length} weights for ${n} inputs`);
  given.forEach((w, i) => {
    if (!Number.isFinite(w)) throw new InputError('--weights', `weight ${i + 1} is not a finite number`);
  });
  if (!normalize) return [...given];
  const sum = given.reduce((a, b) => a + b, 0);
  if (Math.abs(sum) < 1e-12) throw new InputError('--weights', 'weights sum to zero and cannot be normalised (use --no-normalize)');
  return given.map((w) => w / sum);
}
