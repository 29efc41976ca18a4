// Issue 12: the SDKs parsed every provider answer with one JSON.parse on the event loop, which every session shares,
// and any role may point a model at a server of its own. A 126 MB embeddings answer padded with `{}` held every
// session for minutes; a 7 MB chat answer for most of a second. Big answers are now counted, parsed and cut down in
// worker threads (src/providers/answers/). Two roles on one database: bob, whose server is hostile, and alice.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { clientOf } from '../support/pg-ai.js';
import { longestJsonParsed } from '../support/json-parsed-on-event-loop.js';
import { proxyAndFakeProvider } from '../support/models.js';
import { stallProbes } from '../support/stall-probes.js';

const MiB = 1024 ** 2;
const shared = proxyAndFakeProvider();

const CHAT_HEAD = '{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]';

/** A chat answer with a field of padding: `pad` is its items, without the brackets. */
const padded = (pad: string): Buffer => Buffer.from(`${CHAT_HEAD},"pad":[${pad}0]}`);

/** Bob's server: each answer is `body`; `sent` settles once the first has been written whole. */
async function bobsServer(body: Buffer, type = 'application/json'): Promise<{ baseUrl: string; sent: Promise<void> }> {
  const sockets = new Set<Socket>();
  let written = (): void => undefined;
  const sent = new Promise<void>((resolve) => (written = resolve));
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': type });
      response.end(body, written);
    });
  });
  server.on('connection', (socket) => (sockets.add(socket), socket.on('close', () => sockets.delete(socket))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(() => new Promise((resolve) => (sockets.forEach((socket) => socket.destroy()), server.close(() => resolve()))));
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, sent };
}

/** Alice with 'a_normal' on her server, and bob with 'b_own' on his. */
async function twoRoles(bobsBaseUrl: string, bobsConfig: Record<string, unknown> = {}): Promise<{ alice: pg.Client; bob: pg.Client }> {
  const { name } = await freshDatabase();
  const alice = await clientOf(shared.proxy, name);
  await alice.query('CREATE EXTENSION pg_llm');
  await alice.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'a_normal', NULL, $1)`, [
    JSON.stringify({ model_name: 'gpt-test', base_url: shared.fake.baseUrl, max_retries: 0 }),
  ]);
  const bob = await clientOf(shared.proxy, name, 'trust');
  await bob.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'b_own', NULL, $1)`, [
    JSON.stringify({ model_name: 'gpt-test', base_url: bobsBaseUrl, max_retries: 0, ...bobsConfig }),
  ]);
  return { alice, bob };
}

/** Alice's probes, alternately a plain query and a model call of her own. */
const probes = (alice: pg.Client) =>
  stallProbes(async (probe) => {
    const { rows } = probe % 2 ? await alice.query(`SELECT pg_llm_chat('a_normal', 'hi') AS a`) : await alice.query('SELECT 1 AS a');
    expect(rows).toEqual([{ a: probe % 2 ? 'default answer' : 1 }]);
  });

/**
 * Alice's probes while bob's answer is parsed (from when his server has sent it) against her probes before, and the
 * proxy's (this process's) peak memory over its own before meanwhile.
 */
async function probesDuring(alice: pg.Client, bob: pg.Client, sent: Promise<void>, statement: string) {
  const quiet = await probes(alice);
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 10);
  const outcome = bob.query(statement).catch((error: unknown) => error);
  await sent;
  const during = await probes(alice);
  const result = await outcome;
  clearInterval(sampler);
  const rssGrowth = rssPeak - rssBefore;
  const ms = (value: number) => `${value.toFixed(0)} ms`;
  console.log(
    `${statement}: slowest probe ${ms(during.slowestMs)} (${ms(quiet.slowestMs)} before), event loop held up to ${ms(during.delayMs)} (${ms(quiet.delayMs)} before), rss +${(rssGrowth / MiB).toFixed(0)} MiB`,
  );
  // Parsed on the event loop, a 7 MB answer held every session for most of a second on an idle host, for seconds
  // on a busy one; the bound is loose, as a busy host delays the loop too.
  expect(during.delayMs).toBeLessThan(4 * quiet.delayMs + 250);
  return { outcome: result, rssGrowth };
}

