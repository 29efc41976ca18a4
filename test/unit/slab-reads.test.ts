// Reads into slabs (proxy/slab-reads.ts) on a real socket: every chunk keeps what it was delivered with for as long as
// it is held, across slabs, large and small reads, and a reader that pauses and resumes.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { slabReads } from '../../proxy/slab-reads.js';

describe('slab reads', () => {
  it('hand out chunks that stay as they were delivered, and carry every byte in order', async () => {
    // Writes from a byte to well over a slab, so reads both share slabs and need fresh ones.
    const writes = Array.from({ length: 400 }, (_, i) => randomBytes(i % 7 === 0 ? 100_000 : 1 + ((i * 7919) % 3000)));
    const server = net.createServer((socket) => {
      for (const write of writes) socket.write(write);
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const chunks: Buffer[] = [];
    const copies: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const socket: net.Socket = net.connect({
        host: '127.0.0.1',
        port: (server.address() as net.AddressInfo).port,
        onread: slabReads((chunk) => {
          chunks.push(chunk);
          copies.push(Buffer.from(chunk));
          // Now and then the reader stops for a while, as a session does while its client is slow.
          if (chunks.length % 10 === 0) {
            socket.pause();
            setTimeout(() => socket.resume(), 5);
          }
        }),
      });
      socket.on('close', () => resolve()).on('error', reject);
    });
    server.close();
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.every((chunk, i) => chunk.equals(copies[i]!))).toBe(true);
    expect(Buffer.concat(chunks).equals(Buffer.concat(writes))).toBe(true);
  });
});
