// A TCP relay between the proxy (or a worker) and PostgreSQL whose connections a test can cut, to play a dying
// upstream (a network failure or a crashed server) without disturbing the shared test cluster, and which counts what
// PostgreSQL sends through it and what it is asked (upstream-turns.ts).

import net from 'node:net';
import { UpstreamTurns } from './upstream-turns.js';

export class TcpRelay {
  private readonly server: net.Server;
  private readonly links: Array<{ inbound: net.Socket; outbound: net.Socket }> = [];
  /** What PostgreSQL has sent through the relay, all connections together. */
  bytesFromTarget = 0;
  /** The messages and round trips PostgreSQL was asked for through the relay. */
  readonly requests = new UpstreamTurns();

  private constructor(targetPort: number) {
    this.server = net.createServer((inbound) => {
      const outbound = net.connect({ host: '127.0.0.1', port: targetPort });
      inbound.pipe(outbound).pipe(inbound);
      outbound.on('data', (data: Buffer) => (this.bytesFromTarget += data.length));
      this.requests.watch(inbound, outbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      this.links.push({ inbound, outbound });
    });
  }

  static async start(targetPort: number): Promise<TcpRelay> {
    const relay = new TcpRelay(targetPort);
    await new Promise<void>((resolve) => relay.server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get connections(): number {
    return this.links.length;
  }

  /** Abruptly cuts the nth connection made through the relay (as a network failure would). */
  cut(index: number): void {
    const link = this.links[index];
    if (!link) throw new Error(`no connection ${index}`);
    link.inbound.destroy();
    link.outbound.destroy();
  }

  async stop(): Promise<void> {
    for (const link of this.links) {
      link.inbound.destroy();
      link.outbound.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
