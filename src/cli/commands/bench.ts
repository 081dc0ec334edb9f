// `ratatouille bench <what>`: benchmarks that print ratios against a baseline measured in the
// same run. Each benchmark lives in src/bench/<what>.ts and exports its Command; `bench all`
// runs every one with its defaults (what `npm run bench` does).
import { Command } from 'commander';
import { averageBenchCommand } from '../../bench/average.js';
import { dataBenchCommand } from '../../bench/data.js';
import { evalBenchCommand } from '../../bench/eval.js';
import { optimBenchCommand } from '../../bench/optim.js';
import { trainBenchCommand } from '../../bench/train.js';

const BENCHES = [averageBenchCommand, optimBenchCommand, trainBenchCommand, evalBenchCommand, dataBenchCommand];

export function benchCommand(): Command {
  const bench = new Command('bench').description('benchmarks; each prints a ratio against a baseline measured in the same run');
  for (const make of BENCHES) bench.addCommand(make());
  bench.addCommand(
    new Command('all').description('run every benchmark with its defaults').action(async () => {
      for (const make of BENCHES) {
        const sub = make().exitOverride();
        process.stdout.write(`\n== bench ${sub.name()} ==\n`);
        await sub.parseAsync([], { from: 'user' });
      }
    }),
  );
  return bench;
}
