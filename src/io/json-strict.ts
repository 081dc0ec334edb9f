// Strict JSON for checkpoint headers: JSON.parse silently keeps the last of two equal keys, so
// a file could say one thing to us and another to a different parser. This scan finds them.

/** Where a duplicate key sits: the keys of the enclosing objects, then the key itself. */
export interface DuplicateKey {
  path: string[];
  key: string;
}

interface Frame {
  keys: Set<string> | null; // null for arrays
  expectKey: boolean;
  key: string; // last key seen in this object, for the path of nested objects
}

/** End index (exclusive) of the string literal that opens at `start` (a `"`). */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) throw new SyntaxError('unterminated string');
    let slashes = 0;
    for (let j = q - 1; text.charCodeAt(j) === 92 /* \ */; j--) slashes++;
    if (slashes % 2 === 0) return q + 1;
    i = q + 1;
  }
}

/**
 * The keys of the top-level object in text order (JSON.parse reorders integer-like keys), and the
 * first key that appears twice in any one object, comparing keys after unescaping (`"a"` and
 * `"\u0061"` are the same key). `text` must already be valid JSON.
 */
export function inspectJsonKeys(text: string): { topLevel: string[]; duplicate: DuplicateKey | null } {
  const stack: Frame[] = [];
  const topLevel: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const end = stringEnd(text, i);
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, end)) as string;
        if (top.keys.has(key)) return { topLevel, duplicate: { path: stack.slice(0, -1).map((f) => f.key), key } };
        top.keys.add(key);
        if (stack.length === 1) topLevel.push(key);
        top.key = key;
        top.expectKey = false;
      }
      i = end - 1;
    } else if (c === 123 /* { */) {
      stack.push({ keys: new Set(), expectKey: true, key: '' });
    } else if (c === 91 /* [ */) {
      stack.push({ keys: null, expectKey: false, key: '[]' });
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      stack.pop();
    } else if (c === 44 /* , */) {
      const top = stack[stack.length - 1];
      if (top?.keys) top.expectKey = true;
    }
  }
  return { topLevel, duplicate: null };
}

/** JSON.parse that also rejects duplicate keys; returns a problem string instead of throwing. */
export function parseStrictJson(text: string): { value: unknown } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { problem: `invalid JSON (${(e as Error).message.split('\n')[0]})` };
  }
  const dup = inspectJsonKeys(text).duplicate;
  if (dup) {
    const where = dup.path.length ? ` in ${dup.path.map((k) => JSON.stringify(k)).join('.')}` : '';
    return { problem: `duplicate key ${JSON.stringify(dup.key)}${where}` };
  }
  return { value };
}
