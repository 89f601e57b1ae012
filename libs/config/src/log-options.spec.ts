import { ConfigError } from './issues';
import { loadConfigFromText } from './load';

// oslo.log's [DEFAULT] options: their values, their environment variables, and what is refused.
function problemsOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    loadConfigFromText(text, { file: 'nova.conf', env });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(String);
    throw e;
  }
  return [];
}

describe("[DEFAULT] logging options (oslo.log's)", () => {
  it("default to oslo's: no file, text, no syslog (LOG_USER), %Y-%m-%d %H:%M:%S, stdout", () => {
    expect(loadConfigFromText('', { env: {} }).default).toMatchObject({
      debug: false,
      log_file: '',
      log_dir: '',
      use_json: false,
      use_syslog: false,
      syslog_log_facility: 'LOG_USER',
      log_date_format: '%Y-%m-%d %H:%M:%S',
      use_stderr: false,
    });
  });

  it('are read from the file, and the environment (BM_<NAME>) wins', () => {
    const text = [
      '[DEFAULT]',
      'log_dir = /var/log/nova-bm',
      'log_file = compute.log',
      'use_json = true',
      'use_syslog = True',
      'syslog_log_facility = local3',
      'log_date_format = %d/%b/%Y:%H:%M:%S %z',
      'use_stderr = yes',
    ].join('\n');
    expect(loadConfigFromText(text, { env: {} }).default).toMatchObject({
      log_dir: '/var/log/nova-bm',
      log_file: 'compute.log',
      use_json: true,
      use_syslog: true,
      syslog_log_facility: 'LOG_LOCAL3',
      log_date_format: '%d/%b/%Y:%H:%M:%S %z',
      use_stderr: true,
    });
    const env = {
      BM_LOG_DIR: '/tmp/logs',
      BM_LOG_FILE: '',
      BM_USE_JSON: 'false',
      BM_SYSLOG_LOG_FACILITY: 'LOG_DAEMON',
      BM_LOG_DATE_FORMAT: '%H:%M:%S',
    };
    expect(loadConfigFromText(text, { env }).default).toMatchObject({
      log_dir: '/tmp/logs',
      log_file: 'compute.log', // an empty variable counts as unset
      use_json: false,
      syslog_log_facility: 'LOG_DAEMON',
      log_date_format: '%H:%M:%S',
    });
  });

  it.each([
    [
      'syslog_log_facility = LOG_LOCAL9',
      "syslog_log_facility: 'LOG_LOCAL9' is not a syslog facility: use one of LOG_KERN",
    ],
    ['log_date_format = %Y-%Q', "log_date_format: '%Y-%Q': %Q is not supported (supported: %Y"],
    ['log_date_format = %H %', "log_date_format: '%H %': ends with a lone %"],
    ['log_dir = logs', "log_dir: 'logs' is not an absolute path"],
    ['use_json = sometimes', "use_json: 'sometimes' is not a boolean"],
  ])('refuses %s', (line, message) => {
    expect(problemsOf(`[DEFAULT]\n${line}\n`).join('\n')).toContain(message);
  });

  it('refuses a log_date_format with a control character from the environment, naming the variable', () => {
    expect(problemsOf('', { BM_LOG_DATE_FORMAT: '%H\u001b[2J' }).join('\n')).toMatch(
      /BM_LOG_DATE_FORMAT.*must not contain control characters/,
    );
  });
});
