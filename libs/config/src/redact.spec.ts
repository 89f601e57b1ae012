import { redactUrl } from './redact';

describe('redactUrl', () => {
  it.each([
    ['postgresql://nova_bm:password@192.168.198.10/nova_bm', 'postgresql://nova_bm:****@192.168.198.10/nova_bm'],
    ['rabbit://guest:guest@127.0.0.1:5672/', 'rabbit://guest:****@127.0.0.1:5672/'],
    // Not a valid URL at all: still redacted textually.
    ['mysql://$ID:$Password@$IP/nova_bm', 'mysql://$ID:****@$IP/nova_bm'],
    // Unencoded '/', '@' and '#' in the password.
    ['postgresql://u:pa/ss@h/db', 'postgresql://u:****@h/db'],
    ['postgresql://u:p@ss@h/db', 'postgresql://u:****@h/db'],
    ['postgresql://u:p#w@h/db', 'postgresql://u:****@h/db'],
    [
      'postgresql://h/db?user=u&password=secret&sslmode=require',
      'postgresql://h/db?user=u&password=****&sslmode=require',
    ],
  ])('%s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });

  it.each(['postgresql://postgres@127.0.0.1:5432/nova_bm', 'rabbit://host/', 'not a url', '/tftpboot', ''])(
    'leaves %p alone',
    (input) => {
      expect(redactUrl(input)).toBe(input);
    },
  );
});
