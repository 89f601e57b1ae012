import {
  DEPLOY_CALLBACK_ANSWERS,
  DEPLOY_CALLBACK_CONTENT_TYPE,
  DEPLOY_CALLBACK_MAX_BYTES,
  callbackAnswer,
  keysMatch,
  parseDeployCallback,
} from '.';

const KEY = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345';
const UUID = '6f2a2e4c-3d1b-4c8e-9a51-0b7c2d9e8f10';
const FORM = 'application/x-www-form-urlencoded';
/** What busybox wget --post-data sends, written out by hand (no URLSearchParams). */
const WGET = `i=1&k=${KEY}&a=10.0.0.5&n=iqn-${UUID}&e=`;

const post = (body: string, contentType: string | undefined = FORM, maxBytes?: number) =>
  parseDeployCallback({ method: 'POST', contentType, body: Buffer.from(body, 'latin1'), maxBytes });

const base = { nodeId: 1, key: KEY, address: '10.0.0.5', port: 3260, iqn: `iqn-${UUID}`, lun: 1 };

/** A refusal, as the HTTP server would write it. */
const answer = (r: ReturnType<typeof post>) => (r.ok ? 'accepted' : `${r.status} ${r.body}`);

describe('parseDeployCallback: what the ramdisk sends', () => {
  it("accepts diskimage-builder's exact body (H: trailing empty e)", () => {
    expect(post(WGET)).toEqual({ ok: true, callback: base });
  });

  it('accepts the G body (no e) and no Content-Type at all, as Nova did', () => {
    expect(post(`i=1&k=${KEY}&a=10.0.0.5&n=iqn-${UUID}`, undefined)).toEqual({ ok: true, callback: base });
    expect(post(WGET, 'application/x-www-form-urlencoded; charset=UTF-8').ok).toBe(true);
  });

  it('reads p and l', () => {
    expect(post(`${WGET}&p=3261&l=2`)).toEqual({ ok: true, callback: { ...base, port: 3261, lun: 2 } });
  });

  it('decodes e: + is a space, %2E a dot, = and ; stay in it', () => {
    const r = post(`i=1&k=${KEY}&a=10.0.0.5&n=iqn-${UUID}&e=No+disk+found+in+%2Fproc%2Fpartitions%2E+a=b;c`);
    expect(r).toEqual({ ok: true, callback: { ...base, error: 'No disk found in /proc/partitions. a=b;c' } });
  });

  it('e: control characters become spaces, stray % stays, whitespace-only is no error', () => {
    expect(post(`${WGET}x%0Ay%zz%2`)).toMatchObject({ callback: { error: 'x y%zz%2' } });
    expect(post(`i=1&k=${KEY}&a=10.0.0.5&n=iqn-${UUID}&e=++`)).toEqual({ ok: true, callback: base });
  });

  it('accepts RFC 3720 names, encoded names and ignores unknown parameters', () => {
    const n = 'iqn.2010-10.org.openstack.baremetal:node-7';
    expect(post(`%69=1&k=${KEY}&a=10.0.0.5&n=${n}&x=1&x=2`)).toEqual({ ok: true, callback: { ...base, iqn: n } });
  });

  it('blank p and l take their defaults; p=65535 and l=0 are in range', () => {
    expect(post(`${WGET}&p=&l=`)).toEqual({ ok: true, callback: base });
    expect(post(`${WGET}&p=65535&l=0`)).toMatchObject({ ok: true, callback: { port: 65535, lun: 0 } });
  });
});

