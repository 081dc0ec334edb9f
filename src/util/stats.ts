// Aggregates over a few numbers, done the way DomainBed (numpy) does them so printed digits agree:
// sequential sums, numpy.std with ddof = 0, and the "standard error" np.std(data / √n).

/** Sequential sum, as numpy/Python do for the few values a table cell holds. */
function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

export function mean(xs: readonly number[]): number {
  return sum(xs) / xs.length;
}

/** numpy.std (ddof = 0). */
export function populationStd(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) * (x - m))));
}

/** DomainBed's "standard error": np.std(data / √n), in the units of `xs`. */
export function standardError(xs: readonly number[]): number {
  const root = Math.sqrt(xs.length);
  return populationStd(xs.map((x) => x / root));
}
