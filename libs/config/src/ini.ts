/** One `key = value` line. */
export interface IniEntry {
  readonly key: string;
  readonly value: string;
  /** 1-based line number. */
  readonly line: number;
}

export interface IniSection {
  /** Section name as written, except that `default` is normalised to `DEFAULT`. */
  readonly name: string;
  /** Line of the first header, or of the first entry for an implicit DEFAULT section. */
  readonly line: number;
  /** Final entry per key (a repeated key keeps the last value). */
  readonly entries: ReadonlyMap<string, IniEntry>;
}

export interface IniIssue {
  readonly file: string;
  readonly line: number;
  readonly section?: string;
  readonly key?: string;
  readonly message: string;
}

export interface IniDocument {
  readonly file: string;
  /** In order of first appearance; repeated headers are merged. */
  readonly sections: ReadonlyMap<string, IniSection>;
  /** Lines that could not be parsed; the document is unusable if this is not empty. */
  readonly errors: readonly IniIssue[];
  readonly warnings: readonly IniIssue[];
}

const DEFAULT = 'DEFAULT';

/**
 * Parses nova.conf-style INI text the way oslo.config reads it, minus interpolation and multi-line
 * values. Never throws: unparseable lines are reported in `errors` so that the caller can report
 * them together with invalid values.
 */
export function parseIni(text: string, file: string): IniDocument {
  const sections = new Map<string, { name: string; line: number; entries: Map<string, IniEntry> }>();
  const errors: IniIssue[] = [];
  const warnings: IniIssue[] = [];
  let current: string = DEFAULT;

  const section = (name: string, line: number) => {
    let found = sections.get(name);
    if (found === undefined) {
      found = { name, line, entries: new Map() };
      sections.set(name, found);
    }
    return found;
  };

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const text = raw.trim();
    if (text === '' || text.startsWith('#') || text.startsWith(';')) return;

    if (text.startsWith('[')) {
      const header = parseHeader(text);
      if (typeof header === 'string') {
        current = header;
        section(current, line);
      } else {
        errors.push({ file, line, message: header.error });
      }
      return;
    }

    const eq = text.indexOf('=');
    if (eq < 0) {
      // The line itself is not echoed: it may hold a password.
      const hint = text.includes(':') ? " (options use '=', not ':')" : '';
      errors.push({ file, line, section: current, message: `expected 'key = value', '[section]' or a comment${hint}` });
      return;
    }
    const key = text.slice(0, eq).trim();
    if (key === '') {
      errors.push({ file, line, section: current, message: "missing option name before '='" });
      return;
    }
    const entries = section(current, line).entries;
    const previous = entries.get(key);
    if (previous !== undefined) {
      warnings.push({
        file,
        line,
        section: current,
        key,
        message: `set again (first set at line ${previous.line}); the last value wins`,
      });
    }
    entries.set(key, { key, value: unquote(text.slice(eq + 1).trim()), line });
  });

  return { file, sections, errors, warnings };
}

function parseHeader(text: string): string | { error: string } {
  const close = text.indexOf(']');
  if (close < 0) return { error: "section header is missing ']'" };
  if (close !== text.length - 1) return { error: "unexpected text after ']' in section header" };
  const name = text.slice(1, close).trim();
  if (name === '') return { error: 'empty section name' };
  return name === 'default' ? DEFAULT : name;
}

function unquote(value: string): string {
  const quote = value[0];
  if (value.length >= 2 && (quote === '"' || quote === "'") && value.endsWith(quote)) return value.slice(1, -1);
  return value;
}
