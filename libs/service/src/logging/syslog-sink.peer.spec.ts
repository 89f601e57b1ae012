/**
 * Peer test: SyslogSink through util-linux's real `logger` to a syslog socket of our own, an
 * AF_UNIX datagram socket made by Python (what /dev/log is; Node cannot bind one).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CommandRunner } from '@bm/exec';
import { type LogRecord, lineFormatter } from './format';
import { SyslogSink, syslogPriority } from './syslog-sink';

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('READY', flush=True)
while True:
    print(json.dumps(s.recv(1 << 17).decode('utf-8', 'replace')), flush=True)
`;

/** A syslog daemon stand-in: every datagram received on `path`, in order. */
class Receiver {
  readonly datagrams: string[] = [];
  private constructor(private readonly proc: ChildProcess) {}

  static async start(path: string): Promise<Receiver> {
    const proc = spawn('/usr/bin/python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const r = new Receiver(proc);
    await new Promise<void>((ready, failed) => {
      proc.once('exit', (code) => failed(new Error(`receiver exited (${code})`)));
      createInterface({ input: proc.stdout! }).on('line', (line) =>
        line === 'READY' ? ready() : r.datagrams.push(JSON.parse(line) as string),
      );
    });
    return r;
  }

  async until(n: number, ms = 10_000): Promise<string[]> {
    const end = Date.now() + ms;
    while (this.datagrams.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.datagrams;
  }

  stop(): void {
    this.proc.kill('SIGKILL');
  }
}

const ORIGIN = { service: 'power', host: 'cn-1', pid: 4242, dateFormat: '%Y-%m-%d %H:%M:%S' };

function record(level: LogRecord['level'], message: string, stack?: string): LogRecord {
  return { time: new Date(), level, context: 'power-sync', message, stack, ids: { request_id: 'req-9', node_id: 3 } };
}

describe('SyslogSink with util-linux logger', () => {
  let dir: string;
  let receiver: Receiver | undefined;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bm-syslog-'))));
  afterEach(() => {
    receiver?.stop();
    receiver = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('one datagram per line, its priority from the facility and the level, tagged with the service and pid', async () => {
    const socket = join(dir, 'log');
    receiver = await Receiver.start(socket);
    const sink = new SyslogSink(lineFormatter(ORIGIN, true), {
      runner: new CommandRunner(),
      facility: 'LOG_LOCAL0',
      tag: 'power',
      pid: 4242,
      socket,
    });
    await sink.start();
    const e = new Error('BMC gone');
    sink.write(record('INFO', 'node 3: power on'));
    sink.write(record('WARNING', 'slow'));
    sink.write(record('ERROR', 'failed', e.stack));
    sink.write(record('DEBUG', 'detail'));
    await sink.close();
    const got = await receiver.until(4);
    expect(got.map((d) => d.slice(0, d.indexOf('>') + 1))).toEqual(['<134>', '<132>', '<131>', '<135>']);
    expect([syslogPriority(16, 'INFO'), syslogPriority(1, 'ERROR')]).toEqual([134, 11]);
    for (const d of got) {
      // RFC 3164 as logger sends it to a local socket: <PRI>Mmm dd hh:mm:ss power[4242]: <our JSON line>
      const m = /^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d power\[4242\]: (.*)$/s.exec(d);
      expect(m).not.toBeNull();
      const line = JSON.parse(m![1]) as Record<string, unknown>;
      expect(line).toMatchObject({ service: 'power', host: 'cn-1', request_id: 'req-9', node_id: 3 });
    }
    expect(JSON.parse(got[2].slice(got[2].indexOf(': ') + 2))).toMatchObject({ message: 'failed', stack: e.stack });
  });

  it('a text line with a stack is one message; with no socket yet, logger is started again and the lines wait for it', async () => {
    const socket = join(dir, 'later');
    const complaints: string[] = [];
    const sink = new SyslogSink(lineFormatter(ORIGIN, false), {
      runner: new CommandRunner(),
      facility: 'LOG_DAEMON',
      tag: 'power',
      pid: 4242,
      socket,
      stderr: { write: (s: string) => complaints.push(s) },
      restartMs: 300,
    });
    await sink.start();
    const end = Date.now() + 10_000;
    while (!complaints.some((c) => c.includes('logger exited')) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    expect(complaints[0]).toMatch(/^syslog: logger exited \(1\); starting it again in 300 ms/);
    receiver = await Receiver.start(socket);
    sink.write(record('ERROR', 'queued while logger was down', 'Error: x\n    at y (z.js:1:2)'));
    const got = await receiver.until(1);
    await sink.close();
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(
      /^<27>.* power\[4242\]: .* ERROR power-sync \[req-9\] \[node: 3\] queued while logger was down \| .* Error: x \| /,
    );
  });
});
