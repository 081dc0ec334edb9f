// `ratatouille select`: uniform, greedy and † weight selection, the single-run baselines and the
// diagnostics, from the finished sweeps; writes <run dir>/results.json.
import { Command } from 'commander';
import { withPipeline, withPipelineOptions, type PipelineFlags } from '../../pipeline/command.js';
import { runSelect } from '../../pipeline/pipeline.js';

export function selectCommand(): Command {
  return withPipelineOptions(new Command('select').description('weight selection (uniform, greedy, †), baselines and diagnostics → results.json')).action(async (f: PipelineFlags) => {
    await withPipeline(f, ['ratatouille', ...process.argv.slice(2)], undefined, async (ctx, info) => {
      const r = await runSelect(ctx, info);
      process.stdout.write(`${r.selections.length} results: ${ctx.layout.results}\n`);
    });
  });
}
