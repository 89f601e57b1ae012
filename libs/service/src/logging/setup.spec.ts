import { mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LoggingOptions, logFilePath, openServiceLogging } from './setup';
import { FileSink, LogFileError, StreamSink } from './sinks';
import type { LogRecord } from './format';

const OPTIONS: LoggingOptions = {
  debug: false,
  host: 'cn-1',
  log_file: '',
  log_dir: '',
  use_json: false,
  use_syslog: false,
  syslog_log_facility: 'LOG_USER',
  log_date_format: '%Y-%m-%d %H:%M:%S',
  use_stderr: false,
};

function record(message: string, level: LogRecord['level'] = 'INFO'): LogRecord {
  return { time: new Date(), level, context: 'test', message, ids: { request_id: 'req-1' } };
}

/** A stream double: what was written, and whether it says it is a terminal. */
function stream(isTTY = false) {
  const lines: string[] = [];
  return { lines, isTTY, write: (s: string) => void lines.push(s) };
}

describe('logFilePath (oslo.log _get_log_file_path)', () => {
  it.each([
    [{ log_file: '', log_dir: '' }, undefined],
    [{ log_file: 'nova.log', log_dir: '/var/log/nova' }, '/var/log/nova/nova.log'],
    [{ log_file: '/elsewhere/a.log', log_dir: '/var/log/nova' }, '/elsewhere/a.log'],
    [{ log_file: 'logs/a.log', log_dir: '' }, '/srv/nova/logs/a.log'],
    [{ log_file: '', log_dir: '/var/log/nova' }, '/var/log/nova/power.log'],
  ])('%j → %s', (o, expected) => {
    expect(logFilePath('power', o, '/srv/nova')).toBe(expected);
  });
});

describe('openServiceLogging', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bm-log-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('without a file: the console, INFO to stdout and ERROR to stderr, coloured only on a terminal', async () => {
    const [out, err] = [stream(true), stream(false)];
    const logging = await openServiceLogging('power', OPTIONS, { stdout: out, stderr: err });
    expect(logging.file).toBeUndefined();
    expect(logging.levels).not.toContain('debug');
    for (const sink of logging.sinks) {
      sink.write(record('fine'));
      sink.write(record('broken', 'ERROR'));
    }
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toContain('\u001b[32mINFO\u001b[0m test [req-1] fine');
    expect(err.lines).toHaveLength(1);
    expect(err.lines[0]).not.toContain('\u001b');
    expect(err.lines[0]).toContain(' ERROR test [req-1] broken');
  });

  it('log_dir alone: <log_dir>/<service>.log, JSON lines with use_json; nothing on the console', async () => {
    const [out, err] = [stream(), stream()];
    const o = { ...OPTIONS, log_dir: dir, use_json: true, debug: true };
    const logging = await openServiceLogging('power', o, { stdout: out, stderr: err, pid: 77 });
    expect(logging.file).toBe(join(dir, 'power.log'));
    expect(logging.levels).toContain('debug');
    for (const sink of logging.sinks) {
      sink.write(record('one'));
      sink.write(record('two', 'ERROR'));
    }
    await logging.close();
    const lines = readFileSync(join(dir, 'power.log'), 'utf8').trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({
        service: 'power',
        host: 'cn-1',
        pid: 77,
        level: 'INFO',
        message: 'one',
        request_id: 'req-1',
      }),
      expect.objectContaining({ level: 'ERROR', message: 'two' }),
    ]);
    expect([out.lines, err.lines]).toEqual([[], []]);
  });

  it('use_stderr: every line on stderr too, with a file or without', async () => {
    const [out, err] = [stream(), stream()];
    const withFile = await openServiceLogging(
      'compute',
      { ...OPTIONS, log_file: 'c.log', log_dir: dir, use_stderr: true },
      { stdout: out, stderr: err },
    );
    for (const sink of withFile.sinks) sink.write(record('both'));
    await withFile.close();
    expect(readFileSync(join(dir, 'c.log'), 'utf8')).toContain('both');
    const alone = await openServiceLogging('compute', { ...OPTIONS, use_stderr: true }, { stdout: out, stderr: err });
    for (const sink of alone.sinks) sink.write(record('stderr only'));
    expect(out.lines).toEqual([]);
    expect(err.lines.map((l) => l.replace(/^.* test \[req-1\] /, ''))).toEqual(['both\n', 'stderr only\n']);
  });

  it('a log file that cannot be opened is an error naming it', async () => {
    await expect(openServiceLogging('power', { ...OPTIONS, log_dir: join(dir, 'missing') })).rejects.toThrow(
      new LogFileError(
        `cannot open the log file ${join(dir, 'missing', 'power.log')}: ENOENT: no such file or directory, open '${join(dir, 'missing', 'power.log')}'`,
      ),
    );
  });
});

describe('FileSink', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bm-log-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const format = (r: LogRecord) => `${r.message}\n`;

  it('appends, and reopens the file once logrotate moved it or it was removed (WatchedFileHandler)', async () => {
    const path = join(dir, 'a.log');
    const sink = new FileSink(path, format, { checkMs: 0 });
    sink.write(record('1'));
    renameSync(path, `${path}.1`);
    sink.write(record('2'));
    unlinkSync(path);
    sink.write(record('3'));
    await sink.close();
    sink.write(record('after close'));
    expect(readFileSync(`${path}.1`, 'utf8')).toBe('1\n');
    expect(readFileSync(path, 'utf8')).toBe('3\n');
  });

  it('appends to what is there', async () => {
    const path = join(dir, 'b.log');
    for (const text of ['x', 'y']) {
      const sink = new FileSink(path, format);
      sink.write(record(text));
      await sink.close();
    }
    expect(readFileSync(path, 'utf8')).toBe('x\ny\n');
  });
});

describe('StreamSink', () => {
  it("'stderr' routes every level to stderr", () => {
    const [out, err] = [stream(), stream()];
    const sink = new StreamSink((r) => `${r.level}\n`, { out, err }, 'stderr');
    sink.write(record('a', 'DEBUG'));
    sink.write(record('b', 'CRITICAL'));
    expect([out.lines, err.lines]).toEqual([[], ['DEBUG\n', 'CRITICAL\n']]);
  });
});
