/**
 * The DHCP responder on UDP: port 67 (and 4011 in proxy mode), broadcast replies, one decision
 * per datagram from the pure `respond()`. Malformed datagrams are counted and dropped; nothing a
 * client sends can stop the server.
 *
 * On a host with several networks the wildcard socket hears every interface, but a limited
 * broadcast (255.255.255.255) sent from it follows the routing table (the default route, often
 * the management network). With `replyAddress` (an address of the boot network's interface) the
 * replies to port 67 leave from a second socket bound to that address: Linux sends a limited
 * broadcast from a socket bound to a local address out of that address's interface.
 */
import { createSocket, type Socket } from 'node:dgram';
import { MalformedDhcp, decodeDhcp, encodeDhcp } from './codec';
import { type DhcpLogEntry, PXE_PORT, type ResponderContext, respond } from './responder';

export interface DhcpServerOptions {
  address?: string;
  /** 67 normally; a high port for unprivileged test runs. */
  port: number;
  /**
   * Send the replies to port-67 requests from this address (an address of pxe_interface), so
   * broadcasts leave by its interface; unset, they leave from the listening socket.
   */
  replyAddress?: string;
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
  private replySocket?: Socket;
  /** Datagrams that were not DHCP, or that we could not answer. */
  dropped = 0;

  constructor(private readonly o: DhcpServerOptions) {}

  async start(): Promise<void> {
    const address = this.o.address ?? '0.0.0.0';
    // Replies go from the receiving socket, except for port 67 with a reply socket (set just below).
    const main = await this.listen(this.o.port, address, (s) => this.replySocket ?? s);
    this.sockets.push(main);
    if (this.o.context.config.mode === 'proxy')
      this.sockets.push(await this.listen(this.o.proxyPort ?? PXE_PORT, address, (s) => s));
    if (this.o.replyAddress && this.o.replyAddress !== address) {
      // Same port as the main socket (a client checks where the reply came from); it also
      // receives what is unicast to replyAddress (renewals, relays), the more specific binding.
      const port = main.address().port;
      this.replySocket = await this.listen(port, this.o.replyAddress, (s) => s);
    }
  }

  /** A UDP socket on address:port whose datagrams are answered from `out(socket)`. */
  private async listen(port: number, address: string, out: (s: Socket) => Socket): Promise<Socket> {
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('message', (msg, rinfo) => this.onDatagram(out(s), port, msg, rinfo));
    s.on('error', (e) => this.o.onError?.(e));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, address, () => {
        s.off('error', reject);
        s.setBroadcast(true);
        resolve();
      });
    });
    return s;
  }

  get ports(): number[] {
    return this.sockets.map((s) => s.address().port);
  }

  async stop(): Promise<void> {
    const all = [...this.sockets.splice(0), ...(this.replySocket ? [this.replySocket] : [])];
    this.replySocket = undefined;
    for (const s of all) await new Promise<void>((r) => s.close(() => r()));
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
