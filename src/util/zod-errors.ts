// One InputError from a failed zod parse, naming the key (`job.hparams.lr: ...`), so job files
// and pipeline configs report bad input alike. An unknown key is named itself, not its parent.
import type { z } from 'zod';
import { InputError } from '../errors.js';

/**
 * `root` prefixes every key path (a file name, 'job', 'config'). One issue: the error's `where` is
 * the full key path; several: `where` is `root` and the issues are joined with '; '.
 */
export function zodIssuesError(issues: readonly z.core.$ZodIssue[], root: string): InputError {
  const parts = issues.map((i) => {
    const keys = i.code === 'unrecognized_keys' ? (i as { keys: string[] }).keys : null;
    const path = [root, ...i.path.map(String), ...(keys ? [keys.join(',')] : [])].join('.');
    return keys ? `${path}: unknown key` : `${path}: ${i.message}`;
  });
  const cut = parts[0].indexOf(': ');
  if (parts.length === 1) return new InputError(parts[0].slice(0, cut), parts[0].slice(cut + 2));
  return new InputError(root, parts.join('; '));
}
