// RFC 4180 CSV, both ways: fields with a comma, quote, line break or edge space are quoted
// (quotes doubled); rows end with "\n". The parser reads back what the writer writes, and CRLF.

export type CsvValue = string | number | null;

function field(v: CsvValue): string {
  const s = v === null ? '' : typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v;
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: readonly string[], rows: readonly (readonly CsvValue[])[]): string {
  return [header, ...rows].map((r) => r.map(field).join(',')).join('\n') + '\n';
}

/** Rows of fields (all strings); a trailing line break does not make an empty row. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cur = '';
  let quoted = false;
  let i = 0;
  const endField = () => {
    row.push(cur);
    cur = '';
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cur += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else cur += c;
      i++;
      continue;
    }
    if (c === '"' && cur === '') quoted = true;
    else if (c === ',') endField();
    else if (c === '\n' || c === '\r') {
      endField();
      rows.push(row);
      row = [];
      if (c === '\r' && text[i + 1] === '\n') i++;
    } else cur += c;
    i++;
  }
  if (quoted) throw new SyntaxError('CSV: unterminated quoted field');
  if (cur !== '' || row.length) {
    endField();
    rows.push(row);
  }
  return rows;
}
