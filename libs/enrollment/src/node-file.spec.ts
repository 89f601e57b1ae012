import { parseCsv } from './csv';
import { detectFormat, parseNodeFile } from './node-file';
import { validateNode } from './node.dto';

describe('parseCsv', () => {
  it('reads quoted fields with commas, quotes and line breaks, and keeps line numbers', () => {
    const text = 'a, b ,c\n# comment\n\n"x,1","say ""hi""","two\nlines"\nlast,"  kept  ",\n';
    expect(parseCsv(text)).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 4, fields: ['x,1', 'say "hi"', 'two\nlines'] },
      { line: 6, fields: ['last', '  kept  ', ''] },
    ]);
  });

  it('handles CRLF files', () => {
    expect(parseCsv('a,b\r\nc,"d"\r\n')).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['c', 'd'] },
    ]);
  });

  it('names the line of an unclosed quote', () => {
    expect(() => parseCsv('a,b\nc,"oops\n')).toThrow(/line 2: a quoted field is not closed/);
  });
});

describe('parseNodeFile', () => {
  it('reads positional rows (no header) with the optional columns', () => {
    const f = parseNodeFile(
      '52:54:00:00:00:01,admin,pw,10.0.0.5,4,8192,100\n52:54:00:00:00:02,u,p,bmc2:6230,2,1024,10,aarch64,cn2,7001\n',
      'csv',
    );
    expect(f.problems).toEqual([]);
    expect(f.records).toEqual([
      {
        line: 1,
        fields: {
          macs: ['52:54:00:00:00:01'],
          pm_user: 'admin',
          pm_password: 'pw',
          pm_address: '10.0.0.5',
          cpus: 4,
          memory_mb: 8192,
          local_gb: 100,
        },
      },
      {
        line: 2,
        fields: {
          macs: ['52:54:00:00:00:02'],
          pm_user: 'u',
          pm_password: 'p',
          pm_address: 'bmc2:6230',
          cpus: 2,
          memory_mb: 1024,
          local_gb: 10,
          cpu_arch: 'aarch64',
          service_host: 'cn2',
          terminal_port: 7001,
        },
      },
    ]);
  });

  it('uses a header to order columns', () => {
    const f = parseNodeFile(
      'MAC,cpus,memory_mb,local_gb,pm_address,pm_user,pm_password\n52:54:00:00:00:01,1,512,5,10.0.0.9,a,b\n',
      'csv',
    );
    expect(f.problems).toEqual([]);
    expect(f.records[0]).toEqual({
      line: 2,
      fields: {
        macs: ['52:54:00:00:00:01'],
        cpus: 1,
        memory_mb: 512,
        local_gb: 5,
        pm_address: '10.0.0.9',
        pm_user: 'a',
        pm_password: 'b',
      },
    });
  });

  it('rejects bad headers and rows with the wrong number of columns', () => {
    expect(parseNodeFile('mac,cpus,colour\n', 'csv').problems.map((p) => p.message)).toEqual([
      "unknown column 'colour'",
      "missing column 'pm_user'",
      "missing column 'pm_password'",
      "missing column 'pm_address'",
      "missing column 'memory_mb'",
      "missing column 'local_gb'",
    ]);
    expect(parseNodeFile('52:54:00:00:00:01,a,b,10.0.0.1,1,2\n', 'csv').problems).toEqual([
      { line: 1, field: '(row)', message: 'has 6 columns, expected 7 to 10' },
    ]);
    expect(parseNodeFile('# nothing\n', 'csv').problems).toEqual([{ field: '(file)', message: 'contains no nodes' }]);
  });

  it('reads JSON lists and {"nodes": [...]} with mac or macs', () => {
    const a = parseNodeFile('[{"mac":"52:54:00:00:00:01","cpus":1}]', 'json');
    expect(a.records).toEqual([{ entry: 1, fields: { macs: ['52:54:00:00:00:01'], cpus: 1 } }]);
    const b = parseNodeFile('{"nodes":[{"macs":["52:54:00:00:00:01","52:54:00:00:00:02"]}, 7]}', 'json');
    expect(b.records).toEqual([{ entry: 1, fields: { macs: ['52:54:00:00:00:01', '52:54:00:00:00:02'] } }]);
    expect(b.problems).toEqual([{ entry: 2, field: '(entry)', message: 'must be an object' }]);
    expect(parseNodeFile('{"nodes": 1', 'json').problems[0].message).toMatch(/^not valid JSON/);
  });

  it('detects the format from the name or the content', () => {
    expect(detectFormat('x', 'nodes.JSON')).toBe('json');
    expect(detectFormat('[]', 'nodes.csv')).toBe('csv');
    expect(detectFormat('  [{}]')).toBe('json');
    expect(detectFormat('52:54:00:00:00:01,a')).toBe('csv');
  });
});

describe('validateNode', () => {
  const good = {
    macs: ['52-54-00-AA-BB-CC'],
    pm_user: 'u',
    pm_password: 'p',
    pm_address: '10.0.0.5:623',
    cpus: 2,
    memory_mb: 1024,
    local_gb: 10,
  };

  it('canonicalises MACs and BMC addresses and fills service_host', () => {
    const v = validateNode(good, 'cn1');
    expect(v).toEqual({
      ok: true,
      value: expect.objectContaining({ macs: ['52:54:00:aa:bb:cc'], pm_address: '10.0.0.5', service_host: 'cn1' }),
    });
    const w = validateNode({ ...good, pm_address: 'BMC-7.lab:6230' }, 'cn1');
    expect(w.ok && w.value.pm_address).toBe('BMC-7.lab:6230');
  });

  it.each([
    [{ macs: ['52:54:00:zz:00:01'] }, 'macs', /not a MAC address/],
    [{ macs: ['01:00:5e:00:00:01'] }, 'macs', /multicast/],
    [{ macs: [] }, 'macs', /at least one MAC/],
    [{ cpus: 0 }, 'cpus', /positive integer/],
    [{ memory_mb: -512 }, 'memory_mb', /positive integer/],
    [{ local_gb: '10GB' }, 'local_gb', /positive integer/],
    [{ cpus: 1.5 }, 'cpus', /positive integer/],
    [{ pm_address: '10.0.0.300' }, 'pm_address', /not an IP address or host name/],
    [{ pm_address: 'bmc_1' }, 'pm_address', /not an IP address or host name/],
    [{ pm_address: '10.0.0.1:99999' }, 'pm_address', /port '99999'/],
    [{ pm_address: '' }, 'pm_address', /required/],
    [{ terminal_port: 70000 }, 'terminal_port', /port number/],
    [{ cpu_arch: 'x86 64' }, 'cpu_arch', /must be a word/],
    [{ colour: 'red' }, 'colour', /not a known field/],
    [{ pm_password: 'p'.repeat(21) }, 'pm_password', /21 bytes: IPMI 2.0 takes at most 20/],
    [{ pm_password: 'ü'.repeat(11) }, 'pm_password', /22 bytes/],
    [{ pm_user: 'u'.repeat(17) }, 'pm_user', /17 bytes: IPMI 2.0 takes at most 16/],
  ])('rejects %j naming %s', (patch, field, message) => {
    const v = validateNode({ ...good, ...patch }, 'cn1');
    expect(v.ok).toBe(false);
    if (!v.ok)
      expect(v.problems).toContainEqual({
        field: expect.stringMatching(new RegExp(`^${field}`)),
        message: expect.stringMatching(message),
      });
  });
});
