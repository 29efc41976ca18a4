// The size of a provider's answer is capped (--max-response-bytes for chat, --max-embedding-response-bytes for
// embeddings, lowered by a model's max_response_bytes): a model that any role points at a server of its own cannot
// take the proxy's memory from the other sessions.

import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { configureProviderHttp } from '../../src/providers/http.js';
import { embedTexts, providerFor } from '../../src/providers/index.js';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';

const shared = proxyAndFakeProvider();
const MiB = 1024 ** 2;
const TOO_LARGE = { code: '54000', hint: expect.stringContaining('--max-response-bytes') };

afterEach(() => configureProviderHttp({}));

describe('answers over the cap', () => {
  it('a 200 MB answer stops at the cap: 54000, the request aborted, not retried, memory flat, other sessions served', async () => {
    configureProviderHttp({ maxResponseBytes: MiB });
    const { client, name } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 2 });
    const other = new pg.Client(connection(shared.proxy.port, 'trust', name));
    await other.connect();
    afterThisTest(() => other.end());
    shared.fake.script({ kind: 'huge', bytes: 200 * MiB });
    const before = process.memoryUsage.rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
    try {
      const answer = client.query(`SELECT pg_llm_chat('llm', 'everything')`).catch((error: unknown) => error);
      await expect.poll(() => shared.fake.requests.length).toBe(1);
      expect((await other.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(await answer).toMatchObject({ ...TOO_LARGE, message: expect.stringContaining(`limit of ${MiB} bytes`) });
    } finally {
      clearInterval(sampler);
    }
    expect(peak - before).toBeLessThan(100 * MiB);
    await expect.poll(() => shared.fake.requests[0]!.aborted).toBe(true);
    expect(shared.fake.requests).toHaveLength(1);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('a stream counts its bytes as they come; a model may lower the cap, never raise it', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_response_bytes: 4000 });
    const chunks = Array.from({ length: 100 }, () => 'x'.repeat(50));
    shared.fake.script({ kind: 'stream', chunks });
    await expect(client.query(`SELECT chunk FROM pg_llm_chat_stream('llm', 'hi')`)).rejects.toMatchObject({ ...TOO_LARGE, message: expect.stringContaining('limit of 4000 bytes') });
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    configureProviderHttp({ maxResponseBytes: 3000 });
    await client.query(`SELECT pg_llm_add_model(true, 'openai', 'llm', 'sk-test-0123456789abcdef', $1)`, [
      JSON.stringify({ provider: 'openai', model_name: 'gpt-test', base_url: shared.fake.baseUrl, max_response_bytes: 100 * MiB }),
    ]);
    shared.fake.script({ kind: 'stream', chunks });
    await expect(client.query(`SELECT chunk FROM pg_llm_chat_stream('llm', 'hi')`)).rejects.toMatchObject({ ...TOO_LARGE, message: expect.stringContaining('limit of 3000 bytes') });
    shared.fake.script({ kind: 'stream', chunks: ['small'] });
    expect((await client.query(`SELECT string_agg(chunk, '') AS a FROM pg_llm_chat_stream('llm', 'hi')`)).rows).toEqual([{ a: 'small' }]);
  });

  it('an embeddings answer over the cap', async () => {
    const config = { provider: 'openai_compatible', model_name: 'm', embedding_model: 'emb-test', base_url: shared.fake.baseUrl, max_response_bytes: 1000 };
    const texts = Array.from({ length: 40 }, (_, i) => `text number ${i}`);
    const signal = new AbortController().signal;
    await expect(embedTexts(providerFor('capped-embeddings', config), texts, signal)).rejects.toMatchObject({ sqlstate: '54000', hint: expect.stringContaining('--max-embedding-response-bytes') });
    const result = await embedTexts(providerFor('capped-embeddings', config), texts.slice(0, 2), signal);
    expect(result.vectors).toHaveLength(2);
  });
});
