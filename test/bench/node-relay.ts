// The least a relay written for Node.js does: bytes copied both ways between each client and a connection of its
// own to PostgreSQL, reads into a buffer reused per connection, no framing and no state. The benchmark measures its
// CPU time per transaction beside the proxy's and PgBouncer's: what is left between the proxy and it is the proxy's
// own work, what is left between it and PgBouncer is the runtime's (the event loop, the stream machinery and the
// calls into it for each read and write). Run as: node node-relay.js <listen port> <PostgreSQL port>.

import net from 'node:net';

const READ_BUFFER_BYTES = 64 * 1024;

function relay(client: net.Socket, upstreamPort: number): void {
  const upstream = net.connect({
    host: '127.0.0.1',
    port: upstreamPort,
    // The buffer is read into again once the callback returns: what is written must be a copy. pgbench reads all
    // it is sent, so reading goes on without waiting for the client's side to drain.
    onread: {
      buffer: Buffer.alloc(READ_BUFFER_BYTES),
      callback: (bytes, buffer) => {
        client.write(Buffer.from(buffer.subarray(0, bytes)));
        return true;
      },
    },
  });
  client.on('data', (chunk) => upstream.write(chunk));
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
}

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
if (!listenPort || !upstreamPort) throw new Error('usage: node node-relay.js <listen port> <PostgreSQL port>');
net.createServer((client) => relay(client, upstreamPort)).listen(listenPort, '127.0.0.1');
