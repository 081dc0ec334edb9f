// `ratatouille bench <what>`: benchmarks that print ratios against a baseline measured in the
// same run. Each benchmark lives in src/bench/<what>.ts and exports its Command.
import { Command } from 'commander';

export function benchCommand(): Command {
  const bench = new Command('bench').description('benchmarks; each prints a ratio against a baseline measured in the same run');
  const subs: Command[] = [];
  for (const sub of subs) bench.addCommand(sub);
  return bench;
}
