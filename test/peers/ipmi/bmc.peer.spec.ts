/**
 * Peer test of our virtual BMC (`VirtualBmc` + `SimulatedMachine`, @bm/ipmi), run in this
 * process on a loopback UDP port, driven by the real ipmitool (lanplus, password only in the
 * environment). Background: /work/shared/reference/ipmi.md.
 */
import { createSocket, type Socket } from 'node:dgram';
import {
  PayloadType,
  SUITE_3,
  SimulatedMachine,
  VirtualBmc,
  decodeOpenSessionResponse,
  decodePacket,
  encodeOpenSessionRequest,
  encodeV20,
} from '@bm/ipmi';
import { type IpmitoolResult, freeUdpPort, ipmitool } from './harness';

jest.setTimeout(20_000);

const HOST = '127.0.0.1';
const USER = 'admin';
const PASSWORD = 'S3cret-pw';

interface Bmc {
  bmc: VirtualBmc;
  machine: SimulatedMachine;
  /** `ipmitool -I lanplus -C 3 …` (the harness's) with our user and password. */
  tool(args: string[], o?: { user?: string; password?: string; timeoutMs?: number }): Promise<IpmitoolResult>;
}

const running: VirtualBmc[] = [];

async function startBmc(powerOn = false): Promise<Bmc> {
  const machine = new SimulatedMachine({ powerOn });
  const bmc = new VirtualBmc({ port: await freeUdpPort(), address: HOST, users: { [USER]: PASSWORD }, machine });
  await bmc.start();
  running.push(bmc);
  return {
    bmc,
    machine,
    tool: (args, o = {}) =>
      ipmitool(args, {
        port: bmc.port,
        user: o.user ?? USER,
        password: o.password ?? PASSWORD,
        timeoutMs: o.timeoutMs ?? 5_000,
      }),
  };
}

afterAll(async () => {
  for (const b of running.splice(0)) await b.stop();
});

/** ipmitool with `-C <suite>` of our choosing (`[]` = none: ipmitool asks Get Channel Cipher Suites). */
function ipmitoolCs(
  port: number,
  cipher: string[],
  args: string[],
  o: { user?: string; password?: string; timeoutMs?: number } = {},
): Promise<IpmitoolResult> {
  return ipmitool(args, {
    port,
    user: o.user ?? USER,
    password: o.password ?? PASSWORD,
    timeoutMs: o.timeoutMs ?? 5_000,
    cipherSuite: cipher.length ? cipher[1] : null,
  });
}

/**
 * A transparent loopback UDP relay in front of the BMC that keeps every datagram the client
 * sent, to see which cipher suite ipmitool asked for and whether it asked for the list first.
 */
class Tap {
  readonly c2b: Buffer[] = [];
  private front?: Socket;
  private back?: Socket;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<number> {
    const front = (this.front = createSocket('udp4'));
    const back = (this.back = createSocket('udp4'));
    let client: { address: string; port: number } | undefined;
    front.on('message', (m, r) => {
      client = { address: r.address, port: r.port };
      this.c2b.push(m);
      back.send(m, this.targetPort, HOST);
    });
    back.on('message', (m) => {
      if (client) front.send(m, client.port, client.address);
    });
    await new Promise<void>((r) => back.bind(0, HOST, () => r()));
    await new Promise<void>((r) => front.bind(0, HOST, () => r()));
    return front.address().port;
  }

