// An upstream that answers the proxy's SSLRequest with 'S' and then says nothing more: a TLS handshake that never
// finishes, as from a server that hangs or a network that drops everything after the first packets.

import net from 'node:net';

export class StalledTlsUpstream {
  /** Connections that got their 'S'. */
  stalled = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {}

  static async start(): Promise<StalledTlsUpstream> {
    const upstream: StalledTlsUpstream = new StalledTlsUpstream(
      net.createServer((socket) => {
        upstream.sockets.add(socket);
        socket.on('error', () => {});
        socket.once('data', () => {
          socket.write('S');
          upstream.stalled++;
        });
      }),
    );
    await new Promise<void>((resolve) => upstream.server.listen(0, '127.0.0.1', resolve));
    return upstream;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
