// Reads into slabs (proxy/slab-reads.ts) on a real socket: every chunk keeps what it was delivered with for as long as
// it is held, across slabs, large and small reads, and a reader that pauses and resumes; and a reader whose peer fell
// quiet waits in a small room, holding no slab.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { IDLE_ROOM_BYTES, slabReads } from '../../proxy/slab-reads.js';

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
          return false;
        }, () => chunks.length % 3 === 0),
      });
      socket.on('close', () => resolve()).on('error', reject);
    });
    server.close();
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.every((chunk, i) => chunk.equals(copies[i]!))).toBe(true);
    expect(Buffer.concat(chunks).equals(Buffer.concat(writes))).toBe(true);
  });
});

describe('a slab reader that lets go of chunks', () => {
  it('reads the next chunk into the memory of one it let go of, never into that of one it holds', async () => {
    const writes = Array.from({ length: 400 }, (_, i) => randomBytes(i % 7 === 0 ? 100_000 : 1 + ((i * 7919) % 3000)));
    const server = net.createServer((socket) => {
      for (const write of writes) socket.write(write);
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const held: Array<[Buffer, Buffer]> = [];
    const copies: Buffer[] = [];
    let reused = 0;
    let last: Buffer | undefined;
    await new Promise<void>((resolve, reject) => {
      const socket: net.Socket = net.connect({
        host: '127.0.0.1',
        port: (server.address() as net.AddressInfo).port,
        onread: slabReads((chunk) => {
          if (last !== undefined && chunk.buffer === last.buffer && chunk.byteOffset === last.byteOffset) reused++;
          copies.push(Buffer.from(chunk));
          const letGo = copies.length % 3 !== 0;
          last = letGo ? chunk : undefined;
          if (!letGo) held.push([chunk, Buffer.from(chunk)]);
          return letGo;
        }, () => copies.length % 5 === 0),
      });
      socket.on('close', () => resolve()).on('error', reject);
    });
    server.close();
    expect(reused).toBeGreaterThan(10);
    expect(held.every(([chunk, copy]) => chunk.equals(copy))).toBe(true);
    expect(Buffer.concat(copies).equals(Buffer.concat(writes))).toBe(true);
  });
});

describe('a slab reader whose peer fell quiet', () => {
  it('reads into a small room of the shared pool until more than that comes, then into a slab again', async () => {
    let peer: net.Socket | undefined;
    const server = net.createServer((socket) => (peer = socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const chunks: Buffer[] = [];
    let received = 0;
    let arrived = (): void => {};
    const socket = net.connect({
      host: '127.0.0.1',
      port: (server.address() as net.AddressInfo).port,
      onread: slabReads(
        (chunk) => {
          chunks.push(chunk);
          received += chunk.length;
          arrived();
          return false;
        },
        (chunk) => chunk.toString('latin1').endsWith('END'),
      ),
    });
    await new Promise((resolve) => socket.once('connect', resolve));
    while (!peer) await new Promise((resolve) => setImmediate(resolve));
    /** The chunks `data` arrived in. */
    const send = async (data: string): Promise<Buffer[]> => {
      const from = chunks.length;
      const until = received + data.length;
      const whole = new Promise<void>((resolve) => (arrived = () => received >= until && resolve()));
      peer!.write(data);
      await whole;
      return chunks.slice(from);
    };
    const inSlab = (chunk: Buffer): boolean => chunk.buffer.byteLength > Buffer.poolSize;
    try {
      const burst = await send('x'.repeat(50_000));
      expect(inSlab(burst[0]!)).toBe(false);
      expect(burst[0]!.length).toBe(IDLE_ROOM_BYTES);
      expect(burst.slice(1).some(inSlab)).toBe(true);
      await send('last rows, then END');
      const [next, ...rest] = await send('the next answer');
      expect(rest).toEqual([]);
      expect(inSlab(next!)).toBe(false);
      expect(next!.toString()).toBe('the next answer');
    } finally {
      socket.destroy();
      server.close();
    }
  });
});
