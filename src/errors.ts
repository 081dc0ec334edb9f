// Errors the user can act on. Commands turn them into one line on stderr and exit code 2;
// anything else is a bug and exits 1 with a stack trace under RATATOUILLE_DEBUG.

/** Bad input: names the file (or option) and the problem. */
export class InputError extends Error {
  readonly exitCode = 2;
  constructor(readonly where: string, readonly problem: string) {
    super(where ? `${where}: ${problem}` : problem);
    this.name = 'InputError';
  }
}

/** Several input problems found at once (e.g. every mismatch across N checkpoints). */
export class InputErrors extends InputError {
  constructor(readonly problems: InputError[], summary: string) {
    super('', `${summary}: ${problems.map((p) => p.message).join('; ')}`);
    this.name = 'InputErrors';
  }
}

export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
