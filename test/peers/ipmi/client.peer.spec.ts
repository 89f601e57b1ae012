/**
 * Peer test of our native IPMI 2.0 client (`IpmiClient`, @bm/ipmi) against two independent real
 * BMCs on loopback UDP, both started by ./harness:
 *  - OpenIPMI's ipmi_sim, whose chassis state and every chassis_control call land in files;
 *  - a pyghmi `Bmc` subclass (fake_bmc.py, the VirtualBMC design) printing one JSON line per action.
 * Background: /work/shared/reference/ipmi.md.
 */
import { createSocket, type Socket } from 'node:dgram';
import { type BmcCredentials, BmcAuthenticationFailed, BmcUnreachable, IpmiClient } from '@bm/ipmi';
import { UdpProxy } from '../../support/udp-proxy';
import { type FakeBmc, type FakeBmcEvent, type IpmiSim, freeUdpPort, startFakeBmc, startIpmiSim } from './harness';
import { until } from '../../support/amqp';

jest.setTimeout(20_000);

const HOST = '127.0.0.1';

/** Runs `p`, returns its value or error and how long it took. */
async function timed<T>(p: Promise<T>): Promise<{ value?: T; error?: Error; ms: number }> {
  const t0 = Date.now();
  try {
    const value = await p;
    return { value, ms: Date.now() - t0 };
  } catch (error) {
    return { error: error as Error, ms: Date.now() - t0 };
  }
}

/**
 * A transparent loopback UDP relay (client ↔ BMC) that counts the client's datagrams by RMCP+
 * payload type (0x10 Open Session Request, 0x12 RAKP1, 0x14 RAKP3, 0x00 IPMI; 'v1.5' for the
 * pre-session Get Channel Authentication Capabilities): how many logins the client made.
 */
class CountingRelay {
  readonly sent = new Map<number | 'v1.5', number>();
  private front?: Socket;
  private back?: Socket;
  private client?: { address: string; port: number };

  constructor(private readonly targetPort: number) {}

  count(type: number | 'v1.5'): number {
    return this.sent.get(type) ?? 0;
  }

  async start(): Promise<number> {
    const front = (this.front = createSocket('udp4'));
    const back = (this.back = createSocket('udp4'));
    front.on('message', (m, r) => {
      this.client = { address: r.address, port: r.port };
      const type = m.length > 5 && m[4] === 0x06 ? m[5] & 0x3f : 'v1.5';
      this.sent.set(type, this.count(type) + 1);
      back.send(m, this.targetPort, HOST);
    });
    back.on('message', (m) => {
      if (this.client) front.send(m, this.client.port, this.client.address);
    });
    await new Promise<void>((r) => back.bind(0, HOST, () => r()));
    await new Promise<void>((r) => front.bind(0, HOST, () => r()));
    return front.address().port;
  }

  async stop(): Promise<void> {
    for (const s of [this.front, this.back]) if (s) await new Promise<void>((r) => s.close(() => r()));
    this.front = this.back = undefined;
  }
}

const OPEN_SESSION_REQUEST = 0x10;
const RAKP1 = 0x12;
const IPMI_PAYLOAD = 0x00;

