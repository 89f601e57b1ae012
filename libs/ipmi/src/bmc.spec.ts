import {
  Cmd,
  NetFn,
  PayloadType,
  Privilege,
  SUITE_3,
  SimulatedMachine,
  VirtualBmc,
  type V20Packet,
  decodeOpenSessionResponse,
  decodePacket,
  decodeRakp2,
  decodeResponse,
  encodeOpenSessionRequest,
  encodeRakp1,
  encodeRakp3,
  encodeRequest,
  encodeV20,
  kuid,
  openV20,
  rakpProofs,
  type SessionKeys,
} from '.';

// The virtual BMC driven datagram by datagram (VirtualBmc.receive), no socket: the console side
// is built from the codec, the BMC's randomness is fixed so every byte is reproducible.
const PEER = '192.0.2.10:623';
const USER = 'admin';
const PASSWORD = 'S3cret-pw';

function fixedRandom(): (n: number) => Buffer {
  let next = 1;
  return (n) => Buffer.from(Array.from({ length: n }, () => next++ & 0xff));
}

/** A console that logs in to `bmc` with `role` and then sends requests in the session. */
async function login(bmc: VirtualBmc, role: number) {
  const sidm = Buffer.from([0xa0, 0xa1, 0xa2, 0xa3]);
  const open = await bmc.receive(
    encodeV20({
      payloadType: PayloadType.OPEN_SESSION_REQUEST,
      sessionId: 0,
      seq: 0,
      payload: encodeOpenSessionRequest({ tag: 1, maxPriv: 0, sidm, algorithms: SUITE_3.algorithms }),
    }),
    PEER,
  );
  const sidc = decodeOpenSessionResponse((decodePacket(open!) as V20Packet).payload).sidc;
  const rm = Buffer.alloc(16, 0x5a);
  const user = Buffer.from(USER);
  const r2 = decodeRakp2((decodePacket((await bmc.receive(rakp1(sidc, role, user, rm), PEER))!) as V20Packet).payload);
  expect(r2.status).toBe(0);
  const proofs = rakpProofs(kuid(PASSWORD), { sidm, sidc, rm, rc: r2.rc, guid: r2.guid, role, user }, SUITE_3);
  const r4 = await bmc.receive(
    encodeV20({
      payloadType: PayloadType.RAKP3,
      sessionId: 0,
      seq: 0,
      payload: encodeRakp3({ tag: 4, status: 0, sidc, authCode: proofs.rakp3 }),
    }),
    PEER,
  );
  expect(r4).toBeDefined();
  const keys: SessionKeys & { suite: typeof SUITE_3 } = { ...proofs.keys, suite: SUITE_3 };
  let seq = 0;
  /** One request in the session; the completion code of the answer, or 'dropped'. */
  const send = async (netFn: number, cmd: number, data: number[] = []): Promise<number | 'dropped'> => {
    seq++;
    const reply = await bmc.receive(
      encodeV20({
        payloadType: PayloadType.IPMI,
        sessionId: sidc.readUInt32LE(0),
        seq,
        payload: encodeRequest({ netFn, cmd, rqSeq: seq & 0x3f, data: Buffer.from(data) }),
        keys,
        iv: Buffer.alloc(16, seq),
      }),
      PEER,
    );
    if (!reply) return 'dropped';
    return decodeResponse(openV20(decodePacket(reply) as V20Packet, keys)).cc;
  };
  return { sidc, send };
}

function rakp1(sidc: Buffer, role: number, user: Buffer, rm = Buffer.alloc(16, 0x66)): Buffer {
  return encodeV20({
    payloadType: PayloadType.RAKP1,
    sessionId: 0,
    seq: 0,
    payload: encodeRakp1({ tag: 9, sidc, rm, role, user }),
  });
}

