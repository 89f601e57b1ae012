import { formatBmcAddress, ImportRejected, macProblem, normalizeMac, parseBmcAddress } from '.';

describe('normalizeMac', () => {
  it.each([
    ['52:54:00:AB:cd:01', '52:54:00:ab:cd:01'],
    ['52-54-00-ab-cd-01', '52:54:00:ab:cd:01'],
    ['525400abcd01', '52:54:00:ab:cd:01'],
    [' 52:54:00:ab:cd:01 ', '52:54:00:ab:cd:01'],
  ])('%s → %s', (input, want) => expect(normalizeMac(input)).toBe(want));

  it.each(['52:54:00:ab:cd', '52:54:00-ab:cd:01', 'gg:54:00:ab:cd:01', '03:00:00:00:00:01', ''])(
    'rejects %j',
    (input) => {
      expect(normalizeMac(input)).toBeUndefined();
      expect(macProblem(input)).toBeDefined();
    },
  );
});

describe('parseBmcAddress', () => {
  it.each([
    ['10.0.0.5', { host: '10.0.0.5', port: 623 }],
    ['10.0.0.5:6230', { host: '10.0.0.5', port: 6230 }],
    ['bmc-01.rack3.example', { host: 'bmc-01.rack3.example', port: 623 }],
    ['[fd00::5]:6231', { host: 'fd00::5', port: 6231 }],
    ['[fd00::5]', { host: 'fd00::5', port: 623 }],
  ])('%s', (input, want) => {
    expect(parseBmcAddress(input)).toEqual(want);
    expect(formatBmcAddress(want)).toBe(input.replace(/:623$/, ''));
  });

  it.each(['', '10.0.0', '10.0.0.256', 'fd00::5', 'host:0', 'host:x', '-bad.host', '[zz::1]'])(
    'rejects %j',
    (input) => {
      expect(typeof parseBmcAddress(input)).toBe('string');
    },
  );
});

describe('ImportRejected', () => {
  it('lists every problem with its line and counts rows', () => {
    const e = new ImportRejected('nodes.csv', [
      { line: 3, field: 'mac', message: 'bad' },
      { line: 3, field: 'cpus', message: 'bad' },
      { line: 5, field: 'mac', message: 'dup' },
    ]);
    expect(e.message).toBe(
      'nodes.csv: rejected, nothing was enrolled (2 bad rows):\n  line 3: mac: bad\n  line 3: cpus: bad\n  line 5: mac: dup',
    );
  });
});