describe('IpmiClient ↔ OpenIPMI ipmi_sim', () => {
  let sim: IpmiSim;
  let client: IpmiClient;
  let creds: BmcCredentials;

  beforeAll(async () => {
    sim = await startIpmiSim({ port: await freeUdpPort() });
    creds = { host: HOST, port: sim.port, user: sim.user, password: sim.password };
    client = new IpmiClient({ deadlineMs: 3_000, retryMs: 100 });
  });
  afterAll(async () => {
    await client?.close();
    await sim?.stop();
  });

  /** chassis.log lines from index `from` on, without their uptime stamps. */
  const logSince = async (from: number) => (await sim.log()).slice(from).map((l) => l.replace(/^\S+ /, ''));

  it('reads the power state (off at start)', async () => {
    const from = (await sim.log()).length;
    const status = await client.powerStatus(creds);
    expect(status).toMatchObject({ powerOn: false, overload: false, powerFault: false });
    expect(await logSince(from)).toContain('get power');
  });

  it('powers on, then off, through chassis_control', async () => {
    let from = (await sim.log()).length;
    await client.power(creds, 'on');
    expect(await sim.power()).toBe('on');
    expect(await logSince(from)).toContain('set power 1');
    expect((await client.powerStatus(creds)).powerOn).toBe(true);

    from = (await sim.log()).length;
    await client.power(creds, 'off');
    expect(await sim.power()).toBe('off');
    expect(await logSince(from)).toContain('set power 0');
    expect((await client.powerStatus(creds)).powerOn).toBe(false);
  });

  it('power cycle: ipmi_sim sets power 0, then 1 about a second later', async () => {
    await client.power(creds, 'on');
    const from = (await sim.log()).length;
    await client.power(creds, 'cycle');
    expect((await logSince(from)).filter((l) => l.startsWith('set '))).toEqual(['set power 0']);
    expect((await client.powerStatus(creds)).powerOn).toBe(false); // still in the "off" second
    await until(() => sim.power(), 'on', 5_000);
    expect((await logSince(from)).filter((l) => l.startsWith('set '))).toEqual(['set power 0', 'set power 1']);
    expect((await client.powerStatus(creds)).powerOn).toBe(true);
  });

  it('sets the boot device to pxe (ipmi_sim never reports the valid bit back)', async () => {
    const from = (await sim.log()).length;
    await client.setBootDevice(creds, 'pxe');
    expect(await sim.bootDevice()).toBe('pxe');
    expect(await logSince(from)).toContain('set boot pxe');
    // Reference §3: Get System Boot Options answers `01 05 00 <dev<<2> …`, valid bit clear.
    expect(await client.getBootDevice(creds)).toEqual({ device: 'pxe', persistent: false, efi: false, valid: false });
  });

  it('reads the device id (MontaVista 0x1291, product 0x0f02, IPMI 2.0)', async () => {
    expect(await client.deviceId(creds)).toEqual({
      deviceId: 0x00,
      deviceRevision: 3,
      firmware: '9.08',
      ipmiVersion: '2.0',
      manufacturerId: 0x1291,
      productId: 0x0f02,
    });
  });

  it('reuses one session for many commands (one login, seen on the wire)', async () => {
    const relay = new CountingRelay(sim.port);
    const fresh = new IpmiClient({ deadlineMs: 3_000, retryMs: 100 });
    try {
      const via = { ...creds, port: await relay.start() };
      const from = (await sim.log()).length;
      const n = 25;
      for (let i = 0; i < n; i++) expect((await fresh.powerStatus(via)).powerOn).toBe(true);
      expect(fresh.hasSession(via)).toBe(true);
      expect((await logSince(from)).filter((l) => l === 'get power')).toHaveLength(n);
      // One Get Channel Auth Cap, two Open Sessions (ipmi_sim refuses our first proposal,
      // cipher suite 17, with "invalid authentication algorithm"; then suite 3), one RAKP1 and
      // one RAKP3, then only session packets: Set Session Privilege, Get Device ID and the n
      // status queries.
      expect(relay.count('v1.5')).toBe(1);
      expect(relay.count(OPEN_SESSION_REQUEST)).toBe(2);
      expect(fresh.sessionSuite(via)).toBe(3);
      expect(relay.count(RAKP1)).toBe(1);
      expect(relay.count(IPMI_PAYLOAD)).toBe(n + 2);
      await fresh.closeSession(via);
      expect(fresh.hasSession(via)).toBe(false);
      expect(relay.count(IPMI_PAYLOAD)).toBe(n + 3); // Close Session
      // The next login remembers that this BMC takes suite 3: one Open Session only.
      await fresh.powerStatus(via);
      expect(relay.count(OPEN_SESSION_REQUEST)).toBe(3);
    } finally {
      await fresh.close();
      await relay.stop();
    }
  });

  it('a wrong password fails quickly with BmcAuthenticationFailed (RAKP2 HMAC)', async () => {
    const other = new IpmiClient({ deadlineMs: 3_000, retryMs: 100 });
    try {
      const r = await timed(other.powerStatus({ ...creds, password: 'wrong-password' }));
      expect(r.error).toBeInstanceOf(BmcAuthenticationFailed);
      expect(r.error!.message).toBe(`BMC ${HOST}:${sim.port}: wrong password for user '${sim.user}'`);
      expect(r.error!.message).not.toContain('wrong-password');
      expect(r.ms).toBeLessThan(1_000);
      expect(other.hasSession({ ...creds, password: 'wrong-password' })).toBe(false);
    } finally {
      await other.close();
    }
  });

  it('an unknown user fails quickly with BmcAuthenticationFailed (ipmi_sim refuses it in RAKP2)', async () => {
    const other = new IpmiClient({ deadlineMs: 3_000, retryMs: 100 });
    try {
      const r = await timed(other.powerStatus({ ...creds, user: 'mallory' }));
      expect(r.error).toBeInstanceOf(BmcAuthenticationFailed);
      expect(r.error!.message).toContain("user 'mallory' refused");
      expect(r.ms).toBeLessThan(1_000);
    } finally {
      await other.close();
    }
  });

  it('the held session still works after the failed logins', async () => {
    expect(client.hasSession(creds)).toBe(true);
    expect((await client.powerStatus(creds)).powerOn).toBe(true);
  });

  it('a link slower than the retransmission interval still logs in (answers to retransmits are tolerated)', async () => {
    const proxy = new UdpProxy({ host: HOST, port: sim.port });
    const slow = new IpmiClient({ deadlineMs: 5_000, retryMs: 100 });
    try {
      const port = await proxy.start();
      proxy.behaviour = { delayMs: 150 }; // every answer arrives after the first retransmission
      expect((await slow.powerStatus({ ...creds, port })).powerOn).toBe(true);
      expect((await slow.deviceId({ ...creds, port })).manufacturerId).toBe(0x1291);
    } finally {
      await slow.close();
      await proxy.stop();
    }
  });

  // pm_address may be a host name: the client resolves it and routes the answers, which come
  // from the resolved address, back to it (a regression test).
  it('accepts a BMC host name (localhost), as pm_address and ipmitool do', async () => {
    const byName = new IpmiClient({ deadlineMs: 1_500, retryMs: 100 });
    try {
      expect((await byName.powerStatus({ ...creds, host: 'localhost' })).powerOn).toBe(true);
    } finally {
      await byName.close();
    }
  });

  // Regression: an earlier client.ts replaced the BmcLink of a `host:port` when the password
  // differed while datagrams went to the newest link only, so the operation still running on the
  // older link never saw its answers and ended in BmcUnreachable.
  it('two credential sets used at once on one BMC do not break each other', async () => {
    const shared = new IpmiClient({ deadlineMs: 1_500, retryMs: 100 });
    try {
      const [good, bad] = await Promise.allSettled([
        shared.powerStatus(creds),
        shared.powerStatus({ ...creds, password: 'wrong-password' }),
      ]);
      expect(bad.status === 'rejected' && bad.reason).toBeInstanceOf(BmcAuthenticationFailed);
      expect(good.status === 'rejected' ? String(good.reason) : good.value.powerOn).toBe(true);
      expect((await shared.powerStatus(creds)).powerOn).toBe(true);
    } finally {
      await shared.close();
    }
  });
});

