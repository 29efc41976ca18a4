// A TCP relay between the proxy (or a worker) and PostgreSQL whose connections a test can cut, to play a dying
// upstream (a network failure or a crashed server) without disturbing the shared test cluster, or hold back (a cancel
// slow to arrive), and which counts what PostgreSQL sends through it and what it is asked (upstream-turns.ts).

import net from 'node:net';
import { UpstreamTurns } from './upstream-turns.js';

export class TcpRelay {
  private readonly server: net.Server;
  private readonly links: Array<{ inbound: net.Socket; outbound: net.Socket }> = [];
  /** What PostgreSQL has sent through the relay, all connections together. */
  bytesFromTarget = 0;
  /** The messages and round trips PostgreSQL was asked for through the relay. */
  readonly requests = new UpstreamTurns();

  /** While held (hold()): the connections made since, unread and not yet connected to PostgreSQL. */
  private held: net.Socket[] | undefined;

  private constructor(private readonly targetPort: number) {
    this.server = net.createServer((inbound) => {
      if (!this.held) return this.link(inbound);
      // Closed only once the server closes its end, as without the relay: a CancelRequest's sender waits for that.
      inbound.allowHalfOpen = true;
      inbound.on('error', () => inbound.destroy());
      this.held.push(inbound);
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

  /**
   * Holds the connections made from now on (a CancelRequest on its way, say) before PostgreSQL, their bytes unread,
   * until the function returned lets them through; it resolves once they are closed (the server has taken a cancel
   * then). `heldConnections` counts them meanwhile.
   */
  hold(): () => Promise<void> {
    const held: net.Socket[] = [];
    this.held = held;
    return async () => {
      if (this.held === held) this.held = undefined;
      const through = held.splice(0);
      const closed = through.map((inbound) => new Promise((resolve) => inbound.once('close', resolve)));
      for (const inbound of through) this.link(inbound);
      await Promise.all(closed);
    };
  }

  get heldConnections(): number {
    return this.held?.length ?? 0;
  }

  /** Abruptly cuts the nth connection made through the relay (as a network failure would). */
  cut(index: number): void {
    const link = this.links[index];
    if (!link) throw new Error(`no connection ${index}`);
    link.inbound.destroy();
    link.outbound.destroy();
  }

  private link(inbound: net.Socket): void {
    const outbound = net.connect({ host: '127.0.0.1', port: this.targetPort });
    inbound.pipe(outbound).pipe(inbound);
    outbound.on('data', (data: Buffer) => (this.bytesFromTarget += data.length));
    this.requests.watch(inbound, outbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    this.links.push({ inbound, outbound });
  }

  async stop(): Promise<void> {
    for (const inbound of this.held?.splice(0) ?? []) inbound.destroy();
    for (const link of this.links) {
      link.inbound.destroy();
      link.outbound.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
