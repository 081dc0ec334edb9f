// `ratatouille bench <what>`: benchmarks that print ratios against a baseline measured in the
// same run. Each benchmark lives in src/bench/<what>.ts and exports its Command.
import { Command } from 'commander';
import { averageBenchCommand } from '../../bench/average.js';
import { dataBenchCommand } from '../../bench/data.js';
import { evalBenchCommand } from '../../bench/eval.js';
import { optimBenchCommand } from '../../bench/optim.js';
import { trainBenchCommand } from '../../bench/train.js';

export function benchCommand(): Command {
  const bench = new Command('bench').description('benchmarks; each prints a ratio against a baseline measured in the same run');
  const subs: Command[] = [averageBenchCommand(), dataBenchCommand(), evalBenchCommand(), optimBenchCommand(), trainBenchCommand()];
  for (const sub of subs) bench.addCommand(sub);
  return bench;
}
