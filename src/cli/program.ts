// The command tree. Commands live one per module in ./commands and are registered here;
// `runCli` returns the exit code instead of exiting, so tests drive the real parser.
import { Command, CommanderError } from 'commander';
import { isInputError } from '../errors.js';
import { averageCommand } from './commands/average.js';
import { benchCommand } from './commands/bench.js';
import { infoCommand } from './commands/info.js';
import { dataCommand } from './commands/data.js';
import { trainCommand } from './commands/train.js';
import { evalCommand } from './commands/eval.js';
import { auxCommand } from './commands/aux.js';
import { sweepCommand } from './commands/sweep.js';
import { selectCommand } from './commands/select.js';
import { reportCommand } from './commands/report.js';
import { runCommand } from './commands/run.js';
import { demoCommand } from './commands/demo.js';


import { VERSION } from '../version.js';

export function buildProgram(): Command {
  const program = new Command()
    .name('ratatouille')
    .description('Recycle fine-tunings for out-of-distribution generalisation (Model Ratatouille).')
    .version(VERSION)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const cmd of [infoCommand(), averageCommand(), dataCommand(), trainCommand(), evalCommand(), benchCommand(), auxCommand(), sweepCommand(), selectCommand(), reportCommand(), runCommand(), demoCommand()]) program.addCommand(cmd);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Parses argv (without node and script) and runs the command; resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return reportError(e);
  }
}

export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    // commander already printed its one-line message
    return 2;
  }
  if (isInputError(e)) {
    process.stderr.write(`ratatouille: ${e.message}\n`);
    return 2;
  }
  const err = e as Error;
  process.stderr.write(`ratatouille: internal error: ${err?.message ?? String(e)}\n`);
  if (process.env.RATATOUILLE_DEBUG && err?.stack) process.stderr.write(err.stack + '\n');
  return 1;
}
