// `ratatouille report`: the DomainBed-style tables (Markdown, CSV, JSON) and SVG plots from a run
// directory's results.json (or a results file given with --results).
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { renderSummary, readResults, writeReport } from '../../pipeline/report/index.js';
import { RunLayout } from '../../pipeline/layout.js';

export function reportCommand(): Command {
  return new Command('report')
    .description('tables (Markdown, CSV, JSON) and SVG plots from results.json')
    .option('--run-dir <dir>', 'run directory holding results.json', 'runs/ratatouille')
    .option('--results <file>', 'a results.json elsewhere (the report goes beside it, in report/)')
    .option('-o, --out <dir>', 'report folder (default: <run dir>/report)')
    .action((o: { runDir: string; results?: string; out?: string }) => {
      const layout = new RunLayout(o.runDir);
      const file = o.results ?? layout.results;
      const results = readResults(file);
      const paths = writeReport(o.out ?? (o.results ? join(dirname(o.results), 'report') : layout.reportDir), results);
      process.stdout.write(renderSummary(results, paths));
    });
}
