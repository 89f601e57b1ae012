/** One CSV record with the line it starts on (1-based) and whether each field was quoted. */
export interface CsvRecord {
  line: number;
  fields: string[];
}

/**
 * A small RFC 4180 reader: `,` separated, `"` quoted fields (which may hold commas, doubled
 * quotes and line breaks: BMC passwords can contain anything). Unquoted fields are trimmed;
 * quoted ones are kept as written. Blank lines and lines starting with `#` are skipped.
 * Throws on an unterminated quote, naming the line it started on.
 */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const start = line;
    // whole-line comments and blank lines
    const eol = text.indexOf('\n', i);
    const rawLine = text.slice(i, eol < 0 ? n : eol).replace(/\r$/, '');
    if (rawLine.trim() === '' || rawLine.trimStart().startsWith('#')) {
      i = eol < 0 ? n : eol + 1;
      line++;
      continue;
    }
    const fields: string[] = [];
    for (;;) {
      // one field
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
      let value = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= n) throw new SyntaxError(`line ${start}: a quoted field is not closed`);
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          value += c;
          i++;
        }
        while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\r')) i++;
        if (i < n && text[i] !== ',' && text[i] !== '\n') {
          throw new SyntaxError(`line ${line}: unexpected text after a quoted field`);
        }
      } else {
        while (i < n && text[i] !== ',' && text[i] !== '\n') value += text[i++];
        value = value.replace(/\r$/, '').trim();
      }
      fields.push(value);
      if (i < n && text[i] === ',') {
        i++;
        continue;
      }
      if (i < n && text[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    records.push({ line: start, fields });
  }
  return records;
}
