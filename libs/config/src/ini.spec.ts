import { parseIni } from './ini';

/** The last value of each key of `section`. */
function entries(text: string, section: string) {
  const found = parseIni(text, 'test.conf').sections.get(section);
  return Object.fromEntries([...(found?.entries.values() ?? [])].map((all) => [all[0].key, all[all.length - 1].value]));
}

function errorLines(text: string) {
  return parseIni(text, 'a.conf').errors.map((error) => [error.line, error.message]);
}

const CONTINUATION_ERROR =
  'unexpected continuation line: a line starting with whitespace continues the value of the option above it, ' +
  'and there is none (remove the indentation)';

describe('parseIni', () => {
  it('reads sections and remembers line numbers', () => {
    const doc = parseIni('[baremetal] \ntftp_root = /tftpboot\ndriver=pxe\t\n', 'a.conf');
    expect(doc.errors).toEqual([]);
    expect(doc.warnings).toEqual([]);
    const section = doc.sections.get('baremetal');
    expect(section?.line).toBe(1);
    expect([...(section?.entries.values() ?? [])]).toEqual([
      [{ key: 'tftp_root', value: '/tftpboot', line: 2 }],
      [{ key: 'driver', value: 'pxe', line: 3 }],
    ]);
  });

  it('puts lines before the first header in DEFAULT', () => {
    const doc = parseIni('#BAREMETAL\n\nmy_ip=10.10.44.16\n[baremetal]\ndriver=pxe\n', 'a.conf');
    expect(doc.sections.get('DEFAULT')?.entries.get('my_ip')).toEqual([
      { key: 'my_ip', value: '10.10.44.16', line: 3 },
    ]);
    expect(doc.sections.get('DEFAULT')?.line).toBe(3);
  });

  it('skips # and ; comments and blank lines', () => {
    expect(entries('# a\n; b\n\n   \na=1\n', 'DEFAULT')).toEqual({ a: '1' });
  });

  it("splits at the first of '=' and ':' (oslo's rule) and keeps the rest, # included, in the value", () => {
    expect(entries('a = x=y:z $w # not a comment\nb=\nc: d=e\nsql_connection: mysql://u:p@h/db\n', 'DEFAULT')).toEqual({
      a: 'x=y:z $w # not a comment',
      b: '',
      c: 'd=e',
      sql_connection: 'mysql://u:p@h/db',
    });
  });

  it('unquotes values wrapped in matching quotes only', () => {
    const text = `a = "x y"\nb='nofb nomodeset'\nc = "x'\nd = ''\ne = "\nf = say "hi"\n`;
    expect(entries(text, 'DEFAULT')).toEqual({ a: 'x y', b: 'nofb nomodeset', c: `"x'`, d: '', e: '"', f: 'say "hi"' });
  });

  it('treats [default] as [DEFAULT] and other names case-sensitively', () => {
    const doc = parseIni('[default]\na=1\n[DEFAULT]\nb=2\n[Baremetal]\nc=3\n', 'a.conf');
    expect([...doc.sections.keys()]).toEqual(['DEFAULT', 'Baremetal']);
    expect(entries('[default]\na=1\n[DEFAULT]\nb=2\n', 'DEFAULT')).toEqual({ a: '1', b: '2' });
  });

  it('merges repeated sections', () => {
    expect(entries('[baremetal]\na=1\n[DEFAULT]\nx=0\n[baremetal]\nb=2\n', 'baremetal')).toEqual({ a: '1', b: '2' });
  });

  it('keeps every value of a repeated key, in order (the loader decides which counts)', () => {
    const doc = parseIni('[baremetal]\na=1\nb=0\n[DEFAULT]\n[baremetal]\na=2\n', 'a.conf');
    expect(doc.sections.get('baremetal')?.entries.get('a')).toEqual([
      { key: 'a', value: '1', line: 2 },
      { key: 'a', value: '2', line: 6 },
    ]);
    expect(doc.warnings).toEqual([]);
  });

  describe('continuation lines (oslo.config iniparser)', () => {
    it('joins lines starting with a space or a tab to the value above, with newlines, stripped', () => {
      const doc = parseIni(
        '[glance]\napi_servers = http://a:9292,\n    http://b:9292,  \n\thttp://c:9292\nx = 1\n',
        'a.conf',
      );
      expect(doc.errors).toEqual([]);
      expect(doc.sections.get('glance')?.entries.get('api_servers')).toEqual([
        { key: 'api_servers', value: 'http://a:9292,\nhttp://b:9292,\nhttp://c:9292', line: 2 },
      ]);
      expect(doc.sections.get('glance')?.entries.get('x')).toEqual([{ key: 'x', value: '1', line: 5 }]);
    });

    it('keeps the empty first line of a value that starts on the next line, as oslo does', () => {
      expect(entries('[a]\nk =\n  one\n  two\n', 'a')).toEqual({ k: '\none\ntwo' });
    });

    it('unquotes only the first line; an indented # line is part of the value', () => {
      expect(entries('[a]\nk = "x"\n  "y"\n  # z\n', 'a')).toEqual({ k: 'x\n"y"\n# z' });
    });

    it('ends a value at a blank line, a comment, a header or the next option', () => {
      const text = '[a]\nk = 1\n\n  more\nl = 2\n# c\n  more\nm = 3\n[b]\n  more\nn = 4\no = 5\n';
      expect(errorLines(text)).toEqual([
        [4, CONTINUATION_ERROR],
        [7, CONTINUATION_ERROR],
        [10, CONTINUATION_ERROR],
      ]);
      expect(entries(text, 'a')).toEqual({ k: '1', l: '2', m: '3' });
      expect(entries(text, 'b')).toEqual({ n: '4', o: '5' });
    });

    it('refuses a continuation line with nothing above it, and an indented line after a header', () => {
      expect(errorLines('  k = 1\n[a]\nx = 1\n')).toEqual([[1, CONTINUATION_ERROR]]);
      expect(errorLines('[a]\n  k = 1\nl = 2\n')).toEqual([[2, CONTINUATION_ERROR]]);
      expect(errorLines('\n\tk = 1\n[a]\n')).toEqual([[2, CONTINUATION_ERROR]]);
    });
  });

  it('reads a file indented as a whole as if it were not, with a warning (the seed pasted its sample so)', () => {
    const doc = parseIni('\n    [baremetal] \n    tftp_root = /tftpboot\n      /more\n\n    driver=pxe\n', 'a.conf');
    expect(doc.errors).toEqual([]);
    expect(doc.warnings).toEqual([
      {
        file: 'a.conf',
        line: 2,
        message:
          'every line of the file is indented: read as if it were not (oslo.config would refuse it: a line ' +
          'starting with whitespace continues the value above it)',
      },
    ]);
    expect(entries('    [baremetal]\n    tftp_root = /tftpboot\n      /more\n    driver=pxe\n', 'baremetal')).toEqual({
      tftp_root: '/tftpboot\n/more',
      driver: 'pxe',
    });
  });

  it('does not strip indentation that the lines do not share (a tab is not four spaces)', () => {
    expect(errorLines('    [baremetal]\n\tdriver=pxe\n')).toEqual([
      [1, CONTINUATION_ERROR],
      [2, CONTINUATION_ERROR],
    ]);
  });

  it('reports unparseable lines with their line numbers and does not echo them', () => {
    const doc = parseIni(
      '[baremetal]\nfoo\nok=1\n[unclosed\n[]\n= x\n[a] b\n: mysql://u:secret@h/db\nfoo secret\n',
      'a.conf',
    );
    expect(doc.errors.map((error) => [error.line, error.message])).toEqual([
      [2, "expected 'key = value', '[section]' or a comment"],
      [4, "section header is missing ']'"],
      [5, 'empty section name'],
      [6, "missing option name before '='"],
      [7, "unexpected text after ']' in section header"],
      [8, "missing option name before ':'"],
      [9, "expected 'key = value', '[section]' or a comment"],
    ]);
    expect(JSON.stringify(doc.errors)).not.toContain('secret');
    expect(doc.errors.every((error) => error.file === 'a.conf')).toBe(true);
  });

  it('handles CRLF line endings and a BOM', () => {
    const doc = parseIni('\uFEFF[baremetal]\r\na = 1\r\n  2\r\n', 'a.conf');
    expect(doc.errors).toEqual([]);
    expect(doc.sections.get('baremetal')?.entries.get('a')).toEqual([{ key: 'a', value: '1\n2', line: 2 }]);
  });
});
