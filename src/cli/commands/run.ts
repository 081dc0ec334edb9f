// `ratatouille run`: every stage (foundation, auxiliary pool, probes, sweeps, selection, report)
// in one run directory, resuming whatever an earlier invocation finished.
import { Command } from 'commander';
import { withPipeline, withPipelineOptions, type PipelineFlags } from '../../pipeline/command.js';
import { renderSummary } from '../../pipeline/report/index.js';
import { runAll } from '../../pipeline/pipeline.js';

export function runCommand(): Command {
  return withPipelineOptions(new Command('run').description('run every stage: foundation, auxiliary pool, probes, Soups/Ratatouille/fusing sweeps, selection, report')).action(
    async (f: PipelineFlags) => {
      await withPipeline(f, ['ratatouille', ...process.argv.slice(2)], undefined, async (ctx, info) => {
        const { results, paths } = await runAll(ctx, info);
        process.stdout.write(renderSummary(results, paths));
      });
    },
  );
}
