import { Logger } from '@nestjs/common';
import { inRequest, withLogContext } from '@bm/core';
import type { LogRecord } from './logging/format';
import type { LogSink } from './logging/sinks';
import { SafeConsoleLogger } from './safe-console-logger';

/** A sink that keeps the records. */
function recorder(): LogSink & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  return { records, write: (r) => void records.push(r), close: async () => undefined };
}

describe('SafeConsoleLogger', () => {
  afterEach(() => Logger.overrideLogger(new SafeConsoleLogger()));

  it("turns every Nest logger call into one record: oslo's level, the context, the ids of the request running", async () => {
    const sink = recorder();
    Logger.overrideLogger(new SafeConsoleLogger({ sinks: [sink], logLevels: ['debug', 'log', 'warn', 'error'] }));
    const log = new Logger('spawn');
    log.log('outside');
    await inRequest(async () => {
      await Promise.resolve();
      withLogContext({ node_id: 3, instance_uuid: 'i-1' }, () => log.warn('inside'));
      log.debug('debug');
      log.error('failed', new Error('boom').stack);
    }, 'req-1');
    log.verbose('not enabled');
    expect(sink.records.map((r) => [r.level, r.context, r.message, r.ids])).toEqual([
      ['INFO', 'spawn', 'outside', {}],
      ['WARNING', 'spawn', 'inside', { request_id: 'req-1', node_id: 3, instance_uuid: 'i-1' }],
      ['DEBUG', 'spawn', 'debug', { request_id: 'req-1' }],
      ['ERROR', 'spawn', 'failed', { request_id: 'req-1' }],
    ]);
    expect(sink.records[3].stack).toMatch(/^Error: boom\n\s+at /);
  });

  it('an Error logged as the message keeps its stack; objects are inspected on one line', () => {
    const sink = recorder();
    const logger = new SafeConsoleLogger({ sinks: [sink] });
    logger.error(new TypeError('bad'), 'rpc');
    logger.log({ a: 1, b: [1, 2] }, 'rpc');
    expect(sink.records[0]).toMatchObject({ level: 'ERROR', message: 'TypeError: bad', context: 'rpc' });
    expect(sink.records[0].stack).toContain('TypeError: bad');
    expect(sink.records[1].message).toBe('{ a: 1, b: [ 1, 2 ] }');
  });

  it('without sinks: text on stdout (errors on stderr), a forged line escaped, no ANSI escape off a terminal', () => {
    const written: Record<'stdout' | 'stderr', string[]> = { stdout: [], stderr: [] };
    const spies = (['stdout', 'stderr'] as const).map((name) =>
      jest.spyOn(process[name], 'write').mockImplementation((chunk: string | Uint8Array) => {
        written[name].push(String(chunk));
        return true;
      }),
    );
    const tty = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
    Object.defineProperty(process.stdout, 'isTTY', { value: false, configurable: true });
    try {
      const method = 'power_on\n2026-12-07 17:00:00.000 1 ERROR compute [-] forged\u001b[2J';
      Logger.overrideLogger(new SafeConsoleLogger());
      new Logger('rpc').warn(`RPC ${method}: dropped`);
      new Logger('rpc').error('failed');
    } finally {
      for (const spy of spies) spy.mockRestore();
      if (tty) Object.defineProperty(process.stdout, 'isTTY', tty);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    }
    expect(written.stdout).toHaveLength(1);
    expect(written.stderr).toHaveLength(1);
    const line = written.stdout[0];
    expect(line.split('\n')).toHaveLength(2); // its text, then the final newline
    expect(line).not.toContain('\u001b');
    expect(line).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \d+ WARNING rpc \[-\] RPC power_on\\n2026/);
    expect(line).toContain('forged\\x1b[2J');
    expect(written.stderr[0]).toMatch(/ ERROR rpc \[-\] failed\n$/);
  });
});