describe('IpmiClient ↔ pyghmi fake BMC', () => {
  let bmc: FakeBmc;
  let client: IpmiClient;
  let creds: BmcCredentials;

  beforeAll(async () => {
    bmc = await startFakeBmc({ port: await freeUdpPort() });
    creds = { host: HOST, port: bmc.port, user: bmc.user, password: bmc.password };
    client = new IpmiClient({ deadlineMs: 3_000, retryMs: 100 });
  });
  afterAll(async () => {
    await client?.close();
    await bmc?.stop();
  });

  const op = (name: string) => (e: FakeBmcEvent) => e.op === name;

  /** Runs `action` and returns the events the fake BMC printed for it (waits for `until`). */
  async function eventsOf(action: () => Promise<unknown>, until: string): Promise<FakeBmcEvent[]> {
    const from = bmc.events.length;
    await action();
    await bmc.waitFor(op(until), 2_000, from);
    return bmc.events.slice(from);
  }

  it('reads the power state (off at start)', async () => {
    expect((await client.powerStatus(creds)).powerOn).toBe(false);
    expect(client.hasSession(creds)).toBe(true);
  });

  it('on, off', async () => {
    expect(await eventsOf(() => client.power(creds, 'on'), 'power_on')).toMatchObject([
      { op: 'power_on', before: 'off', after: 'on' },
    ]);
    expect((await client.powerStatus(creds)).powerOn).toBe(true);
    expect(await eventsOf(() => client.power(creds, 'off'), 'power_off')).toMatchObject([
      { op: 'power_off', before: 'on', after: 'off' },
    ]);
    expect((await client.powerStatus(creds)).powerOn).toBe(false);
  });

  it('cycle, reset, soft', async () => {
    expect(await eventsOf(() => client.power(creds, 'cycle'), 'power_cycle')).toMatchObject([
      { op: 'power_cycle', before: 'off', after: 'on' },
    ]);
    expect(await eventsOf(() => client.power(creds, 'reset'), 'power_reset')).toMatchObject([
      { op: 'power_reset', before: 'on', after: 'on' },
    ]);
    expect((await client.powerStatus(creds)).powerOn).toBe(true);
    expect(await eventsOf(() => client.power(creds, 'soft'), 'power_shutdown')).toMatchObject([
      { op: 'power_shutdown', before: 'on', after: 'off' },
    ]);
    expect((await client.powerStatus(creds)).powerOn).toBe(false);
  });

  it('sets the boot device to pxe for the next boot, and reads it back', async () => {
    const events = await eventsOf(() => client.setBootDevice(creds, 'pxe'), 'set_boot_device');
    expect(events).toMatchObject([{ op: 'set_boot_device', bootdev: 'network', persistent: false }]);
    expect(await client.getBootDevice(creds)).toEqual({ device: 'pxe', persistent: false, efi: false, valid: true });
  });

  it('sets a persistent boot device, and reads it back', async () => {
    const events = await eventsOf(() => client.setBootDevice(creds, 'disk', { persistent: true }), 'set_boot_device');
    expect(events).toMatchObject([{ op: 'set_boot_device', bootdev: 'hd', persistent: true }]);
    expect(await client.getBootDevice(creds)).toMatchObject({ device: 'disk', persistent: true, valid: true });

    const pxe = await eventsOf(() => client.setBootDevice(creds, 'pxe', { persistent: true }), 'set_boot_device');
    expect(pxe).toMatchObject([{ op: 'set_boot_device', bootdev: 'network', persistent: true }]);
    expect(await client.getBootDevice(creds)).toMatchObject({ device: 'pxe', persistent: true, valid: true });
  });

  it('a wrong password fails quickly with BmcAuthenticationFailed, and changes nothing', async () => {
    const other = new IpmiClient({ deadlineMs: 3_000, retryMs: 100 });
    const from = bmc.events.length;
    try {
      const r = await timed(other.power({ ...creds, password: 'wrong-password' }, 'on'));
      expect(r.error).toBeInstanceOf(BmcAuthenticationFailed);
      expect(r.error!.message).toBe(`BMC ${HOST}:${bmc.port}: wrong password for user '${bmc.user}'`);
      expect(r.ms).toBeLessThan(1_000);
    } finally {
      await other.close();
    }
    expect(bmc.events.slice(from)).toEqual([]);
  });

  it('an unknown user: pyghmi never answers RAKP1, so the client ends at its deadline with BmcUnreachable', async () => {
    const other = new IpmiClient({ deadlineMs: 10_000, retryMs: 100 });
    const from = bmc.events.length;
    const deadlineMs = 1_500;
    try {
      const r = await timed(other.power({ ...creds, user: 'mallory' }, 'on', deadlineMs));
      expect(r.error).toBeInstanceOf(BmcUnreachable);
      expect(r.error!.message).toMatch(new RegExp(`^BMC ${HOST}:${bmc.port}: no answer to RAKP 1 within the deadline`));
      expect(r.ms).toBeGreaterThanOrEqual(deadlineMs - 50);
      expect(r.ms).toBeLessThan(deadlineMs + 400);
    } finally {
      await other.close();
    }
    expect(bmc.events.slice(from)).toEqual([]);
  });

  it('the held session still works after the failed logins', async () => {
    expect(client.hasSession(creds)).toBe(true);
    expect((await client.powerStatus(creds)).powerOn).toBe(false);
  });
});
