/**
 * The DHCP responder on UDP: port 67 (and 4011 in proxy mode), broadcast replies, one decision
 * per datagram from the pure `respond()`. Malformed datagrams are counted and dropped; nothing a
 * client sends can stop the server.
 */
import { createSocket, type Socket } from 'node:dgram';
import { MalformedDhcp, decodeDhcp, encodeDhcp } from './codec';
import { type DhcpLogEntry, PXE_PORT, type ResponderContext, respond } from './responder';

export interface DhcpServerOptions {
  address?: string;
  /** 67 normally; a high port for unprivileged test runs. */
  port: number;
  /** Also listen on 4011 (proxy-DHCP boot requests). */
  proxyPort?: number;
  context: ResponderContext;
  onLog?(entry: DhcpLogEntry): void;
  onError?(e: Error): void;
  /** Every datagram received, before decoding (for captures). */
  onDatagram?(msg: Buffer, from: { address: string; port: number }): void;
}

export class DhcpServer {
  private sockets: Socket[] = [];
  /** Datagrams that were not DHCP, or that we could not answer. */
  dropped = 0;

  constructor(private readonly o: DhcpServerOptions) {}

  async start(): Promise<void> {
    const ports = [this.o.port, ...(this.o.context.config.mode === 'proxy' ? [this.o.proxyPort ?? PXE_PORT] : [])];
    for (const port of ports) {
      const s = createSocket({ type: 'udp4', reuseAddr: true });
      s.on('message', (msg, rinfo) => this.onDatagram(s, port, msg, rinfo));
      s.on('error', (e) => this.o.onError?.(e));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, this.o.address ?? '0.0.0.0', () => {
          s.off('error', reject);
          s.setBroadcast(true);
          resolve();
        });
      });
      this.sockets.push(s);
    }
  }

  get ports(): number[] {
    return this.sockets.map((s) => s.address().port);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  }

  private onDatagram(s: Socket, localPort: number, msg: Buffer, rinfo: { address: string; port: number }): void {
    this.o.onDatagram?.(msg, rinfo);
    try {
      const d = respond(decodeDhcp(msg), this.o.context, { localPort, source: rinfo });
      if (d.log) this.o.onLog?.(d.log);
      if (d.reply && d.destination)
        s.send(encodeDhcp(d.reply), d.destination.port, d.destination.address, (e) => e && this.o.onError?.(e));
    } catch (e) {
      this.dropped++;
      if (!(e instanceof MalformedDhcp)) this.o.onError?.(e as Error);
    }
  }
}