describe('VirtualBmc', () => {
  let bmc: VirtualBmc;
  let machine: SimulatedMachine;
  beforeEach(() => {
    machine = new SimulatedMachine();
    bmc = new VirtualBmc({ port: 0, users: { [USER]: PASSWORD }, machine, random: fixedRandom() });
  });

  it('ignores an unauthenticated RAKP 1 naming an established session: the session goes on', async () => {
    const s = await login(bmc, Privilege.ADMINISTRATOR);
    expect(await s.send(NetFn.APP, Cmd.GET_DEVICE_ID)).toBe(0);
    // RAKP 1 (payload type 0x12) for the session's id with an unknown user name "x": the bytes an
    // attacker who saw the session id sends. The BMC used to delete the session and answer 0x0d.
    const forged = rakp1(s.sidc, Privilege.ADMINISTRATOR, Buffer.from('x'));
    expect(forged.toString('hex')).toBe(
      '0600ff07' +
        '06' +
        '12' +
        '00000000' +
        '00000000' +
        '1d00' + // RMCP, RMCP+ header, 29 payload bytes
        '09000000' +
        s.sidc.toString('hex') +
        '66'.repeat(16) +
        '04000001' +
        '78',
    );
    expect(await bmc.receive(forged, '198.51.100.7:40000')).toBeUndefined();
    // Same with the real user name (a re-key attempt): still ignored.
    expect(await bmc.receive(rakp1(s.sidc, Privilege.ADMINISTRATOR, Buffer.from(USER)), PEER)).toBeUndefined();
    expect(bmc.sessionCount).toBe(1);
    expect(await s.send(NetFn.APP, Cmd.GET_DEVICE_ID)).toBe(0);
  });

  it('ignores a RAKP 3 with a bad proof for an established session', async () => {
    const s = await login(bmc, Privilege.ADMINISTRATOR);
    const bad = encodeV20({
      payloadType: PayloadType.RAKP3,
      sessionId: 0,
      seq: 0,
      payload: encodeRakp3({ tag: 4, status: 0, sidc: s.sidc, authCode: Buffer.alloc(20) }),
    });
    expect(await bmc.receive(bad, PEER)).toBeUndefined();
    expect(await s.send(NetFn.APP, Cmd.GET_DEVICE_ID)).toBe(0);
  });

  it.each([
    ['USER', Privilege.USER],
    ['CALLBACK', Privilege.CALLBACK],
  ])('a %s session gets 0xD4 for chassis control and set boot device', async (_name, role) => {
    const s = await login(bmc, role);
    // Reading the power state is a user's right, not a callback session's.
    expect(await s.send(NetFn.CHASSIS, Cmd.GET_CHASSIS_STATUS)).toBe(role === Privilege.USER ? 0 : 0xd4);
    expect(await s.send(NetFn.APP, Cmd.SET_SESSION_PRIVILEGE, [Privilege.ADMINISTRATOR])).toBe(0x81);
    expect(await s.send(NetFn.CHASSIS, Cmd.CHASSIS_CONTROL, [0x01])).toBe(0xd4);
    expect(await s.send(NetFn.CHASSIS, Cmd.SET_SYSTEM_BOOT_OPTIONS, [0x05, 0x80, 0x04])).toBe(0xd4);
    expect(machine.isPoweredOn()).toBe(false);
    expect(machine.getBootFlags().valid).toBe(false);
  });

  it('an administrator session controls the chassis once it has raised its operating privilege', async () => {
    const s = await login(bmc, Privilege.ADMINISTRATOR);
    expect(await s.send(NetFn.CHASSIS, Cmd.CHASSIS_CONTROL, [0x01])).toBe(0xd4); // still at USER
    expect(await s.send(NetFn.APP, Cmd.SET_SESSION_PRIVILEGE, [Privilege.ADMINISTRATOR])).toBe(0);
    expect(await s.send(NetFn.CHASSIS, Cmd.CHASSIS_CONTROL, [0x01])).toBe(0);
    expect(await s.send(NetFn.CHASSIS, Cmd.SET_SYSTEM_BOOT_OPTIONS, [0x05, 0x80, 0x04])).toBe(0);
    expect(machine.isPoweredOn()).toBe(true);
    expect(machine.getBootFlags()).toMatchObject({ device: 'pxe', valid: true });
  });
});
