// Content digests of files: what names a file by its content (pipeline featurizers and probes)
// and what a job records of a user's model file so a changed file is never mistaken for the old.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Lowercase hex SHA-256 of a file's bytes. */
export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
