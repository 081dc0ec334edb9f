// `ratatouille sweep`: shared probes and the Soups, Ratatouille and fusing sweeps of every target
// (dataset, test env, trial), from the pool of an earlier `ratatouille aux` in the same run directory.
import { Command } from 'commander';
import { withPipeline, withPipelineOptions, type PipelineFlags } from '../../pipeline/command.js';
import { runSweep } from '../../pipeline/pipeline.js';

export function sweepCommand(): Command {
  return withPipelineOptions(new Command('sweep').description('linear probes and target sweeps (Soups, Ratatouille, fusing); resumable')).action(async (f: PipelineFlags) => {
    await withPipeline(f, ['ratatouille', ...process.argv.slice(2)], undefined, async (ctx) => {
      const runs = await runSweep(ctx);
      const bad = runs.filter((r) => r.record.status !== 'ok');
      process.stdout.write(`${runs.length} runs (${bad.length} failed or diverged): ${ctx.layout.sweepManifest}\n`);
    });
  });
}
