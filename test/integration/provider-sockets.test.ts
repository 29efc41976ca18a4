// A provider's connections are the proxy's file descriptors, which every session shares. Each model instance and
// each pgai call's settings has a client of its own, so a role calling its own server under ever new settings opens a
// connection a call; that server may ask to keep each open ("Keep-Alive: timeout=600", which undici honours up to 10
// minutes), and 160 calls a second left that many sockets open until the proxy could open none for anyone. Unused
// connections are now closed within seconds whatever the server asks.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { aiDatabase, pgaiSuite } from '../support/pgai.js';

const suite = pgaiSuite();

/** An OpenAI embeddings server that asks every client to keep its connection for 10 minutes; it never closes one. */
async function keepingServer(): Promise<{ url: string; open: () => number; total: () => number; closed: Promise<void> }> {
  const open = new Set<Socket>();
  let total = 0;
  let allClosed = (): void => {};
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive', 'keep-alive': 'timeout=600' });
      response.end(JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.5, 0.5] }], model: 'm', usage: { prompt_tokens: 1, total_tokens: 1 } }));
    });
  });
  server.keepAliveTimeout = 0;
  server.on('connection', (socket) => {
    total++;
    open.add(socket);
    socket.on('close', () => {
      open.delete(socket);
      if (open.size === 0) allClosed();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(() => new Promise<void>((resolve) => (open.forEach((socket) => socket.destroy()), server.close(() => resolve()))));
  const closed = new Promise<void>((resolve) => (allClosed = resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, open: () => open.size, total: () => total, closed };
}

describe("a provider's idle connections", () => {
  it('are closed by the proxy within seconds, however long the server asks to keep them', async () => {
    const server = await keepingServer();
    const { client } = await aiDatabase(suite);
    // A model name per call: a client, and a connection, per call.
    const calls = 40;
    const { rows } = await client.query(
      `SELECT count(ai.openai_embed('m' || i, 'x', api_key => 'sk-keep-alive-0123456789', client_config => $1)) AS n FROM generate_series(1, ${calls}) i`,
      [JSON.stringify({ base_url: server.url })],
    );
    expect(rows).toEqual([{ n: String(calls) }]);
    expect(server.total()).toBe(calls);
    // Before: every one of them stayed open for 10 minutes (this test's time runs out first).
    await server.closed;
    expect(server.open()).toBe(0);
  }, 30_000);
});