describe('a big answer of one role’s server', () => {
  it('padded with 7 MB of numbers: parsed off the event loop, cut down to what the adapter reads', async () => {
    const { baseUrl, sent } = await bobsServer(padded('0,'.repeat(3.5 * MiB)));
    const { alice, bob } = await twoRoles(baseUrl);
    const { outcome } = await probesDuring(alice, bob, sent, `SELECT pg_llm_chat('b_own', 'hi') AS a`);
    expect(outcome).toMatchObject({ rows: [{ a: 'ok' }] });
  }, 60_000);

  it('padded with 2.5 million empty objects: refused with 54000 before it is parsed, memory spared', async () => {
    const { baseUrl, sent } = await bobsServer(padded('{},'.repeat(2.5 * MiB)));
    const { alice, bob } = await twoRoles(baseUrl);
    const { outcome, rssGrowth } = await probesDuring(alice, bob, sent, `SELECT pg_llm_chat('b_own', 'hi') AS a`);
    expect(outcome).toMatchObject({ code: '54000', message: expect.stringContaining("the model provider's answer has more than"), hint: expect.stringContaining('base_url') });
    // Parsed whole, 2.5 million empty objects took hundreds of MiB.
    expect(rssGrowth).toBeLessThan(100 * MiB);
  }, 60_000);

  it('as a stream whose one event is padded: that event refused with 54000', async () => {
    const event = (data: string) => `data: ${data}\n\n`;
    const stream = [
      event('{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"first "}}]}'),
      event(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"padded"}}],"pad":[${'{},'.repeat(2.5 * MiB)}{}]}`),
      event('[DONE]'),
    ].join('');
    const { baseUrl, sent } = await bobsServer(Buffer.from(stream), 'text/event-stream');
    const { alice, bob } = await twoRoles(baseUrl);
    const { outcome } = await probesDuring(alice, bob, sent, `SELECT chunk FROM pg_llm_chat_stream('b_own', 'hi')`);
    expect(outcome).toMatchObject({ code: '54000' });
  }, 60_000);

  it('as a stream whose one event is big but sound: that event cut down, its text kept', async () => {
    const chunk = (content: string, pad = '') => `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"${content}"}}]${pad}}\n\n`;
    const stream = `${chunk('first ')}${chunk('big', `,"pad":"${'x'.repeat(200_000)}"`)}data: [DONE]\n\n`;
    const { bob } = await twoRoles((await bobsServer(Buffer.from(stream), 'text/event-stream')).baseUrl);
    expect((await bob.query(`SELECT string_agg(chunk, '') AS a FROM pg_llm_chat_stream('b_own', 'hi')`)).rows).toEqual([{ a: 'first big' }]);
  });

  it.each([
    ['not JSON', Buffer.from(`${CHAT_HEAD},"pad":"${'x'.repeat(100_000)}"`), '39001', "the model provider's answer is not valid JSON"],
    ['nested 40 deep', padded(`${'['.repeat(40)}${' '.repeat(100_000)}${']'.repeat(40)},`), '54000', 'nested more than 32 deep'],
  ])('%s: a clear error', async (_, body, code, message) => {
    const { bob } = await twoRoles((await bobsServer(body)).baseUrl);
    await expect(bob.query(`SELECT pg_llm_chat('b_own', 'hi') AS a`)).rejects.toMatchObject({ code, message: expect.stringContaining(message) });
  });

  // 400 vectors of 4,000 numbers for one text: the event loop parsed them all (8.5 MB of base64) before the adapter
  // counted them; 1,000 of 15,000 held every session for seconds.
  const numbers = Array(4000).fill(0.123456);
  it.each([
    ['as numbers: refused with 54000 before the thread parses them', numbers, '54000', "the model provider's answer has more than 17040 values"],
    ['as base64: refused with 39001 in the thread', Buffer.from(new Float32Array(numbers).buffer).toString('base64'), '39001', 'more embeddings than the 1 texts it was asked for'],
  ])('embeddings, more of them than texts asked about, %s, none parsed on the event loop', async (_, embedding, code, message) => {
    const vectors = Array.from({ length: 400 }, (__, index) => ({ index, embedding }));
    const { bob } = await twoRoles((await bobsServer(Buffer.from(JSON.stringify({ model: 'e', data: vectors })))).baseUrl);
    let outcome: unknown;
    const longest = await longestJsonParsed(async () => (outcome = await bob.query(`SELECT pg_llm_get_embedding('b_own', 'hi') AS a`).catch((error: unknown) => error)));
    expect(longest).toBeLessThan(64 * 1024);
    expect(outcome).toMatchObject({ code, message: expect.stringContaining(message) });
  }, 60_000);

  it("embeddings of other dimensions than the model config's: 39001", async () => {
    // Over 64 kB, so that the answer is parsed in a thread; under the 16,000 dimensions any embedding may have.
    const vectors = [{ index: 0, embedding: Array(15_000).fill(0.123456) }];
    const { bob } = await twoRoles((await bobsServer(Buffer.from(JSON.stringify({ model: 'e', data: vectors })))).baseUrl, { embedding_dimensions: 3 });
    await expect(bob.query(`SELECT pg_llm_get_embedding('b_own', 'hi') AS a`)).rejects.toMatchObject({
      code: '39001',
      message: expect.stringContaining('an embedding of 15000 dimensions where 3 were asked for'),
    });
  });
});
