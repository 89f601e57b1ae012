import { createSocket, type Socket } from 'node:dgram';

/**
 * A loopback UDP relay between a client and a server that can misbehave on purpose: drop
 * datagrams, delay them, or slip garbage in. For testing what a flaky network or a slow BMC does.
 */
export interface ProxyBehaviour {
  /** Drop the n-th datagram in each direction when this returns true (n counts from 1). */
  drop?: (n: number, dir: 'c2s' | 's2c') => boolean;
  /** Delay every server→client datagram by this many ms. */
  delayMs?: number;
  /** Send this to the client before each real server→client datagram. */
  garbage?: () => Buffer;
  /** Deliver every client→server datagram twice (a replay). */
  duplicate?: boolean;
}

export class UdpProxy {
  private front?: Socket;
  private back?: Socket;
  private client?: { address: string; port: number };
  private counts = { c2s: 0, s2c: 0 };
  behaviour: ProxyBehaviour = {};

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<number> {
    this.front = createSocket('udp4');
    this.back = createSocket('udp4');
    this.front.on('message', (m, r) => {
      this.client = { address: r.address, port: r.port };
      const n = ++this.counts.c2s;
      if (this.behaviour.drop?.(n, 'c2s')) return;
      this.back!.send(m, this.target.port, this.target.host);
      if (this.behaviour.duplicate) this.back!.send(m, this.target.port, this.target.host);
    });
    this.back.on('message', (m) => {
      const n = ++this.counts.s2c;
      if (this.behaviour.drop?.(n, 's2c') || !this.client) return;
      const c = this.client;
      const deliver = () => {
        const g = this.behaviour.garbage?.();
        if (g) this.front?.send(g, c.port, c.address);
        this.front?.send(m, c.port, c.address);
      };
      if (this.behaviour.delayMs) setTimeout(deliver, this.behaviour.delayMs);
      else deliver();
    });
    await new Promise<void>((r) => this.back!.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.front!.bind(0, '127.0.0.1', () => r()));
    return this.front.address().port;
  }

  async stop(): Promise<void> {
    for (const s of [this.front, this.back]) if (s) await new Promise<void>((r) => s.close(() => r()));
    this.front = this.back = undefined;
  }
}
