import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  kuid,
  rakp2AuthCode,
  rakp3AuthCode,
  rakp4Icv,
  safeEqual,
  sessionKeys,
  type RakpFields,
  type SessionKeys,
} from './crypto';
import { MalformedPacket, checksum, decodeRequest, decodeResponse, encodeRequest, encodeResponse } from './message';
import { PayloadType, type V20Packet, decodePacket, encodeV15, encodeV20, openV20 } from './packet';
import { SUITE_3 } from './crypto';
import {
  decodeOpenSessionRequest,
  decodeOpenSessionResponse,
  decodeRakp1,
  decodeRakp2,
  decodeRakp3,
  decodeRakp4,
  encodeOpenSessionRequest,
  encodeOpenSessionResponse,
  encodeRakp1,
  encodeRakp2,
  encodeRakp3,
  encodeRakp4,
} from './rakp';
import { parseChassisStatus, parseDeviceId, parseGetBootFlags, encodeSetBootFlags } from './commands';

// Real RMCP+ sessions captured on loopback (ipmitool ↔ ipmi_sim, pyghmi ↔ ipmitool/fake BMC),
// user admin / password password, cipher suite 3: see test-fixtures/README.
const DIR = join(__dirname, '../test-fixtures');
const CAPTURES = readdirSync(DIR)
  .filter((f) => f.endsWith('.jsonl') && !f.endsWith('.decoded.jsonl'))
  .map((f) => f.replace('.jsonl', ''));
