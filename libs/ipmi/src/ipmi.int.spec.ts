import { createSocket } from 'node:dgram';
import { ManualClock } from '@bm/core';
import { UdpProxy } from '../../../test/support/udp-proxy';
import {
  BmcAuthenticationFailed,
  BmcUnreachable,
  IpmiClient,
  SimulatedMachine,
  VirtualBmc,
  type BmcCredentials,
  encodeRequest,
  encodeV15,
  encodeV20,
  PayloadType,
} from '.';

// Our client against our virtual BMC over real UDP on loopback, including a relay that loses,
// delays and corrupts datagrams.
const USER = 'admin';
const PASSWORD = 'S3cret-pw';

async function bmc(users: Record<string, string> = { [USER]: PASSWORD }) {
  const machine = new SimulatedMachine();
  const b = new VirtualBmc({ port: 0, users, machine });
  await b.start();
  return { b, machine, creds: { host: '127.0.0.1', port: b.port, user: USER, password: PASSWORD } as BmcCredentials };
}

async function elapsed<T>(p: Promise<T>): Promise<[T | Error, number]> {
  const t = Date.now();
  const r = await p.catch((e: Error) => e);
  return [r, Date.now() - t];
}

describe('IpmiClient ↔ VirtualBmc', () => {
  let client: IpmiClient;
  const started: VirtualBmc[] = [];
  const proxies: UdpProxy[] = [];
  const start = async (...a: Parameters<typeof bmc>) => {
    const x = await bmc(...a);
    started.push(x.b);
    return x;
  };

  beforeEach(() => {
    client = new IpmiClient({ deadlineMs: 3000, retryMs: 100 });
  });
  afterEach(async () => {
    await client.close();
    for (const b of started.splice(0)) await b.stop();
    for (const p of proxies.splice(0)) await p.stop();
  });

  it('power status, on, off, cycle, reset, soft; boot device; device id', async () => {
    const { creds, machine } = await start();
    expect((await client.powerStatus(creds)).powerOn).toBe(false);
    await client.power(creds, 'on');
    expect((await client.powerStatus(creds)).powerOn).toBe(true);
    await client.power(creds, 'soft');
    expect((await client.powerStatus(creds)).powerOn).toBe(false);
    await client.power(creds, 'cycle');
    await client.power(creds, 'reset');
    await client.power(creds, 'off');
    expect(machine.events.map((e) => [e.action, e.after])).toEqual([
      ['on', 'on'],
      ['soft', 'off'],
      ['cycle', 'on'],
      ['reset', 'on'],
      ['off', 'off'],
    ]);
    await client.setBootDevice(creds, 'pxe');
    expect(await client.getBootDevice(creds)).toEqual({ device: 'pxe', persistent: false, efi: false, valid: true });
    await client.setBootDevice(creds, 'disk', { persistent: true, efi: true });
    expect(machine.getBootFlags()).toEqual({ device: 'disk', persistent: true, efi: true, valid: true });
    expect(await client.deviceId(creds)).toMatchObject({ ipmiVersion: '2.0', productId: 0x6e62 });
  });

  it('negotiates cipher suite 17 when both offer it, 3 otherwise, and never less', async () => {
    const { creds } = await start();
    await client.powerStatus(creds);
    expect(client.sessionSuite(creds)).toBe(17);
    const only3 = new IpmiClient({ cipherSuites: [3] });
    const old = new VirtualBmc({
      port: 0,
      users: { [USER]: PASSWORD },
      machine: new SimulatedMachine(),
      cipherSuites: [3],
    });
    await old.start();
    started.push(old);
    const oldCreds = { ...creds, port: old.port };
    try {
      await only3.powerStatus(creds);
      expect(only3.sessionSuite(creds)).toBe(3);
      await client.powerStatus(oldCreds); // proposes 17, refused, then 3
      expect(client.sessionSuite(oldCreds)).toBe(3);
      const strict = new IpmiClient({ cipherSuites: [17] });
      const err = await strict.powerStatus(oldCreds).catch((e) => e);
      await strict.close();
      expect(err.message).toBe(`BMC 127.0.0.1:${old.port}: Open Session refused: invalid authentication algorithm`);
    } finally {
      await only3.close();
    }
  });

  it('keeps one session for many commands, and closes it', async () => {
    const { b, creds } = await start();
    const opened = client.sessionsOpened;
    for (let i = 0; i < 50; i++) await client.powerStatus(creds);
    expect(b.sessionCount).toBe(1);
    expect(client.sessionsOpened - opened).toBe(1); // the counter behind bm_ipmi_sessions_total
    expect(client.hasSession(creds)).toBe(true);
    await client.closeSession(creds);
    expect(client.hasSession(creds)).toBe(false);
    expect(b.sessionCount).toBe(0);
  });

  it('keeps an idle session alive with keepalives, so the BMC does not drop it', async () => {
    const m = new SimulatedMachine();
    const strict = new VirtualBmc({ port: 0, users: { [USER]: PASSWORD }, machine: m, sessionTimeoutMs: 1500 });
    await strict.start();
    started.push(strict);
    const creds = { host: '127.0.0.1', port: strict.port, user: USER, password: PASSWORD };
    const kept = new IpmiClient({ keepaliveMs: 500 });
    try {
      await kept.powerStatus(creds);
      await new Promise((r) => setTimeout(r, 4500)); // > 2 BMC session timeouts (it sweeps every 2 s)
      expect(strict.sessionCount).toBe(1);
      expect(kept.hasSession(creds)).toBe(true);
      expect((await kept.powerStatus(creds)).powerOn).toBe(false);
      expect(strict.sessionCount).toBe(1);
    } finally {
      await kept.close();
    }
  });

  it("the BMC forgets idle sessions and half-done logins by its clock's time", async () => {
    const clock = new ManualClock(1_000_000);
    const users = { [USER]: PASSWORD };
    const b = new VirtualBmc({ port: 0, users, machine: new SimulatedMachine(), sessionTimeoutMs: 60_000, clock });
    await b.start();
    started.push(b);
    const creds = { host: '127.0.0.1', port: b.port, user: USER, password: PASSWORD };
    await client.powerStatus(creds); // an active session, last used at 1 000 000
    const other = new IpmiClient({ deadlineMs: 1000 });
    await other.powerStatus({ ...creds, password: 'wrong' }).catch(() => undefined); // stops after RAKP 2
    await other.close();
    expect(b.sessionCount).toBe(2);
    const after = (ms: number) => {
      clock.advance(ms);
      b.sweep();
      return b.sessionCount;
    };
    expect(after(10_000)).toBe(2); // the half-done login: 10 s, not more
    expect(after(1)).toBe(1);
    expect(after(49_999)).toBe(1); // the idle session: 60 s, not more
    expect(after(1)).toBe(0);
    await client.closeSession(creds, 10); // the BMC no longer knows it: no answer to wait for
  });

  it('logs in again by itself when the BMC forgot the session (restart)', async () => {
    const { b, creds } = await start();
    await client.powerStatus(creds);
    await b.stop();
    const again = new VirtualBmc({
      port: b.port,
      users: { [USER]: PASSWORD },
      machine: new SimulatedMachine({ powerOn: true }),
    });
    await again.start();
    started.push(again);
    expect((await client.powerStatus(creds)).powerOn).toBe(true);
  });

  it('wrong password and unknown user fail fast, each with its own error', async () => {
    const { creds } = await start();
    const [wrong, t1] = await elapsed(client.powerStatus({ ...creds, password: 'nope' }));
    expect(wrong).toBeInstanceOf(BmcAuthenticationFailed);
    expect((wrong as Error).message).toBe(`BMC 127.0.0.1:${creds.port}: wrong password for user 'admin'`);
    expect(t1).toBeLessThan(500);
    const [unknown, t2] = await elapsed(client.powerStatus({ ...creds, user: 'mallory' }));
    expect(unknown).toBeInstanceOf(BmcAuthenticationFailed);
    expect((unknown as Error).message).toContain("user 'mallory' refused: unknown user name");
    expect(t2).toBeLessThan(500);
    expect((wrong as Error).message + (unknown as Error).message).not.toContain(PASSWORD);
  });

  it('an unreachable BMC ends at its deadline, and does not hold up the others', async () => {
    const { creds } = await start();
    const dead = { host: '127.0.0.1', port: 9, user: USER, password: PASSWORD };
    const deadOp = elapsed(client.powerStatus(dead, 1500));
    const [live, tLive] = await elapsed(client.powerStatus(creds));
    expect((live as { powerOn: boolean }).powerOn).toBe(false);
    expect(tLive).toBeLessThan(300);
    const [err, tDead] = await deadOp;
    expect(err).toBeInstanceOf(BmcUnreachable);
    expect((err as Error).message).toMatch(
      /^BMC 127\.0\.0\.1:9: no answer to Get Channel Authentication Capabilities within the deadline/,
    );
    expect(tDead).toBeGreaterThanOrEqual(1400);
    expect(tDead).toBeLessThan(2000);
  });

  it('a BMC host name that does not resolve fails at once, not at the deadline', async () => {
    const [err, t] = await elapsed(
      client.powerStatus({ host: 'no-such-bmc.invalid', user: USER, password: PASSWORD }, 3000),
    );
    expect(err).toBeInstanceOf(BmcUnreachable);
    expect((err as Error).message).toBe('BMC no-such-bmc.invalid:623: cannot resolve its address: ENOTFOUND');
    expect(t).toBeLessThan(1000);
  });

  it('new credentials for a BMC take effect at its next operation, on the same queue', async () => {
    const { creds } = await start();
    await expect(client.powerStatus({ ...creds, password: 'old-wrong' })).rejects.toBeInstanceOf(
      BmcAuthenticationFailed,
    );
    const [a, b] = await Promise.all([
      client.powerStatus(creds),
      client.powerStatus({ ...creds, password: 'wrong-again' }).catch((e) => e),
    ]);
    expect((a as { powerOn: boolean }).powerOn).toBe(false);
    expect(b).toBeInstanceOf(BmcAuthenticationFailed);
    expect((await client.powerStatus(creds)).powerOn).toBe(false);
  });

  it('many fresh BMCs at once: logins are limited, every one succeeds', async () => {
    const many = await Promise.all(Array.from({ length: 40 }, () => start()));
    const limited = new IpmiClient({ maxConcurrentLogins: 4, deadlineMs: 10_000 });
    try {
      const states = await Promise.all(many.map((m) => limited.powerStatus(m.creds)));
      expect(states.every((x) => x.powerOn === false)).toBe(true);
    } finally {
      await limited.close();
    }
  });

  it('a BMC that drops every other datagram still answers, through retransmission', async () => {
    const { creds, machine } = await start();
    const proxy = new UdpProxy({ host: '127.0.0.1', port: creds.port! });
    proxies.push(proxy);
    const port = await proxy.start();
    proxy.behaviour = { drop: (n, dir) => dir === 's2c' && n % 2 === 0 };
    const via = { ...creds, port };
    const retransmits = client.retransmits;
    await client.power(via, 'on');
    expect((await client.powerStatus(via)).powerOn).toBe(true);
    expect(client.retransmits).toBeGreaterThan(retransmits); // behind bm_ipmi_retransmits_total
    await client.setBootDevice(via, 'pxe');
    expect(machine.getBootFlags().device).toBe('pxe');
  });

  it('a slow BMC is waited for within the deadline; past it, a clear error', async () => {
    const { creds } = await start();
    const proxy = new UdpProxy({ host: '127.0.0.1', port: creds.port! });
    proxies.push(proxy);
    const port = await proxy.start();
    proxy.behaviour = { delayMs: 150 };
    const patient = new IpmiClient({ deadlineMs: 5000, retryMs: 400 });
    try {
      expect((await patient.powerStatus({ ...creds, port })).powerOn).toBe(false);
    } finally {
      await patient.close();
    }
    const [err, t] = await elapsed(client.powerStatus({ ...creds, port }, 400));
    expect(err).toBeInstanceOf(BmcUnreachable);
    expect(t).toBeLessThan(800);
  });

  it('a link slower than the retransmission timer still logs in (retransmitted RAKP 1 gets the same RAKP 2)', async () => {
    const { creds } = await start();
    const proxy = new UdpProxy({ host: '127.0.0.1', port: creds.port! });
    proxies.push(proxy);
    const port = await proxy.start();
    proxy.behaviour = { delayMs: 150 };
    const eager = new IpmiClient({ deadlineMs: 5000, retryMs: 100 });
    try {
      expect((await eager.powerStatus({ ...creds, port })).powerOn).toBe(false);
    } finally {
      await eager.close();
    }
  });

  it('a replayed request is not executed twice', async () => {
    const { creds, machine } = await start();
    const proxy = new UdpProxy({ host: '127.0.0.1', port: creds.port! });
    proxies.push(proxy);
    const port = await proxy.start();
    const via = { ...creds, port };
    await client.powerStatus(via);
    proxy.behaviour = { duplicate: true };
    await client.power(via, 'cycle');
    await new Promise((r) => setTimeout(r, 100));
    expect(machine.events.filter((e) => e.action === 'cycle')).toHaveLength(1);
  });

  it('half-finished logins do not lock real users out', async () => {
    const m = new SimulatedMachine();
    const small = new VirtualBmc({ port: 0, users: { [USER]: PASSWORD }, machine: m, maxSessions: 4 });
    await small.start();
    started.push(small);
    const creds = { host: '127.0.0.1', port: small.port, user: USER, password: PASSWORD };
    const others = new IpmiClient({ deadlineMs: 1000 });
    for (let i = 0; i < 6; i++) await others.powerStatus({ ...creds, password: `wrong-${i}` }).catch(() => undefined);
    await others.close();
    expect((await client.powerStatus(creds)).powerOn).toBe(false);
  });

  it('garbage and forged datagrams reaching the client are ignored', async () => {
    const { creds } = await start();
    const proxy = new UdpProxy({ host: '127.0.0.1', port: creds.port! });
    proxies.push(proxy);
    const port = await proxy.start();
    const junk = [
      Buffer.from('garbage'),
      Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06, 0xc0, 1, 2]),
      encodeV20({
        payloadType: PayloadType.IPMI,
        sessionId: 1,
        seq: 1,
        payload: Buffer.alloc(40, 7),
        keys: { k1: Buffer.alloc(20), k2: Buffer.alloc(20) },
        iv: Buffer.alloc(16),
      }),
    ];
    let i = 0;
    proxy.behaviour = { garbage: () => junk[i++ % junk.length] };
    const via = { ...creds, port };
    await client.power(via, 'on');
    expect((await client.powerStatus(via)).powerOn).toBe(true);
    expect(client.dropped).toBeGreaterThan(0);
  });

  it('malformed datagrams sent to the BMC never stop it', async () => {
    const { b, creds } = await start();
    const s = createSocket('udp4');
    const send = (m: Buffer) => new Promise<void>((r) => s.send(m, creds.port!, '127.0.0.1', () => r()));
    const valid = encodeV15(encodeRequest({ netFn: 6, cmd: 0x38, rqSeq: 0, data: Buffer.from([0x8e, 4]) }));
    const badChecksum = Buffer.from(valid);
    badChecksum[badChecksum.length - 1] ^= 0xff;
    for (const m of [
      Buffer.alloc(0),
      Buffer.from('hello'),
      valid.subarray(0, 10),
      badChecksum,
      Buffer.from([0x06, 0x00, 0xff, 0x07, 0x06, 0x33, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 2, 3, 4]), // unknown payload type
      encodeV20({
        payloadType: PayloadType.IPMI,
        sessionId: 12345,
        seq: 1,
        payload: Buffer.alloc(32),
        keys: { k1: Buffer.alloc(20), k2: Buffer.alloc(20) },
        iv: Buffer.alloc(16),
      }), // no such session / bad HMAC
      encodeV20({ payloadType: PayloadType.RAKP1, sessionId: 0, seq: 0, payload: Buffer.alloc(5) }), // truncated RAKP1
    ])
      await send(m);
    s.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(b.dropped).toBeGreaterThanOrEqual(6);
    expect((await client.powerStatus(creds)).powerOn).toBe(false);
  });

  it('honours a minimum interval between commands to one BMC', async () => {
    const { creds } = await start();
    const spaced = new IpmiClient({ minIntervalMs: 50 });
    try {
      await spaced.powerStatus(creds); // login: 4 setup exchanges + 2 commands
      const t = Date.now();
      await Promise.all([spaced.powerStatus(creds), spaced.powerStatus(creds), spaced.powerStatus(creds)]);
      expect(Date.now() - t).toBeGreaterThanOrEqual(140);
    } finally {
      await spaced.close();
    }
  });
});
