// `ratatouille aux`: stage 0–1, the foundation and the auxiliary pool (plus external members,
// all validated before anything trains).
import { Command } from 'commander';
import { withPipeline, withPipelineOptions, type PipelineFlags } from '../../pipeline/command.js';
import { runAux } from '../../pipeline/pipeline.js';

export function auxCommand(): Command {
  return withPipelineOptions(new Command('aux').description('pretrain the foundation (unless given) and fine-tune it on every auxiliary task')).action(async (f: PipelineFlags) => {
    await withPipeline(f, ['ratatouille', ...process.argv.slice(2)], undefined, async (ctx) => {
      const m = await runAux(ctx);
      const lines = [`foundation: ${m.foundation}`, ...m.tasks.flatMap((t) => t.members.map((x) => `${x.id}: ${x.featurizer}`)), `pool: ${ctx.layout.poolManifest}`];
      process.stdout.write(lines.join('\n') + '\n');
    });
  });
}