const lines = (f: string) =>
  readFileSync(join(DIR, f), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const hex = (h: string) => Buffer.from(h, 'hex');

describe.each(CAPTURES)('capture %s', (name) => {
  const wire: { dir: 'c2b' | 'b2c'; hex: string }[] = lines(`${name}.jsonl`);
  const decoded: Record<string, unknown>[] = lines(`${name}.decoded.jsonl`).filter((d) => d.dir);
  const f: Partial<RakpFields> = {};
  let keys: SessionKeys | undefined;

  it('has one decoded line per datagram', () => {
    expect(decoded).toHaveLength(wire.length);
  });

  it('parses every datagram, re-derives SIK/K1/K2, checks every HMAC, decrypts every payload, re-encodes byte for byte', () => {
    wire.forEach((w, i) => {
      const bytes = hex(w.hex);
      const want = decoded[i] as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      const p = decodePacket(bytes);
      if (p.kind === 'v1.5') {
        expect(want.fmt).toBe('IPMI1.5');
        expect(encodeV15(p.message)).toEqual(bytes);
        const m = w.dir === 'c2b' ? decodeRequest(p.message) : decodeResponse(p.message);
        expect(m.cmd).toBe(Number(want.msg.cmd));
        expect(m.data.toString('hex')).toBe(want.msg.data);
        return;
      }
      switch (p.payloadType) {
        case PayloadType.OPEN_SESSION_REQUEST: {
          const r = decodeOpenSessionRequest(p.payload);
          f.sidm = r.sidm;
          expect(r.algorithms).toEqual(SUITE_3.algorithms);
          expect(encodeV20({ ...p, payload: encodeOpenSessionRequest(r) })).toEqual(bytes);
          return;
        }
        case PayloadType.OPEN_SESSION_RESPONSE: {
          const r = decodeOpenSessionResponse(p.payload);
          expect(r.status).toBe(0);
          expect(r.sidm).toEqual(f.sidm);
          f.sidc = r.sidc;
          expect(r.algorithms).toEqual(SUITE_3.algorithms);
          expect(encodeV20({ ...p, payload: encodeOpenSessionResponse(r) })).toEqual(bytes);
          return;
        }
        case PayloadType.RAKP1: {
          const r = decodeRakp1(p.payload);
          expect(r.sidc).toEqual(f.sidc);
          Object.assign(f, { rm: r.rm, role: r.role, user: r.user });
          expect([r.rm.toString('hex'), `0x${r.role.toString(16)}`, r.user.toString()]).toEqual([
            want.Rm,
            want.role,
            want.user,
          ]);
          expect(encodeV20({ ...p, payload: encodeRakp1(r) })).toEqual(bytes);
          return;
        }
        case PayloadType.RAKP2: {
          const r = decodeRakp2(p.payload);
          Object.assign(f, { rc: r.rc, guid: r.guid });
          expect(safeEqual(rakp2AuthCode(kuid('password'), f as RakpFields), r.authCode)).toBe(true);
          keys = sessionKeys(kuid('password'), f as RakpFields);
          expect([keys.sik, keys.k1, keys.k2].map((k) => k.toString('hex'))).toEqual([want.SIK, want.K1, want.K2]);
          expect(encodeV20({ ...p, payload: encodeRakp2(r) })).toEqual(bytes);
          return;
        }
        case PayloadType.RAKP3: {
          const r = decodeRakp3(p.payload);
          expect(r.authCode).toEqual(rakp3AuthCode(kuid('password'), f as RakpFields));
          expect(encodeV20({ ...p, payload: encodeRakp3(r) })).toEqual(bytes);
          return;
        }
        case PayloadType.RAKP4: {
          const r = decodeRakp4(p.payload);
          expect(r.icv).toEqual(rakp4Icv(keys!.sik, f as RakpFields));
          expect(encodeV20({ ...p, payload: encodeRakp4(r) })).toEqual(bytes);
          return;
        }
        case PayloadType.IPMI: {
          const plain = openV20(p, keys!);
          expect(p.sessionId).toBe(Number(want.session_id));
          expect(p.seq).toBe(want.seq);
          const m = w.dir === 'c2b' ? decodeRequest(plain) : decodeResponse(plain);
          expect([m.netFn, m.cmd, m.rqSeq, m.data.toString('hex')]).toEqual([
            Number(want.msg.netfn),
            Number(want.msg.cmd),
            want.msg.seq,
            want.msg.data,
          ]);
          if (w.dir === 'b2c') expect((m as { cc: number }).cc).toBe(Number(want.msg.completion_code));
          // The same IV, keys and message give back the captured bytes.
          const again = w.dir === 'c2b' ? encodeRequest(m) : encodeResponse(m as ReturnType<typeof decodeResponse>);
          expect(again).toEqual(plain);
          expect(
            encodeV20({
              payloadType: 0,
              sessionId: p.sessionId,
              seq: p.seq,
              payload: again,
              keys,
              iv: p.payload.subarray(0, 16),
            }),
          ).toEqual(bytes);
          return;
        }
        default:
          throw new Error(`unexpected payload type ${p.payloadType}`);
      }
    });
  });
});

describe('the golden example (reference §7)', () => {
  it('decodes Get Chassis Status: power off', () => {
    const d = lines('golden-ipmitool-cs3-power-status.decoded.jsonl').find(
      (x) => x.dir === 'b2c' && x.msg?.name === 'Get Chassis Status',
    );
    expect(parseChassisStatus(hex(d.msg.data))).toMatchObject({ powerOn: false, restorePolicy: 'always-off' });
  });
  it('decodes ipmi_sim Get Device ID', () => {
    expect(parseDeviceId(hex('00030908029f911200020f00000000'))).toEqual({
      deviceId: 0,
      deviceRevision: 3,
      firmware: '9.08',
      ipmiVersion: '2.0',
      manufacturerId: 0x1291,
      productId: 0x0f02,
    });
  });
  it('boot flags: PXE next boot is 05 80 04 00 00 00, as ipmitool sends', () => {
    expect(encodeSetBootFlags({ device: 'pxe', persistent: false, efi: false }).toString('hex')).toBe('058004000000');
    expect(encodeSetBootFlags({ device: 'disk', persistent: true, efi: true }).toString('hex')).toBe('05e008000000');
    expect(parseGetBootFlags(hex('01058004000000'))).toEqual({
      device: 'pxe',
      persistent: false,
      efi: false,
      valid: true,
    });
  });
});

describe('malformed input', () => {
  const golden = lines('golden-ipmitool-cs3-power-status.jsonl').map((w: { hex: string }) => hex(w.hex));

  it.each([
    ['empty', Buffer.alloc(0)],
    ['not RMCP', Buffer.from('hello world, not ipmi')],
    ['truncated v1.5', golden[0].subarray(0, 12)],
    ['v1.5 length past the end', Buffer.concat([golden[0].subarray(0, 13), Buffer.from([200])])],
    ['truncated RMCP+ header', golden[2].subarray(0, 12)],
    ['RMCP+ length past the end', golden[2].subarray(0, golden[2].length - 1)],
    ['truncated session packet trailer', golden[8].subarray(0, golden[8].length - 13)],
  ])('%s → MalformedPacket', (_n, b) => {
    expect(() => decodePacket(b)).toThrow(MalformedPacket);
  });

  it('a bad HMAC or a flipped ciphertext bit is refused', () => {
    const keys = { k1: Buffer.alloc(20, 1), k2: Buffer.alloc(20, 2) };
    const good = encodeV20({
      payloadType: 0,
      sessionId: 7,
      seq: 1,
      payload: encodeRequest({ netFn: 0, cmd: 1, rqSeq: 1, data: Buffer.alloc(0) }),
      keys,
      iv: Buffer.alloc(16, 9),
    });
    expect(decodeRequest(openV20(decodePacket(good) as V20Packet, keys))).toMatchObject({ netFn: 0, cmd: 1 });
    const flipped = Buffer.from(good);
    flipped[30] ^= 1;
    expect(() => openV20(decodePacket(flipped) as V20Packet, keys)).toThrow(/AuthCode/);
    expect(() => openV20(decodePacket(good) as V20Packet, { ...keys, k1: Buffer.alloc(20, 3) })).toThrow(/AuthCode/);
  });

  it('bad IPMI checksums are refused', () => {
    const m = encodeRequest({ netFn: 6, cmd: 1, rqSeq: 3, data: Buffer.from([1, 2]) });
    expect(checksum(m.subarray(3))).toBe(0);
    const bad = Buffer.from(m);
    bad[bad.length - 1] ^= 0xff;
    expect(() => decodeRequest(bad)).toThrow(/checksum/);
    expect(() => decodeResponse(m.subarray(0, 5))).toThrow(/too short/);
  });

  it('setup payloads that are too short are refused', () => {
    for (const fn of [decodeOpenSessionRequest, decodeRakp1, decodeRakp3])
      expect(() => fn(Buffer.alloc(3))).toThrow(MalformedPacket);
    expect(() => decodeRakp2(Buffer.from([0, 0, 0, 0, 1, 2, 3, 4, 5]))).toThrow(/too short/);
  });
});
