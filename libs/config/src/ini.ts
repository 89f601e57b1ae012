/** One `key = value` assignment, with its continuation lines. */
export interface IniEntry {
  readonly key: string;
  /** The value; continuation lines are joined to it with '\n', as oslo.config joins them. */
  readonly value: string;
  /** 1-based line number of the `key = value` line. */
  readonly line: number;
}

export interface IniSection {
  /** Section name as written, except that `default` is normalised to `DEFAULT`. */
  readonly name: string;
  /** Line of the first header, or of the first entry for an implicit DEFAULT section. */
  readonly line: number;
  /**
   * Every assignment of each key, in file order. A key set twice has two entries: the loader
   * decides (the last one wins, or, for a multi-valued option, every one counts).
   */
  readonly entries: ReadonlyMap<string, readonly IniEntry[]>;
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
 * Parses nova.conf-style INI text with oslo.config's rules (its `iniparser`), minus
 * interpolation:
 * - a line starting with a space or a tab continues the value above it (joined with '\n'); a
 *   blank line, a comment, a header or the next `key = value` ends the value;
 * - `key = value` or `key: value` (whichever of '=' and ':' comes first), the value stripped
 *   and unquoted when wrapped in matching quotes;
 * - `#` and `;` start comment lines (only at the start of a line: `a = b # c` keeps `b # c`).
 * Two leniencies of ours: entries before any header belong to [DEFAULT] (the seed's nova.conf
 * has some), and a file indented as a whole (an excerpt pasted from a document, as the seed's
 * sample) is read as if it were not, with a warning.
 * Never throws: unparseable lines are reported in `errors`, so that the caller can report
 * them together with invalid values.
 */
export function parseIni(text: string, file: string): IniDocument {
  const sections = new Map<string, { name: string; line: number; entries: Map<string, IniEntry[]> }>();
  const errors: IniIssue[] = [];
  const warnings: IniIssue[] = [];
  let current: string = DEFAULT;
  /** The assignment whose value may still go on, on continuation lines. */
  let open: { key: string; parts: string[]; line: number } | undefined;

  const section = (name: string, line: number) => {
    let found = sections.get(name);
    if (found === undefined) {
      found = { name, line, entries: new Map() };
      sections.set(name, found);
    }
    return found;
  };
  const close = () => {
    if (open === undefined) return;
    const entries = section(current, open.line).entries;
    const entry = { key: open.key, value: open.parts.join('\n'), line: open.line };
    entries.set(open.key, [...(entries.get(open.key) ?? []), entry]);
    open = undefined;
  };

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const indent = commonIndent(lines);
  if (indent.text !== '') {
    warnings.push({
      file,
      line: indent.firstLine,
      message:
        'every line of the file is indented: read as if it were not (oslo.config would refuse it: a line ' +
        'starting with whitespace continues the value above it)',
    });
  }

  lines.forEach((raw, index) => {
    const line = index + 1;
    const text = raw.slice(indent.text.length).trimEnd();
    if (text === '') {
      close();
      return;
    }
    if (text.startsWith(' ') || text.startsWith('\t')) {
      if (open !== undefined) open.parts.push(text.trimStart());
      else
        errors.push({
          file,
          line,
          section: current,
          message:
            'unexpected continuation line: a line starting with whitespace continues the value of the option ' +
            'above it, and there is none (remove the indentation)',
        });
      return;
    }
    close();
    if (text.startsWith('#') || text.startsWith(';')) return;

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

    const assignment = splitAssignment(text);
    if ('error' in assignment) {
      // The line itself is not echoed: it may hold a password.
      errors.push({ file, line, section: current, message: assignment.error });
      return;
    }
    open = { key: assignment.key, parts: [assignment.value], line };
  });
  close();

  return { file, sections, errors, warnings };
}

/** The whitespace every non-blank line starts with ('' when one does not), and the first such line. */
function commonIndent(lines: readonly string[]): { text: string; firstLine: number } {
  let common: string | undefined;
  let firstLine = 0;
  lines.forEach((raw, index) => {
    if (raw.trim() === '') return;
    const own = /^[ \t]*/.exec(raw)![0];
    if (common === undefined) {
      common = own;
      firstLine = index + 1;
      return;
    }
    let same = 0;
    while (same < common.length && same < own.length && common[same] === own[same]) same++;
    common = common.slice(0, same);
  });
  return { text: common ?? '', firstLine };
}

/** oslo's `_split_key_value`: the first of '=' and ':' separates the key from the value. */
function splitAssignment(text: string): { key: string; value: string } | { error: string } {
  const equal = text.indexOf('=');
  const colon = text.indexOf(':');
  if (equal < 0 && colon < 0) return { error: "expected 'key = value', '[section]' or a comment" };
  const at = colon < 0 || (equal >= 0 && equal < colon) ? equal : colon;
  const key = text.slice(0, at).trim();
  if (key === '') return { error: `missing option name before '${text[at]}'` };
  return { key, value: unquote(text.slice(at + 1).trim()) };
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
