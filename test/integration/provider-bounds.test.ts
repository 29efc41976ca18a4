// Review 4's provider answers that sank the proxy while staying under the old bounds: a chat answer padded with tiny
// JSON values (the SDK's JSON.parse held the event loop, which every session shares), and an answer that trickles
// (undici's body timeout restarts at every chunk, so the call held a process-wide model-call slot for ever).

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { configureProviderHttp } from '../../src/providers/http.js';
import { embedTexts, providerFor } from '../../src/providers/index.js';
import { setProcessCallLimit } from '../../src/providers/limits.js';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';

const shared = proxyAndFakeProvider();
const MiB = 1024 ** 2;

afterEach(() => configureProviderHttp({}));

/** A server of one's own on loopback, closed after the test, and the number of requests it has received. */
async function ownServer(handler: http.RequestListener): Promise<{ baseUrl: string; received: () => number }> {
  const sockets = new Set<Socket>();
  let received = 0;
  const server = http.createServer((request, response) => (received++, handler(request, response)));
  server.on('connection', (socket) => (sockets.add(socket), socket.on('close', () => sockets.delete(socket))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(() => new Promise((resolve) => (sockets.forEach((socket) => socket.destroy()), server.close(() => resolve()))));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, received: () => received };
}

describe('a chat answer padded with tiny JSON values', () => {
  it('is stopped at the chat cap (8 MiB by default) before any of it is parsed: 54000, heap spared', async () => {
    const head = '{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"pad":[';
    // 24 MiB: under the old single cap of 128 MiB, and 5 s of JSON.parse on the event loop.
    const pad = Buffer.from('{},'.repeat(8 * MiB));
    const { baseUrl } = await ownServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write(head);
        response.write(pad);
        response.end('{}]}');
      });
    });
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { base_url: baseUrl, max_retries: 0 });
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    const sampler = setInterval(() => (heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)), 5);
    try {
      const outcome = await client.query(`SELECT pg_llm_chat('llm', 'hi') AS a`).catch((error: unknown) => error);
      expect(outcome).toMatchObject({ code: '54000', message: expect.stringContaining(`limit of ${8 * MiB} bytes`), hint: expect.stringContaining('--max-response-bytes') });
    } finally {
      clearInterval(sampler);
    }
    // Parsed whole, 8 million empty objects took about half a GiB of heap.
    expect(heapPeak - heapBefore).toBeLessThan(200 * MiB);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  }, 60_000);

  it('embeddings keep their own, larger cap (--max-embedding-response-bytes)', async () => {
    configureProviderHttp({ maxResponseBytes: 1000 });
    const config = { provider: 'openai_compatible', model_name: 'm', embedding_model: 'emb-test', base_url: shared.fake.baseUrl };
    const texts = Array.from({ length: 40 }, (_, i) => `text number ${i}`);
    const signal = new AbortController().signal;
    expect((await embedTexts(providerFor('big-embeddings', config), texts, signal)).vectors).toHaveLength(40);

    configureProviderHttp({ maxEmbeddingResponseBytes: 1000 });
    await expect(embedTexts(providerFor('big-embeddings', config), texts, signal)).rejects.toMatchObject({
      sqlstate: '54000',
      hint: expect.stringContaining('--max-embedding-response-bytes'),
    });
  });
});

describe('an answer that trickles', () => {
  it.each([
    ['a whole answer', 'application/json', `SELECT pg_llm_chat('llm', 'hi') AS a`],
    ['a stream of SSE comments', 'text/event-stream', `SELECT chunk FROM pg_llm_chat_stream('llm', 'hi')`],
  ])('%s ends at timeout_ms with 39001 and gives back its model-call slot', async (_, type, statement) => {
    const { baseUrl, received } = await ownServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': type });
        response.write(type === 'application/json' ? '{"id":"c"' : ': hello\n\n');
        const timer = setInterval(() => response.write(type === 'application/json' ? ' ' : ': ping\n\n'), 200);
        response.on('close', () => clearInterval(timer));
      });
    });
    // One slot for the whole proxy: the trickling call holds it, and another role's call needs it after.
    setProcessCallLimit(1);
    afterThisTest(async () => setProcessCallLimit(256));
    const { client, name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { base_url: baseUrl, max_retries: 0, timeout_ms: 1000 });
    const other = new pg.Client(connection(shared.proxy.port, 'trust', name));
    await other.connect();
    afterThisTest(() => other.end());
    const fakeConfig = JSON.stringify({ provider: 'openai', model_name: 'gpt-test', base_url: shared.fake.baseUrl, max_retries: 0 });
    await other.query(`SELECT pg_llm_add_model(false, 'openai', 'other', 'sk-other-0123456789', $1)`, [fakeConfig]);

    const trickled = client.query(statement).catch((error: unknown) => error);
    await expect.poll(received).toBe(1);
    const waiting = other.query(`SELECT pg_llm_chat('other', 'hi') AS a`);
    // A whole answer may meet the SDK's own timeout first, which says the same thing: 39001, raise timeout_ms.
    expect(await trickled).toMatchObject({ code: '39001', hint: expect.stringContaining('Raise timeout_ms') });
    expect((await waiting).rows).toEqual([{ a: 'default answer' }]);
  }, 30_000);
});
