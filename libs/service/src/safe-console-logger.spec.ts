import { Logger } from '@nestjs/common';
import { SafeConsoleLogger } from './safe-console-logger';

describe('SafeConsoleLogger', () => {
  const written: string[] = [];
  let spy: jest.SpyInstance;
  beforeEach(() => {
    written.length = 0;
    spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
  });
  afterEach(() => spy.mockRestore());

  it('a method name with a newline and an ANSI escape stays on its one line, escaped', () => {
    const method = 'power_on\n[Nest] 1  - 12/07/2026, 5:00:00 PM   ERROR [compute] forged\u001b[2J';
    new SafeConsoleLogger({ colors: false }).warn(`RPC ${method}: NoSuchMethod`, 'power');
    Logger.overrideLogger(new SafeConsoleLogger({ colors: false }));
    new Logger('rpc').warn(`RPC ${method}: dropped`); // what the services' Logger instances use
    Logger.overrideLogger(new SafeConsoleLogger());
    expect(written).toHaveLength(2);
    for (const line of written) {
      expect(line.split('\n')).toHaveLength(2); // its text, then the final newline
      expect(line).not.toContain('\u001b');
      expect(line).toContain('power_on\\n[Nest] 1');
      expect(line).toContain('forged\\x1b[2J');
    }
  });
});
