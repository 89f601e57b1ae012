import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeUdpPort, ipmitool } from '../../../test/peers/ipmi/harness';
import { BMCTL, ROOT, bmctl, requireBuilt } from '../../../test/support/bmctl';
import { eventually } from '../../../test/support/amqp';

// `bmctl vbmc start` (our virtual BMC in the foreground) driven by the real ipmitool and by
// `bmctl ipmi` (our native client).
const PASSWORD = 'lab-bmc-pw';

describe('bmctl vbmc start + bmctl ipmi', () => {
  let vbmc: ChildProcess;
  let events = '';
  let port: number;
  let pwFile: string;
  const exited = () => new Promise<number | null>((r) => vbmc.on('exit', (code) => r(code)));

  beforeAll(async () => {
    requireBuilt();
    port = await freeUdpPort();
    pwFile = join(mkdtempSync(join(tmpdir(), 'vbmc-')), 'pw');
    writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    vbmc = spawn(
      BMCTL,
      ['vbmc', 'start', '--port', String(port), '--user', 'admin', '--password-file', pwFile, '--power', 'off'],
      { cwd: ROOT, env: { PATH: process.env.PATH! } },
    );
    vbmc.stdout!.on('data', (d) => (events += d));
    await eventually(() => expect(events).toContain(`virtual BMC listening on 127.0.0.1:${port}`), 10_000, 100);
  });
  afterAll(() => {
    vbmc?.kill('SIGKILL');
  });

  const ours = (...a: string[]) =>
    bmctl(['ipmi', '--address', `127.0.0.1:${port}`, '--user', 'admin', '--password-file', pwFile, ...a]);

  it('ipmitool drives it: power on, bootdev pxe, status', async () => {
    expect((await ipmitool(['chassis', 'power', 'on'], { port, password: PASSWORD })).code).toBe(0);
    expect((await ipmitool(['chassis', 'bootdev', 'pxe'], { port, password: PASSWORD })).code).toBe(0);
    expect((await ipmitool(['chassis', 'power', 'status'], { port, password: PASSWORD })).stdout.trim()).toBe(
      'Chassis Power is on',
    );
    await eventually(() => expect(events).toMatch(/"action":"on".*\n.*"device":"pxe"/), 3000);
  });

  it('bmctl ipmi: power, bootdev, mc info, --json', async () => {
    expect((await ours('power', 'off')).out).toBe('Chassis Power Control: off\nChassis Power is off\n');
    expect(JSON.parse((await ours('--json', 'power', 'status')).out)).toEqual({ power: 'off' });
    expect((await ours('bootdev', 'disk', '--persistent', '--efi')).out.trim()).toBe(
      'Boot device is disk (persistent), EFI',
    );
    expect((await ours('mc', 'info')).out).toMatch(/ipmiVersion\s+│ 2\.0/);
  });

  it('wrong password exits 1, unreachable BMC exits 4, bad action exits 64', async () => {
    const wrongFile = `${pwFile}.wrong`;
    writeFileSync(wrongFile, 'nope', { mode: 0o600 });
    const wrong = await bmctl([
      'ipmi',
      '--address',
      `127.0.0.1:${port}`,
      '--user',
      'admin',
      '--password-file',
      wrongFile,
      'power',
      'status',
    ]);
    expect([wrong.code, wrong.err.trim()]).toEqual([
      1,
      `bmctl: BmcAuthenticationFailed: BMC 127.0.0.1:${port}: wrong password for user 'admin'`,
    ]);
    const dead = await bmctl([
      'ipmi',
      '--address',
      '127.0.0.1:9',
      '--user',
      'admin',
      '--password-file',
      pwFile,
      '--timeout',
      '1',
      'power',
      'status',
    ]);
    expect([dead.code, dead.err]).toEqual([4, expect.stringContaining('BmcUnreachable: BMC 127.0.0.1:9: no answer')]);
    expect((await ours('power', 'frob')).code).toBe(64);
  });

  it('stops cleanly on SIGTERM', async () => {
    const done = exited();
    vbmc.kill('SIGTERM');
    expect(await done).toBe(0);
  });
});
