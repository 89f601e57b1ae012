import { parseIni } from './ini';

function entries(text: string, section: string) {
  const found = parseIni(text, 'test.conf').sections.get(section);
  return Object.fromEntries([...(found?.entries.values() ?? [])].map((entry) => [entry.key, entry.value]));
}

describe('parseIni', () => {
  it('reads sections, trims lines and remembers line numbers', () => {
    const doc = parseIni('    [baremetal] \n    tftp_root = /tftpboot\n\tdriver=pxe\t\n', 'a.conf');
    expect(doc.errors).toEqual([]);
    expect(doc.warnings).toEqual([]);
    const section = doc.sections.get('baremetal');
    expect(section?.line).toBe(1);
    expect([...(section?.entries.values() ?? [])]).toEqual([
      { key: 'tftp_root', value: '/tftpboot', line: 2 },
      { key: 'driver', value: 'pxe', line: 3 },
    ]);
  });

  it('puts lines before the first header in DEFAULT', () => {
    const doc = parseIni('#BAREMETAL\n\nmy_ip=10.10.44.16\n[baremetal]\ndriver=pxe\n', 'a.conf');
    expect(doc.sections.get('DEFAULT')?.entries.get('my_ip')).toEqual({ key: 'my_ip', value: '10.10.44.16', line: 3 });
    expect(doc.sections.get('DEFAULT')?.line).toBe(3);
  });

  it('skips # and ; comments and blank lines', () => {
    expect(entries('# a\n  ; b\n\n   \na=1\n', 'DEFAULT')).toEqual({ a: '1' });
  });

  it('splits at the first = and keeps =, :, $ and # in values', () => {
    expect(entries('a = x=y:z $w # not a comment\nb=\n', 'DEFAULT')).toEqual({ a: 'x=y:z $w # not a comment', b: '' });
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

  it('keeps the last value of a repeated key and warns', () => {
    const doc = parseIni('[baremetal]\na=1\na=2\n', 'a.conf');
    expect(doc.sections.get('baremetal')?.entries.get('a')).toEqual({ key: 'a', value: '2', line: 3 });
    expect(doc.warnings).toEqual([
      {
        file: 'a.conf',
        line: 3,
        section: 'baremetal',
        key: 'a',
        message: 'set again (first set at line 2); the last value wins',
      },
    ]);
  });

  it('reports unparseable lines with their line numbers and does not echo them', () => {
    const doc = parseIni(
      '[baremetal]\nfoo\nok=1\n[unclosed\n[]\n= x\n[a] b\nsql_connection: mysql://u:secret@h/db\n',
      'a.conf',
    );
    expect(doc.errors.map((error) => [error.line, error.message])).toEqual([
      [2, "expected 'key = value', '[section]' or a comment"],
      [4, "section header is missing ']'"],
      [5, 'empty section name'],
      [6, "missing option name before '='"],
      [7, "unexpected text after ']' in section header"],
      [8, "expected 'key = value', '[section]' or a comment (options use '=', not ':')"],
    ]);
    expect(JSON.stringify(doc.errors)).not.toContain('secret');
    expect(doc.errors.every((error) => error.file === 'a.conf')).toBe(true);
  });

  it('handles CRLF line endings and a BOM', () => {
    const doc = parseIni('\uFEFF[baremetal]\r\na = 1\r\n', 'a.conf');
    expect(doc.errors).toEqual([]);
    expect(doc.sections.get('baremetal')?.entries.get('a')).toEqual({ key: 'a', value: '1', line: 2 });
  });
});
