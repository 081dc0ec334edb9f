#!/usr/bin/env node
// The `ratatouille` executable: parse, run, exit with the command's code.
import { runCli } from './program.js';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`ratatouille: ${(e as Error)?.message ?? e}\n`);
    process.exitCode = 1;
  },
);
