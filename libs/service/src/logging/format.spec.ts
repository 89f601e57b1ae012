import { type LogRecord, formatJson, formatText } from './format';

const ORIGIN = { service: 'compute', host: 'cn-1', pid: 4242, dateFormat: '%Y-%m-%d %H:%M:%S' };
const ISO = '2025-03-05T14:07:09.042Z';
const REQ = 'req-3f2c8a9e-1b7d-4c55-9a0e-6f1d2b3c4d5e';
const NODE = '2eceb233-7703-424a-8ee9-a867e85901da';
const INSTANCE = '8c6e0a44-5b1d-4f0e-9d3c-1a2b3c4d5e6f';

function record(over: Partial<LogRecord> = {}): LogRecord {
  return { time: new Date(ISO), level: 'INFO', context: 'spawn', message: 'hello', ids: {}, ...over };
}

describe('formatJson (use_json)', () => {
  it('one object on one line: timestamp (ISO 8601 UTC), level, service, host, context, message, request_id, ids', () => {
    const line = formatJson(
      record({
        level: 'WARNING',
        message: 'node 3: deploy\nfailed "badly"',
        ids: { request_id: REQ, node_id: 3, node_uuid: NODE, instance_uuid: INSTANCE },
      }),
      ORIGIN,
    );
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    const o = JSON.parse(line) as Record<string, unknown>;
    expect(o).toEqual({
      timestamp: ISO,
      asctime: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/),
      level: 'WARNING',
      service: 'compute',
      host: 'cn-1',
      pid: 4242,
      context: 'spawn',
      request_id: REQ,
      node_id: 3,
      node_uuid: NODE,
      instance_uuid: INSTANCE,
      message: 'node 3: deploy\nfailed "badly"',
    });
  });

  it('request_id is null outside a request, node and instance ids are left out when unknown', () => {
    const o = JSON.parse(formatJson(record({ context: '' }), ORIGIN)) as Record<string, unknown>;
    expect(o.request_id).toBeNull();
    expect(o.context).toBe('compute');
    for (const key of ['node_id', 'node_uuid', 'instance_uuid', 'stack']) expect(o).not.toHaveProperty(key);
  });

  it("an error's stack goes with it; oslo's level names", () => {
    const e = new Error('boom');
    for (const level of ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const) {
      const o = JSON.parse(formatJson(record({ level, message: 'x', stack: e.stack }), ORIGIN)) as Record<
        string,
        unknown
      >;
      expect([o.level, o.stack]).toEqual([level, e.stack]);
    }
  });

  it('asctime follows log_date_format', () => {
    const o = JSON.parse(formatJson(record(), { ...ORIGIN, dateFormat: '%d/%b/%Y' })) as Record<string, unknown>;
    expect(o.asctime).toMatch(/^0[56]\/Mar\/2025$/); // 14:07 UTC on the 5th: the 5th or the 6th where the test runs
  });
});

describe('formatText', () => {
  const time = (d: Date) => {
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  };

  it("oslo's line: time (log_date_format, local) .ms, pid, level, context, [request] [node] [instance], message", () => {
    const ids = { request_id: REQ, node_id: 3, node_uuid: NODE, instance_uuid: INSTANCE };
    expect(formatText(record({ ids }), ORIGIN)).toBe(
      `${time(new Date(ISO))} 4242 INFO spawn [${REQ}] [node: 3] [instance: ${INSTANCE}] hello\n`,
    );
    expect(formatText(record({ context: '', level: 'DEBUG', ids: { node_uuid: NODE } }), ORIGIN)).toBe(
      `${time(new Date(ISO))} 4242 DEBUG compute [-] [node: ${NODE}] hello\n`,
    );
  });

  it('log_date_format decides the time', () => {
    expect(formatText(record(), { ...ORIGIN, dateFormat: '%H:%M:%S' })).toMatch(/^\d\d:\d\d:\d\d\.042 4242 INFO /);
  });

  it('no ANSI colour codes unless asked for (a terminal); then only around the level', () => {
    const plain = formatText(record({ level: 'ERROR' }), ORIGIN);
    expect(plain).not.toContain('\u001b');
    const coloured = formatText(record({ level: 'ERROR' }), ORIGIN, true);
    expect(coloured).toContain('\u001b[31mERROR\u001b[0m spawn');
  });

  it('what came from outside cannot forge a line nor drive a terminal; a stack follows, each line prefixed', () => {
    const forged = `power_on\n${time(new Date(ISO))} 4242 ERROR compute [-] forged\u001b[2J`;
    const e = new Error('boom');
    const out = formatText(
      record({ level: 'ERROR', message: `RPC ${forged}`, stack: e.stack, ids: { request_id: REQ } }),
      ORIGIN,
    );
    const lines = out.slice(0, -1).split('\n');
    expect(lines[0]).toContain('RPC power_on\\n');
    expect(lines[0]).toContain('forged\\x1b[2J');
    expect(out).not.toContain('\u001b');
    expect(lines.length).toBe(e.stack!.split('\n').length + 1);
    for (const line of lines) expect(line.startsWith(`${time(new Date(ISO))} 4242 ERROR spawn [${REQ}] `)).toBe(true);
    expect(lines[1]).toMatch(/ Error: boom$/);
  });
});
