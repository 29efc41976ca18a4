// Review N of issue 12: a request whose body was written in a thread (a prompt past 256 K characters) goes out by
// undici's dispatcher (src/providers/bytes-request.ts), not its fetch, and that path met answers fetch had handled:
// a 204 to a big prompt took the whole proxy down, every other session with it; a compressed answer failed to parse.
// And on either path a status past 599 failed as an unreachable server, its answer left unread until timeout_ms, and
// a 204 as a TypeError (XX000) of the adapter's.

import { brotliCompressSync, gzipSync } from 'node:zlib';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';

const shared = proxyAndFakeProvider();
/** 400,000 characters: past what is written on the event loop (256 K), so the dispatcher sends it. */
const BIG = `repeat('ab', 200000)`;

function chatAnswer(content: string): string {
  return JSON.stringify({
    id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-test',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
}

describe('answers to a request the dispatcher sent', () => {
  it.each([204, 205, 304])('a %i fails the call as what it is; the proxy, the session and others carry on', async (status) => {
    const { client, name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    const other = new pg.Client(connection(shared.proxy.port, 'postgres', name));
    await other.connect();
    afterThisTest(() => other.end());
    for (const prompt of [BIG, `'hi'`]) {
      shared.fake.script({ kind: 'body', json: '', status });
      await expect(client.query(`SELECT pg_llm_chat('llm', ${prompt}) AS a`)).rejects.toMatchObject({
        code: '39001',
        message: `the model provider answered with status ${status}, which has no answer`,
      });
    }
    expect((await client.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    expect((await other.query('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
  });

  it('a compressed answer is read as fetch reads one, though an identity answer was asked for', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    shared.fake.script({ kind: 'body', json: gzipSync(chatAnswer('squeezed')), headers: { 'content-encoding': 'gzip' } });
    expect((await client.query(`SELECT pg_llm_chat('llm', ${BIG}) AS a`)).rows).toEqual([{ a: 'squeezed' }]);
    expect(shared.fake.requests[0]!.headers['accept-encoding']).toBe('identity');
  });

  it('an answer in two content codings is decoded of both, the last applied first', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    shared.fake.script({ kind: 'body', json: brotliCompressSync(gzipSync(chatAnswer('twice'))), headers: { 'content-encoding': 'gzip, br' } });
    expect((await client.query(`SELECT pg_llm_chat('llm', ${BIG}) AS a`)).rows).toEqual([{ a: 'twice' }]);
  });

  it.each([
    ['a coding the proxy does not decode', { 'content-encoding': 'zstd' }, chatAnswer('x'), 'the model provider answered in a content coding the proxy does not decode'],
    ['a body that is not the gzip it says', { 'content-encoding': 'gzip' }, chatAnswer('x'), "the model provider's answer is not in the content coding its headers name"],
  ])('%s fails the call with 39001 saying so', async (_, headers, json, message) => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    shared.fake.script({ kind: 'body', json, headers });
    await expect(client.query(`SELECT pg_llm_chat('llm', ${BIG}) AS a`)).rejects.toMatchObject({ code: '39001', message });
    expect((await client.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });

  it('a status past 599 fails the call as what it is, for a big prompt and a small one alike', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
    for (const prompt of [BIG, `'hi'`]) {
      shared.fake.script({ kind: 'body', json: '{"error":{"message":"odd"}}', status: 600 });
      await expect(client.query(`SELECT pg_llm_chat('llm', ${prompt}) AS a`)).rejects.toMatchObject({
        code: '39001',
        message: 'the model provider answered with status 600, which is no HTTP status',
      });
    }
    expect((await client.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });
});
