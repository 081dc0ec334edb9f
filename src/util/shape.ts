// Tensor shapes compared as the checks everywhere need: same rank, same extents.

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