describe("parseDeployCallback: Nova's answers, byte for byte", () => {
  it.each(['GET', 'PUT', 'HEAD', 'DELETE', 'post'])('%s -> 501 Not Implemented', (method) => {
    const r = parseDeployCallback({ method, body: Buffer.from(WGET) });
    expect(r).toEqual({ ok: false, status: 501, body: 'Not Implemented' });
  });

  it.each([
    ['', "parameter ''i'' is not defined"],
    [`k=${KEY}&a=10.0.0.5&n=iqn-${UUID}`, "parameter ''i'' is not defined"],
    [`i=1&a=10.0.0.5&n=iqn-${UUID}`, "parameter ''k'' is not defined"],
    [`i=1&k=${KEY}&n=iqn-${UUID}`, "parameter ''a'' is not defined"],
    [`i=1&k=${KEY}&a=10.0.0.5&e=x`, "parameter ''n'' is not defined"],
    // The first missing in the order i, k, a, n, whatever the body's order.
    [`n=iqn-${UUID}&a=10.0.0.5`, "parameter ''i'' is not defined"],
    [`n=iqn-${UUID}&i=1`, "parameter ''k'' is not defined"],
    [`i=1&k=${KEY}`, "parameter ''a'' is not defined"],
    // A blank value is missing (parse_qsl's keep_blank_values=False); so is a bare name.
    [`i=&k=${KEY}&a=10.0.0.5&n=iqn-${UUID}`, "parameter ''i'' is not defined"],
    [`i=1&k&a=10.0.0.5&n=iqn-${UUID}`, "parameter ''k'' is not defined"],
  ])('%j -> 400 %s', (body, message) => {
    expect(post(body)).toEqual({ ok: false, status: 400, body: message });
  });

  it('a key that is not a deploy key -> 400 key is not match', () => {
    for (const k of ['abcdefghijklmnopqrstuvwxyz012345', `${KEY}X`, KEY.slice(1), 'ABC%20DEF']) {
      expect(post(`i=1&k=${k}&a=10.0.0.5&n=iqn-${UUID}`)).toEqual({ ok: false, status: 400, body: 'key is not match' });
    }
  });

  it('the constants are the exact strings', () => {
    expect(DEPLOY_CALLBACK_ANSWERS).toEqual({
      accepted: { status: 200, body: '' },
      notImplemented: { status: 501, body: 'Not Implemented' },
      keyMismatch: { status: 400, body: 'key is not match' },
    });
    expect(DEPLOY_CALLBACK_CONTENT_TYPE).toBe('text/plain');
    expect(callbackAnswer('missing_parameter', 'n')).toEqual({ status: 400, body: "parameter ''n'' is not defined" });
    expect(callbackAnswer('accepted')).toEqual({ status: 200, body: '' });
    expect(callbackAnswer('key_mismatch')).toEqual({ status: 400, body: 'key is not match' });
    expect(callbackAnswer('invalid_parameter', 'k')).toEqual({ status: 400, body: 'key is not match' });
  });
});

