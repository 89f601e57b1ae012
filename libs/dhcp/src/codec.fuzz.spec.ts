import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  MalformedDhcp,
  clientArch,
  clientId,
  decodeDhcp,
  encodeDhcp,
  ipxeEncapsulated,
  leaseTime,
  maxMessageSize,
  messageType,
  parameterRequestList,
  pxeVendorOptions,
  requestedIp,
  routers,
  serverId,
  subnetMask,
  userClass,
  vendorClass,
  type DhcpPacket,
} from './codec';
import { InMemoryLeaseStore } from './leases';
import { respond, type DhcpResponderConfig, type ResponderContext } from './responder';
import { LAB_CONFIG, LAB_IPXE_SCRIPT } from '../test/lab-config';

/** xorshift32: small, fast, seedable; the seed makes every failure reproducible. */
function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const SEED = 0xd4c9;
const N = 100_000;
const DIR = join(__dirname, '../test-fixtures');
const SEEDS = readdirSync(DIR)
  .filter((f) => f.endsWith('.hex'))
  .map((f) =>
    Buffer.from(
      readFileSync(join(DIR, f), 'utf8')
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .join('')
        .trim(),
      'hex',
    ),
  );

const config: DhcpResponderConfig = { ...LAB_CONFIG, ipxeScriptUrl: LAB_IPXE_SCRIPT };

const VIEWS: ((p: DhcpPacket) => unknown)[] = [
  messageType,
  requestedIp,
  serverId,
  subnetMask,
  routers,
  leaseTime,
  maxMessageSize,
  parameterRequestList,
  vendorClass,
  clientId,
  clientArch,
  userClass,
  ipxeEncapsulated,
  pxeVendorOptions,
];

describe(`decodeDhcp fuzz (seed 0x${SEED.toString(16)}, ${N} inputs)`, () => {
  it('throws only MalformedDhcp; whatever decodes re-encodes byte for byte; views and respond() never crash', () => {
    const next = prng(SEED);
    const rnd = () => next() / 4294967296;
    const int = (n: number) => Math.floor(rnd() * n);
    const bytes = (n: number) => {
      const b = Buffer.alloc(n + 3);
      for (let i = 0; i < n; i += 4) b.writeUInt32LE(next(), i);
      return b.subarray(0, n);
    };
    const interesting = [0, 1, 2, 3, 6, 16, 17, 52, 53, 55, 60, 67, 77, 93, 127, 128, 175, 254, 255];

    /** Valid header and cookie, then options made of random TLVs (sometimes lying about lengths). */
    const structured = (): Buffer => {
      const head = bytes(240);
      head[0] = 1 + int(2);
      head[2] = int(17);
      head.writeUInt32BE(0x63825363, 236);
      if (rnd() < 0.5) head.fill(0, 44, 236);
      const parts: Buffer[] = [head];
      const count = int(12);
      for (let i = 0; i < count; i++) {
        const code = rnd() < 0.3 ? interesting[int(interesting.length)] : int(256);
        if (code === 0 || code === 255) parts.push(Buffer.from([code]));
        else if (code === 52) parts.push(Buffer.from([52, 1, int(5)]));
        else {
          const len = int(40);
          parts.push(Buffer.from([code, rnd() < 0.05 ? int(256) : len]), bytes(len));
        }
      }
      if (rnd() < 0.8) parts.push(Buffer.from([255]));
      if (rnd() < 0.5) parts.push(Buffer.alloc(int(60)));
      return Buffer.concat(parts);
    };

    const mutate = (src: Buffer): Buffer => {
      let b = Buffer.from(src);
      const n = 1 + int(8);
      for (let i = 0; i < n; i++) {
        const r = rnd();
        const at = int(Math.max(b.length, 1));
        if (r < 0.3 && b.length) b[at] ^= 1 << int(8);
        else if (r < 0.55 && b.length) b[at] = interesting[int(interesting.length)];
        else if (r < 0.7 && b.length) b[at] = int(256);
        else if (r < 0.78) b = b.subarray(0, int(b.length + 1));
        else if (r < 0.86) b = Buffer.concat([b, bytes(int(40))]);
        else if (r < 0.93) b = Buffer.concat([b.subarray(0, at), bytes(1 + int(4)), b.subarray(at)]);
        else b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(4))]);
      }
      return b;
    };

    let decoded = 0;
    let rejected = 0;
    let replies = 0;
    const reasons = new Map<string, number>();
    const ctx: ResponderContext = {
      config,
      lookup: () => ({ nodeId: 'n' }),
      leases: new InMemoryLeaseStore(config.range),
    };
    const proxyCtx: ResponderContext = { ...ctx, config: { ...config, mode: 'proxy' } };

    for (let i = 0; i < N; i++) {
      const kind = i % 10;
      const input = kind < 5 ? mutate(SEEDS[int(SEEDS.length)]) : kind < 8 ? structured() : bytes(int(700));
      let p: DhcpPacket;
      try {
        p = decodeDhcp(input);
      } catch (e) {
        if (!(e instanceof MalformedDhcp)) throw new Error(`input #${i} ${input.toString('hex')}: ${String(e)}`);
        rejected++;
        reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + 1);
        continue;
      }
      decoded++;
      const again = encodeDhcp(p);
      if (!again.equals(input)) throw new Error(`input #${i} does not round-trip: ${input.toString('hex')}`);
      for (const view of VIEWS) {
        try {
          view(p);
        } catch (e) {
          if (!(e instanceof MalformedDhcp))
            throw new Error(`view ${view.name} on input #${i} ${input.toString('hex')}: ${String(e)}`);
        }
      }
      const d = respond(p, i % 2 ? ctx : proxyCtx, {
        localPort: i % 3 ? 67 : 4011,
        source: { address: '10.77.0.60', port: 68 },
      });
      if (d.reply) {
        replies++;
        if (!d.destination) throw new Error(`reply without destination for input #${i}`);
        encodeDhcp(d.reply);
      }
    }
    // The generators must reach past the header checks, or the fuzz proves little.
    expect(decoded).toBeGreaterThan(N / 5);
    expect(rejected).toBeGreaterThan(N / 5);
    expect(replies).toBeGreaterThan(100);
    expect([...reasons.keys()].sort()).toEqual([
      'bad-cookie',
      'bad-hlen',
      'bad-op',
      'bad-overload',
      'option-truncated',
      'truncated-header',
    ]);
  });
});
