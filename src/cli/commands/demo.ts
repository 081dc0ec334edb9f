// `ratatouille demo`: the whole method and every baseline on RotatedMNIST (test domain 0°, one
// trial) in a reduced configuration sized for about 5 minutes on 2 cores (DEMO_CONFIG); prints the
// table and the paths of the plots. Flags and --config/--set adjust it like `run`.
import { Command } from 'commander';
import { DEMO_CONFIG, withPipeline, withPipelineOptions, type PipelineFlags } from '../../pipeline/command.js';
import { renderSummary } from '../../pipeline/report/index.js';
import { runAll } from '../../pipeline/pipeline.js';

export function demoCommand(): Command {
  return withPipelineOptions(new Command('demo').description('every stage and baseline on RotatedMNIST in a few minutes (run directory runs/demo)')).action(async (f: PipelineFlags) => {
    await withPipeline(f, ['ratatouille', ...process.argv.slice(2)], DEMO_CONFIG, async (ctx, info) => {
      const { results, paths } = await runAll(ctx, info);
      process.stdout.write(renderSummary(results, paths));
    });
  });
}
