import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DatagramSocket, IpmiClient } from './client';
import { PayloadType, decodePacket } from './packet';

/**
 * The client against a recorded BMC: the b2c datagrams of a real session (pyghmi client ↔ pyghmi
 * fake BMC) are played back in order, and the client's random inputs (console session id, Rm,
 * AES IVs) are the recorded ones: it must then emit the recorded c2b datagrams byte for byte.
 */
const capture = readFileSync(join(__dirname, '../test-fixtures/fakebmc-pyghmi-get-power.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { dir: string; hex: string })
  .map((w) => ({ dir: w.dir, bytes: Buffer.from(w.hex, 'hex') }));

class ReplayBmc extends EventEmitter implements DatagramSocket {
  readonly sent: Buffer[] = [];
  private next = 0;
  send(msg: Buffer, port: number, address: string): void {
    this.sent.push(msg);
    // Answer with the recorded reply that follows the request we are at.
    while (this.next < capture.length && capture[this.next].dir !== 'c2b') this.next++;
    this.next++;
    const reply = capture[this.next];
    if (reply?.dir === 'b2c') setImmediate(() => this.emit('message', reply.bytes, { address, port }));
  }
  close(): void {}
}

/** The randoms the recording's client used, in the order our client consumes them. */
function recordedRandoms(): Buffer[] {
  const out: Buffer[] = [];
  for (const w of capture.filter((x) => x.dir === 'c2b')) {
    const p = decodePacket(w.bytes);
    if (p.kind !== 'v2.0') continue;
    if (p.payloadType === PayloadType.OPEN_SESSION_REQUEST) out.push(p.payload.subarray(4, 8));
    if (p.payloadType === PayloadType.RAKP1) out.push(p.payload.subarray(8, 24));
    if (p.payloadType === PayloadType.IPMI) out.push(p.payload.subarray(0, 16));
  }
  return out;
}

it('logs in and reads the power state emitting the recorded bytes', async () => {
  const socket = new ReplayBmc();
  const randoms = recordedRandoms();
  const client = new IpmiClient({
    cipherSuites: [3],
    socket,
    random: (n) => {
      const r = randoms.shift()!;
      expect(r.length).toBe(n);
      return r;
    },
  });
  const status = await client.powerStatus({ host: '127.0.0.1', port: 9011, user: 'admin', password: 'password' });
  expect(status.powerOn).toBe(true);
  const recorded = capture.filter((w) => w.dir === 'c2b').map((w) => w.bytes.toString('hex'));
  // Get Channel Auth Cap, Open Session, RAKP1, RAKP3, Set Session Privilege, Get Device ID, Get Chassis Status.
  expect(socket.sent.map((b) => b.toString('hex'))).toEqual(recorded.slice(0, 7));
});