describe('parseDeployCallback: our answers', () => {
  it('413 for a body over maxBytes (default 4 KiB), counted in bytes', () => {
    const pad = (n: number) => `${WGET}&x=${'y'.repeat(n - WGET.length - 3)}`;
    expect(pad(4096)).toHaveLength(4096);
    expect(post(pad(4096)).ok).toBe(true);
    expect(post(pad(4097))).toEqual({ ok: false, status: 413, body: 'request body is larger than 4096 bytes' });
    expect(post(WGET, FORM, 64)).toEqual({ ok: false, status: 413, body: 'request body is larger than 64 bytes' });
    expect(DEPLOY_CALLBACK_MAX_BYTES).toBe(4096);
    // Oversized beats everything but the method.
    expect(answer(post('z'.repeat(5000), 'text/plain'))).toMatch(/^413 /);
    expect(answer(parseDeployCallback({ method: 'GET', body: Buffer.alloc(5000) }))).toBe('501 Not Implemented');
  });

  it('415 for a Content-Type that is not a form', () => {
    for (const t of ['application/json', 'text/plain', 'multipart/form-data; boundary=x']) {
      expect(post(WGET, t)).toEqual({
        ok: false,
        status: 415,
        body: 'content type must be application/x-www-form-urlencoded',
      });
    }
    expect(post(WGET, 'Application/X-WWW-Form-URLEncoded').ok).toBe(true);
  });

  it.each([
    [`${WGET}&i=2`, 'i'],
    [`k=${KEY}&${WGET}`, 'k'],
    [`${WGET}&e=again`, 'e'],
    [`${WGET}&p=1&p=2`, 'p'],
    [`${WGET}&l=1&l=`, 'l'],
    // Duplicates are seen before missing ones, and named in the order i k a n p l e.
    [`n=iqn-${UUID}&n=iqn-${UUID}&a=1.2.3.4&a=1.2.3.4`, 'a'],
  ])('%j -> 400 duplicated %s', (body, name) => {
    expect(post(body)).toEqual({ ok: false, status: 400, body: `parameter '${name}' is defined more than once` });
  });

  const NODE = "parameter 'i' must be a positive integer up to 2147483647";
  const ADDR = "parameter 'a' must be a unicast IPv4 address";
  const IQN = "parameter 'n' must be an iSCSI qualified name (iqn.yyyy-mm.domain[:name] or iqn-<uuid>)";
  const PORT = "parameter 'p' must be a port number from 1 to 65535";
  const LUN = "parameter 'l' must be a LUN from 0 to 255";
  const body = (o: Record<string, string>) =>
    Object.entries({ i: '1', k: KEY, a: '10.0.0.5', n: `iqn-${UUID}`, ...o })
      .map(([k, v]) => `${k}=${v}`)
      .join('&');

  it.each([
    ...['0', '-1', '+1', '01', '1.0', '1e3', 'abc', '+', '2147483648', '99999999999999999999'].map((v) => [
      'i',
      v,
      NODE,
    ]),
    ...['10.0.0', '10.0.0.5.6', '10.0.0.256', '010.0.0.5', '0.0.0.0', '127.0.0.1', '224.0.0.1', '255.255.255.255']
      .concat(['::1', 'example.com', '10.0.0.5%20'])
      .map((v) => ['a', v, ADDR]),
    ...['iqn', 'iqn-', `IQN-${UUID}`, `iqn-${UUID.toUpperCase()}`, `iqn-${UUID}x`, 'iqn.2010-13.org.x', 'iqn.10-10.org']
      .concat(['iqn.2010-10.Org.x', 'iqn.2010-10.org.x:a/b', 'iqn.2010-10.org.x:a%20b', 'eui.02004567A425678D'])
      .concat([`iqn.2010-10.org.x:${'a'.repeat(220)}`, `iqn-${UUID};reboot`])
      .map((v) => ['n', v, IQN]),
    ...['0', '65536', '-1', '03260', '32 60', 'http'].map((v) => ['p', v, PORT]),
    ...['256', '-1', '01', 'x'].map((v) => ['l', v, LUN]),
  ])('%s=%j -> 400', (name, value, message) => {
    expect(post(body({ [name]: value }))).toEqual({ ok: false, status: 400, body: message });
  });

  it('values are checked in the order i k a n p l', () => {
    const bad = { i: 'x', k: 'x', a: 'x', n: 'x', p: 'x', l: 'x' };
    expect(answer(post(body(bad)))).toBe(`400 ${NODE}`);
    expect(answer(post(body({ ...bad, i: '1' })))).toBe('400 key is not match');
    expect(answer(post(body({ ...bad, i: '1', k: KEY })))).toBe(`400 ${ADDR}`);
    expect(answer(post(body({ ...bad, i: '1', k: KEY, a: '10.0.0.5' })))).toBe(`400 ${IQN}`);
    expect(answer(post(body({ i: '1', p: 'x', l: 'x' })))).toBe(`400 ${PORT}`);
    expect(answer(post(body({ i: '1', l: 'x' })))).toBe(`400 ${LUN}`);
  });

  it('callbackAnswer spells every answer of ours', () => {
    expect(callbackAnswer('duplicate_parameter', 'i')).toEqual({
      status: 400,
      body: "parameter 'i' is defined more than once",
    });
    expect(callbackAnswer('invalid_parameter', 'p')).toEqual({ status: 400, body: PORT });
    expect(callbackAnswer('too_large')).toEqual({ status: 413, body: 'request body is larger than 4096 bytes' });
    expect(callbackAnswer('not_implemented')).toEqual({ status: 501, body: 'Not Implemented' });
  });
});

describe('keysMatch', () => {
  it.each([
    [KEY, KEY, true],
    [KEY, `${KEY.slice(0, 31)}6`, false],
    [KEY, `6${KEY.slice(1)}`, false],
    [KEY, KEY.toLowerCase(), false],
    [KEY, KEY.slice(1), false],
    [KEY, `${KEY}A`, false],
    [KEY, '', false],
    [null, KEY, false],
    [null, '', false],
    ['', '', false],
    ['', KEY, false],
  ] as Array<[string | null, string, boolean]>)('keysMatch(%j, %j) is %s', (expected, given, result) => {
    expect(() => keysMatch(expected, given)).not.toThrow();
    expect(keysMatch(expected, given)).toBe(result);
  });

  it('does not throw on multi-byte or non-string input', () => {
    expect(keysMatch('é', 'e')).toBe(false);
    expect(keysMatch(KEY, undefined as unknown as string)).toBe(false);
  });
});
