// Markdown building blocks for reports: escaping user text (domain names, run ids, failure
// reasons) and column-aligned tables that read well both rendered and in a terminal.

/** Escapes characters Markdown would treat as syntax, and flattens line breaks. */
export function mdEscape(s: string): string {
  return s.replace(/\r?\n|\r/g, ' ').replace(/[\\`*_[\]<>|#]/g, '\\$&');
}

/** An inline code span that holds any text (fence longer than any backtick run inside). */
export function mdCode(s: string): string {
  const flat = s.replace(/\r?\n|\r/g, ' ');
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${flat}${pad}${fence}`;
}

export type Align = 'left' | 'right';

/**
 * A pipe table with cells padded to equal width. `escape` applies mdEscape to every cell (off for
 * terminal output, where the same layout is printed as plain text).
 */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[], escape = true): string {
  const esc = (s: string) => (escape ? mdEscape(s) : s.replace(/\r?\n|\r/g, ' '));
  const all = [header, ...rows].map((r) => r.map(esc));
  const width = header.map((_, j) => Math.max(3, ...all.map((r) => [...(r[j] ?? '')].length)));
  const pad = (s: string, j: number) => {
    const fill = ' '.repeat(width[j] - [...s].length);
    return align[j] === 'right' ? fill + s : s + fill;
  };
  const line = (r: readonly string[]) => `| ${header.map((_, j) => pad(r[j] ?? '', j)).join(' | ')} |`;
  const rule = `| ${width.map((w, j) => (align[j] === 'right' ? '-'.repeat(w - 1) + ':' : '-'.repeat(w))).join(' | ')} |`;
  return [line(all[0]), rule, ...all.slice(1).map(line)].join('\n');
}

/** A fenced code block whose fence cannot occur inside `body`. */
export function mdFence(body: string, lang = ''): string {
  const longest = Math.max(2, ...(body.match(/`+/g) ?? []).map((m) => m.length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${lang}\n${body}\n${fence}`;
}
