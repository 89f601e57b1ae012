import { type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A loopback TCP relay in front of a server (the broker, the database) that a test can switch:
 * while `open` is false every connection is cut at once, as if nothing were listening there; once
 * open, connections are piped to the target. For testing how a service waits for a dependency.
 */
export class TcpRelay {
  open = false;
  /** Connections refused while closed. */
  refused = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly target: { host: string; port: number }) {}

  /** Listens on a free loopback port; returns it. */
  async start(): Promise<number> {
    this.server = createServer((client) => {
      if (!this.open) {
        this.refused++;
        client.destroy();
        return;
      }
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('relay has no port');
    return address.port;
  }

  /** Closes the relay and cuts every connection through it (as a broker going away would). */
  cut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