  async stop(): Promise<void> {
    for (const s of [this.front, this.back]) if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** Sessionless, unauthenticated RMCP+ IPMI requests: [netFn, cmd]. */
  sessionless(): [number, number][] {
    return this.c2b
      .filter((m) => m.length >= 22 && m[4] === 0x06 && m[5] === 0x00 && m.readUInt32LE(6) === 0)
      .map((m) => [m[17] >> 2, m[21]]);
  }

  /** Algorithms (auth, integrity, confidentiality) of every Open Session Request. */
  openSessions(): [number, number, number][] {
    return this.c2b
      .filter((m) => m.length >= 48 && m[4] === 0x06 && (m[5] & 0x3f) === 0x10)
      .map((m) => [m[28], m[36], m[44]]);
  }
}

describe('ipmitool -I lanplus -C 3 → VirtualBmc', () => {
  let b: Bmc;
  beforeAll(async () => {
    b = await startBmc();
  });

  const lastEvent = () => b.machine.events[b.machine.events.length - 1];

  it('chassis power status', async () => {
    expect(await b.tool(['chassis', 'power', 'status'])).toMatchObject({ code: 0, stdout: 'Chassis Power is off\n' });
    expect(b.machine.events).toEqual([]);
  });

  it('chassis power on / off', async () => {
    expect(await b.tool(['chassis', 'power', 'on'])).toMatchObject({
      code: 0,
      stdout: 'Chassis Power Control: Up/On\n',
    });
    expect(b.machine.isPoweredOn()).toBe(true);
    expect(lastEvent()).toMatchObject({ op: 'power', action: 'on', before: 'off', after: 'on' });
    expect((await b.tool(['chassis', 'power', 'status'])).stdout).toBe('Chassis Power is on\n');

    expect(await b.tool(['chassis', 'power', 'off'])).toMatchObject({
      code: 0,
      stdout: 'Chassis Power Control: Down/Off\n',
    });
    expect(b.machine.isPoweredOn()).toBe(false);
    expect(lastEvent()).toMatchObject({ op: 'power', action: 'off', before: 'on', after: 'off' });
    expect((await b.tool(['chassis', 'power', 'status'])).stdout).toBe('Chassis Power is off\n');
  });

  it('chassis power cycle / reset / soft', async () => {
    const from = b.machine.events.length;
    expect(await b.tool(['chassis', 'power', 'cycle'])).toMatchObject({
      code: 0,
      stdout: 'Chassis Power Control: Cycle\n',
    });
    expect(b.machine.isPoweredOn()).toBe(true);
    expect(await b.tool(['chassis', 'power', 'reset'])).toMatchObject({
      code: 0,
      stdout: 'Chassis Power Control: Reset\n',
    });
    expect(b.machine.isPoweredOn()).toBe(true);
    expect(await b.tool(['chassis', 'power', 'soft'])).toMatchObject({
      code: 0,
      stdout: 'Chassis Power Control: Soft\n',
    });
    expect(b.machine.isPoweredOn()).toBe(false);
    expect(b.machine.events.slice(from).map((e) => [e.op, e.action, e.before, e.after])).toEqual([
      ['power', 'cycle', 'off', 'on'],
      ['power', 'reset', 'on', 'on'],
      ['power', 'soft', 'on', 'off'],
    ]);
  });

  it('chassis bootdev pxe: next boot only', async () => {
    const from = b.machine.events.length;
    expect(await b.tool(['chassis', 'bootdev', 'pxe'])).toMatchObject({ code: 0, stdout: 'Set Boot Device to pxe\n' });
    expect(b.machine.getBootFlags()).toEqual({ device: 'pxe', persistent: false, efi: false, valid: true });
    expect(b.machine.events.slice(from)).toMatchObject([{ op: 'boot', boot: { device: 'pxe', persistent: false } }]);
  });

  it('chassis bootparam get 5 shows Force PXE, valid', async () => {
    const r = await b.tool(['chassis', 'bootparam', 'get', '5']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Boot parameter 5 is valid/unlocked');
    expect(r.stdout).toContain('Boot parameter data: 8004000000');
    expect(r.stdout).toContain('- Boot Flag Valid');
    expect(r.stdout).toContain('- Options apply to only next boot');
    expect(r.stdout).toContain('- Boot Device Selector : Force PXE');
  });

  it('chassis bootdev pxe options=persistent,efiboot', async () => {
    expect(await b.tool(['chassis', 'bootdev', 'pxe', 'options=persistent,efiboot'])).toMatchObject({
      code: 0,
      stdout: 'Set Boot Device to pxe\n',
    });
    expect(b.machine.getBootFlags()).toEqual({ device: 'pxe', persistent: true, efi: true, valid: true });
    const r = await b.tool(['chassis', 'bootparam', 'get', '5']);
    expect(r.stdout).toContain('Boot parameter data: e004000000');
    expect(r.stdout).toContain('- Options apply to all future boots');
    expect(r.stdout).toContain('- BIOS EFI boot');
    expect(r.stdout).toContain('- Boot Device Selector : Force PXE');
  });

  it('mc info: IPMI Version 2.0', async () => {
    const r = await b.tool(['mc', 'info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^IPMI Version\s+: 2\.0$/m);
    expect(r.stdout).toMatch(/^Product ID\s+: 28258 \(0x6e62\)$/m);
  });

  it('chassis status', async () => {
    await b.tool(['chassis', 'power', 'on']);
    const r = await b.tool(['chassis', 'status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^System Power\s+: on$/m);
    expect(r.stdout).toMatch(/^Power Overload\s+: false$/m);
    expect(r.stdout).toMatch(/^Main Power Fault\s+: false$/m);
  });

  it('every ipmitool session was closed', () => {
    expect(b.bmc.sessionCount).toBe(0);
  });
});

describe('cipher suite negotiation', () => {
  let b: Bmc;
  beforeAll(async () => {
    b = await startBmc();
  });

  it('without -C, ipmitool asks Get Channel Cipher Suites and logs in with the best offered, 17', async () => {
    const tap = new Tap(b.bmc.port);
    try {
      const r = await ipmitoolCs(await tap.start(), [], ['chassis', 'power', 'on']);
      expect(r).toMatchObject({ code: 0, stdout: 'Chassis Power Control: Up/On\n' });
      expect(r.stderr).not.toContain('Unable to Get Channel Cipher Suites');
      expect(tap.sessionless()).toContainEqual([0x06, 0x54]); // App, Get Channel Cipher Suites
      expect(tap.openSessions()).toEqual([[3, 4, 1]]); // RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128
    } finally {
      await tap.stop();
    }
    expect(b.machine.isPoweredOn()).toBe(true);
  });

  it('-C 17 (HMAC-SHA256) works: power, boot device, status', async () => {
    expect((await ipmitoolCs(b.bmc.port, ['-C', '17'], ['chassis', 'power', 'off'])).code).toBe(0);
    expect(b.machine.isPoweredOn()).toBe(false);
    expect((await ipmitoolCs(b.bmc.port, ['-C', '17'], ['chassis', 'bootdev', 'pxe'])).code).toBe(0);
    expect(b.machine.getBootFlags().device).toBe('pxe');
    expect((await ipmitoolCs(b.bmc.port, ['-C', '17'], ['chassis', 'power', 'status'])).stdout).toBe(
      'Chassis Power is off\n',
    );
  });

  for (const suite of ['0', '1', '2']) {
    it(`-C ${suite} is refused at Open Session and changes nothing`, async () => {
      const events = b.machine.events.length;
      const on = b.machine.isPoweredOn();
      const sessions = b.bmc.sessionCount;
      const r = await ipmitoolCs(b.bmc.port, ['-C', suite], ['chassis', 'power', 'off']);
      expect(r.code).not.toBe(0);
      expect(r.timedOut).toBe(false);
      expect(r.stderr).toMatch(
        /Error in open session response message : invalid (authentication|integrity|confidentiality) algorithm/,
      );
      expect(b.machine.events.length).toBe(events);
      expect(b.machine.isPoweredOn()).toBe(on);
      expect(b.bmc.sessionCount).toBe(sessions);
    });
  }
});

describe('authentication failures', () => {
  let b: Bmc;
  beforeAll(async () => {
    b = await startBmc(true);
  });

  for (const [what, creds] of [
    ['wrong password', { password: 'wrong-password' }],
    ['unknown user', { user: 'mallory' }],
  ] as const) {
    it(`${what}: ipmitool fails quickly and the machine is untouched`, async () => {
      const t0 = Date.now();
      const r = await b.tool(['chassis', 'power', 'off'], { ...creds, timeoutMs: 5_000 });
      const ms = Date.now() - t0;
      expect(r.code).not.toBe(0);
      expect(r.timedOut).toBe(false);
      expect(r.stderr).toContain('Unable to establish IPMI v2 / RMCP+ session');
      expect(ms).toBeLessThan(2_000);
      expect(b.machine.events).toEqual([]);
      expect(b.machine.isPoweredOn()).toBe(true);
    });
  }

  it('the right credentials still work', async () => {
    expect(await b.tool(['chassis', 'power', 'status'])).toMatchObject({ code: 0, stdout: 'Chassis Power is on\n' });
  });
});

describe('concurrency', () => {
  // Every ipmitool process proposes the same console session id (0xA0A2A3A4) and tag 0: the BMC
  // must tell concurrent consoles apart by their address (a regression test; ipmi_sim and the
  // pyghmi BMC pass it too).
  it('10 concurrent ipmitool processes against one VirtualBmc all succeed', async () => {
    const b = await startBmc();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0
          ? b.tool(['chassis', 'power', 'on'], { timeoutMs: 10_000 })
          : b.tool(['chassis', 'power', 'status'], { timeoutMs: 10_000 }),
      ),
    );
    const failed = results.map((r, i) => ({ i, code: r.code, stderr: r.stderr.trim() })).filter((r) => r.code !== 0);
    expect(failed).toEqual([]);
    results.forEach((r, i) =>
      expect(r.stdout).toMatch(i % 2 === 0 ? /^Chassis Power Control: Up\/On\n$/ : /^Chassis Power is (on|off)\n$/),
    );
    expect(b.machine.events.map((e) => e.action)).toEqual(['on', 'on', 'on', 'on', 'on']);
    expect(b.machine.isPoweredOn()).toBe(true);
    expect(b.bmc.sessionCount).toBe(0);
  });

  // A console session id is only unique per console (fixed: sessions are told apart by address).
  // A request is a retransmission only if it comes from the same address and port.
  it('two consoles proposing the same console session id (as every ipmitool does) get two sessions', async () => {
    const b = await startBmc();
    const sidm = Buffer.from('a4a3a2a0', 'hex'); // ipmitool's fixed console session id, on the wire
    const request = encodeV20({
      payloadType: PayloadType.OPEN_SESSION_REQUEST,
      sessionId: 0,
      seq: 0,
      payload: encodeOpenSessionRequest({ tag: 0, maxPriv: 4, sidm, algorithms: SUITE_3.algorithms }),
    });
    const openSession = async () => {
      const s = createSocket('udp4');
      try {
        await new Promise<void>((r) => s.bind(0, HOST, () => r()));
        const answer = new Promise<Buffer>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no Open Session Response within 2 s')), 2_000);
          s.once('message', (m) => {
            clearTimeout(t);
            resolve(m);
          });
        });
        s.send(request, b.bmc.port, HOST);
        const p = decodePacket(await answer);
        if (p.kind !== 'v2.0') throw new Error('not an RMCP+ answer');
        return decodeOpenSessionResponse(p.payload);
      } finally {
        s.close();
      }
    };
    const first = await openSession();
    const second = await openSession();
    expect([first.status, second.status]).toEqual([0, 0]);
    expect(second.sidc.toString('hex')).not.toBe(first.sidc.toString('hex'));
    expect(b.bmc.sessionCount).toBe(2);
  });
});
