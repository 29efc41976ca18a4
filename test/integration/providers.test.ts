// The provider adapters on the real SDKs (openai, @anthropic-ai/sdk), over HTTP to a fake server on loopback,
// through the shared.proxy.

import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { processRegistry } from '../../src/metrics.js';
import { embedTexts, providerFor } from '../../src/providers/index.js';
import { setProviderLog } from '../../src/providers/provider-log.js';
import { afterThisTest, clientThrough } from '../support/database.js';
import { API_KEY, databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';
const shared = proxyAndFakeProvider();

function setup(provider: string, config: Record<string, unknown> = {}, apiKey: string | null = API_KEY) {
  return databaseWithModel(shared.proxy, shared.fake, provider, config, apiKey);
}

describe('openai adapter', () => {
  it('sends the prompt with the key and model, and returns the answer with its usage', async () => {
    const { client, direct } = await setup('openai');
    shared.fake.script({ kind: 'answer', content: 'Paris' });
    const result = await client.query(`SELECT pg_llm_chat_json('llm', 'Capital of France?') AS j`);
    expect(result.rows[0].j).toMatchObject({ response: 'Paris', model_name: 'gpt-test', usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } });
    expect(shared.fake.requests).toHaveLength(1);
    expect(shared.fake.requests[0]).toMatchObject({ path: '/v1/chat/completions', authorization: `Bearer ${API_KEY}` });
    expect(shared.fake.requests[0]!.body).toMatchObject({ model: 'gpt-test', messages: [{ role: 'user', content: 'Capital of France?' }] });
    const audit = await direct.query(`SELECT metadata FROM _pg_llm_catalog.pg_llm_audit_log`);
    expect(audit.rows[0].metadata).toMatchObject({ prompt_tokens: 7, completion_tokens: 3 });
    expect(JSON.stringify(audit.rows)).not.toContain(API_KEY);
  });

  it('streams the provider\'s chunks as rows', async () => {
    const { client } = await setup('openai');
    shared.fake.script({ kind: 'stream', chunks: ['Hel', 'lo', '!'] });
    const result = await client.query(`SELECT chunk, is_final FROM pg_llm_chat_stream('llm', 'hi')`);
    expect(result.rows).toEqual([
      { chunk: 'Hel', is_final: false },
      { chunk: 'lo', is_final: false },
      { chunk: '!', is_final: false },
      { chunk: '', is_final: true },
    ]);
    expect(shared.fake.requests[0]!.body).toMatchObject({ stream: true });
  });

  it('retries 5xx and 429 (Retry-After) and then answers', async () => {
    const { client } = await setup('openai');
    shared.fake.script({ kind: 'error', status: 500, message: 'overloaded' }, { kind: 'error', status: 429, message: 'slow down', retryAfter: '0' }, { kind: 'answer', content: 'third time' });
    expect((await client.query(`SELECT pg_llm_chat('llm', 'x') AS a`)).rows).toEqual([{ a: 'third time' }]);
    expect(shared.fake.requests).toHaveLength(3);
  });

  it('gives up after max_retries with 39001 and the provider\'s message', async () => {
    const { client } = await setup('openai', { max_retries: 1 });
    shared.fake.script({ kind: 'error', status: 503, message: 'down for maintenance' }, { kind: 'error', status: 503, message: 'down for maintenance' });
    await expect(client.query(`SELECT pg_llm_chat('llm', 'x')`)).rejects.toMatchObject({ code: '39001', message: expect.stringContaining('down for maintenance') });
    expect(shared.fake.requests).toHaveLength(2);
  });

  it("quotes no more than a few hundred characters of an error answer: a model's server may be anyone's internal service", async () => {
    const { client } = await setup('openai', { max_retries: 0 });
    shared.fake.script({ kind: 'error', status: 500, message: `internal page ${'x'.repeat(5000)} end of page` });
    const error = (await client.query(`SELECT pg_llm_chat('llm', 'x')`).catch((caught: unknown) => caught)) as Error;
    expect(error).toMatchObject({ code: '39001', message: expect.stringContaining('internal page') });
    expect(error.message.length).toBeLessThan(500);
    expect(error.message).not.toContain('end of page');
  });

  it('a refused key is 28000 at once, without retries and without the key in the message', async () => {
    const { client } = await setup('openai');
    shared.fake.script({ kind: 'error', status: 401, message: `Incorrect API key provided: ${API_KEY}` });
    const error = await client.query(`SELECT pg_llm_chat('llm', 'x')`).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: '28000' });
    expect(String((error as Error).message)).not.toContain(API_KEY);
    expect(shared.fake.requests).toHaveLength(1);
  });

  it("logs a failed call once at warn with the model instance, never the key; counts a cancelled one instead", async () => {
    const logged: Array<Record<string, unknown>> = [];
    setProviderLog(pino({ level: 'info' }, new Writable({ write: (line, _encoding, done) => done(void logged.push(JSON.parse(String(line)))) })));
    afterThisTest(async () => setProviderLog(pino({ level: 'silent' })));
    const { client, name } = await setup('openai', { max_retries: 1 });
    shared.fake.script({ kind: 'error', status: 500, message: `overloaded, says ${API_KEY}` }, { kind: 'error', status: 500, message: `overloaded, says ${API_KEY}` });
    await expect(client.query(`SELECT pg_llm_chat('llm', 'x')`)).rejects.toMatchObject({ code: '39001' });
    expect(logged).toEqual([
      expect.objectContaining({ level: 40, msg: 'model call failed', model_instance: 'llm', provider: 'openai', sqlstate: '39001', err: expect.stringContaining('overloaded') }),
    ]);
    expect(JSON.stringify(logged)).not.toContain(API_KEY);

    const cancelled = async (): Promise<number> => {
      const line = (await processRegistry.metrics()).split('\n').find((text) => text.startsWith('pg_llm_model_calls_cancelled_total{provider="openai",model="gpt-test"} '));
      return Number(line?.split(' ')[1] ?? 0);
    };
    const before = await cancelled();
    shared.fake.script({ kind: 'stall' });
    const sql = postgres({ ...connection(shared.proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    const query = sql`SELECT pg_llm_chat('llm', 'wait')`.execute();
    await expect.poll(() => shared.fake.requests.length).toBe(3);
    void query.cancel();
    await expect(query).rejects.toMatchObject({ code: '57014' });
    await expect.poll(cancelled).toBe(before + 1);
    expect(logged).toHaveLength(1);
  });

  it('an unknown model is 42704; garbage from the provider is 39001', async () => {
    const { client } = await setup('openai', { max_retries: 0 });
    shared.fake.script({ kind: 'error', status: 404, message: 'The model gpt-test does not exist' });
    await expect(client.query(`SELECT pg_llm_chat('llm', 'x')`)).rejects.toMatchObject({ code: '42704' });
    shared.fake.script({ kind: 'garbage' });
    await expect(client.query(`SELECT pg_llm_chat('llm', 'x')`)).rejects.toMatchObject({ code: '39001' });
  });

  it('a connection reset mid-stream fails the statement with 39001 and the session carries on', async () => {
    const { client } = await setup('openai', { max_retries: 0 });
    shared.fake.script({ kind: 'reset', chunks: ['partial', ' answer'] });
    await expect(client.query(`SELECT chunk FROM pg_llm_chat_stream('llm', 'hi')`)).rejects.toMatchObject({ code: '39001' });
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('connect_timeout_ms bounds connecting, apart from the answer\'s timeout_ms', async () => {
    // A server that accepts TCP and never answers the TLS handshake: only the connect timeout can end the wait.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    afterThisTest(() => new Promise((resolve) => (sockets.forEach((socket) => socket.destroy()), silent.close(() => resolve()))));
    const host = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const { client } = await setup('openai', { base_url: `https://${host}/v1`, connect_timeout_ms: 200, timeout_ms: 600_000, max_retries: 0 });
    const error = await client.query(`SELECT pg_llm_chat('llm', 'x')`).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: '39001', message: `could not reach provider at ${host}`, hint: expect.stringContaining('connect_timeout_ms') });
  });

  it('timeout_ms bounds the whole request: a stalled provider is 39001 with a hint', async () => {
    const { client } = await setup('openai', { timeout_ms: 300, max_retries: 0 });
    shared.fake.script({ kind: 'stall' });
    await expect(client.query(`SELECT pg_llm_chat('llm', 'x')`)).rejects.toMatchObject({
      code: '39001',
      message: expect.stringContaining('did not answer in time'),
      hint: expect.stringContaining('timeout_ms'),
    });
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('a cancel aborts the HTTP request to the provider', async () => {
    const { name } = await setup('openai');
    shared.fake.script({ kind: 'stall' });
    const sql = postgres({ ...connection(shared.proxy.port, 'postgres', name), max: 1, onnotice: () => {} });
    afterThisTest(() => sql.end());
    const query = sql`SELECT pg_llm_chat('llm', 'wait')`.execute();
    await expect.poll(() => shared.fake.requests.length).toBe(1);
    void query.cancel();
    await expect(query).rejects.toMatchObject({ code: '57014' });
    await expect.poll(() => shared.fake.requests[0]!.aborted).toBe(true);
  });

  it('azure_openai calls the deployment with the api-key header and the api-version', async () => {
    const { client } = await setup('azure_openai', { base_url: shared.fake.baseUrl.replace(/\/v1$/, ''), deployment: 'my-deployment', model_name: 'my-deployment', api_version: '2024-10-21' });
    shared.fake.script({ kind: 'answer', content: 'from azure' });
    expect((await client.query(`SELECT pg_llm_chat('llm', 'x') AS a`)).rows).toEqual([{ a: 'from azure' }]);
    expect(shared.fake.requests[0]!.path).toBe('/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21');
    expect(shared.fake.requests[0]!.apiKeyHeader).toBe(API_KEY);
  });

  it('openai_compatible needs no key, but a model_name: it has no default model', async () => {
    const { client } = await setup('openai_compatible', {}, null);
    shared.fake.script({ kind: 'answer', content: 'local answer' });
    expect((await client.query(`SELECT pg_llm_chat('llm', 'x') AS a`)).rows).toEqual([{ a: 'local answer' }]);
    expect(shared.fake.requests[0]!.authorization).toBe('Bearer not-needed');
    await expect(client.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'bad', NULL, '{"base_url": "http://127.0.0.1:9/v1"}')`))
      .rejects.toMatchObject({ code: '22023', message: expect.stringContaining('model_name') });
  });

  it.each([
    ['openai', 'gpt-4o-mini', API_KEY, '/v1'],
    ['ollama', 'llama3.2', null, '/v1'],
    ['anthropic', 'claude-sonnet-4-6', API_KEY, ''],
  ])('%s without model_name asks for the default model docs/providers.md lists (%s)', async (provider, model, apiKey, apiPath) => {
    const base_url = shared.fake.baseUrl.replace(/\/v1$/, apiPath);
    const { client } = await setup(provider, { model_name: undefined, base_url }, apiKey);
    shared.fake.script({ kind: 'answer', content: 'by default' });
    expect((await client.query(`SELECT pg_llm_chat('llm', 'x') AS a`)).rows).toEqual([{ a: 'by default' }]);
    expect(shared.fake.requests[0]!.body).toMatchObject({ model });
  });
});

describe('ollama adapter', () => {
  it('speaks OpenAI\'s API at the base URL without a key; embeddings default to nomic-embed-text', async () => {
    const { client } = await setup('ollama', { model_name: 'llama3.2' }, null);
    shared.fake.script({ kind: 'answer', content: 'from ollama' });
    expect((await client.query(`SELECT pg_llm_chat('llm', 'x') AS a`)).rows).toEqual([{ a: 'from ollama' }]);
    expect(shared.fake.requests[0]).toMatchObject({ path: '/v1/chat/completions', body: { model: 'llama3.2' } });
    expect(shared.fake.requests[0]!.body.logprobs).toBeUndefined();
    const provider = providerFor('llm', { provider: 'ollama', model_name: 'llama3.2', base_url: shared.fake.baseUrl });
    await embedTexts(provider, ['a text'], new AbortController().signal);
    expect(shared.fake.requests[1]).toMatchObject({ path: '/v1/embeddings', body: { model: 'nomic-embed-text', input: ['a text'] } });
  });
});

describe('anthropic adapter', () => {
  const anthropic = () => setup('anthropic', { base_url: shared.fake.baseUrl.replace(/\/v1$/, ''), model_name: 'claude-test' });

  it('sends the prompt with the key and model, and returns the answer with its usage', async () => {
    const { client } = await anthropic();
    shared.fake.script({ kind: 'answer', content: 'Bonjour' });
    const result = await client.query(`SELECT pg_llm_chat_json('llm', 'Say hello in French') AS j`);
    expect(result.rows[0].j).toMatchObject({ response: 'Bonjour', model_name: 'claude-test', usage: { prompt_tokens: 7, completion_tokens: 3 } });
    expect(shared.fake.requests[0]).toMatchObject({ path: '/v1/messages', authorization: `Bearer ${API_KEY}` });
    expect(shared.fake.requests[0]!.body).toMatchObject({ model: 'claude-test', max_tokens: 1024, messages: [{ role: 'user', content: 'Say hello in French' }] });
  });

  it('streams text deltas as rows', async () => {
    const { client } = await anthropic();
    shared.fake.script({ kind: 'stream', chunks: ['Bon', 'jour'] });
    const result = await client.query(`SELECT chunk FROM pg_llm_chat_stream('llm', 'hi') WHERE NOT is_final`);
    expect(result.rows).toEqual([{ chunk: 'Bon' }, { chunk: 'jour' }]);
  });

  it('retries a 529-style overload, and maps a refused key to 28000 without the key', async () => {
    const { client } = await anthropic();
    shared.fake.script({ kind: 'error', status: 529, message: 'Overloaded' }, { kind: 'answer', content: 'after retry' });
    expect((await client.query(`SELECT pg_llm_chat('llm', 'x') AS a`)).rows).toEqual([{ a: 'after retry' }]);
    shared.fake.script({ kind: 'error', status: 401, message: `invalid x-api-key ${API_KEY}` });
    const error = await client.query(`SELECT pg_llm_chat('llm', 'x')`).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: '28000' });
    expect(String((error as Error).message)).not.toContain(API_KEY);
  });
});

describe('default provider (llm_ask, llm_provider)', () => {
  /** llm_provider() through a proxy whose environment is `env`. */
  async function providerWith(database: string, env: NodeJS.ProcessEnv): Promise<string> {
    const client = await clientThrough({ defaults: { env } }, database);
    return (await client.query('SELECT llm_provider() AS p')).rows[0].p;
  }

  it('is chosen from the environment as pg_llm_bgw chooses it', async () => {
    const { name } = await setup('mock');
    expect(await providerWith(name, {})).toBe('openai');
    expect(await providerWith(name, { OPENAI_API_KEY: 'k', ANTHROPIC_API_KEY: 'k' })).toBe('anthropic');
    expect(await providerWith(name, { ANTHROPIC_API_KEY: 'k', AZURE_OPENAI_ENDPOINT: 'https://example.invalid' })).toBe('azure_openai');
    expect(await providerWith(name, { ANTHROPIC_API_KEY: 'k', LLM_PROVIDER: 'openai' })).toBe('openai');
  });

  it('llm_ask answers from the default provider, and fails fast naming the variable when there is no key', async () => {
    const { name } = await setup('mock');
    const client = await clientThrough({ defaults: { env: { OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: shared.fake.baseUrl, OPENAI_MODEL: 'gpt-default' } } }, name);
    shared.fake.script({ kind: 'answer', content: 'asked and answered' });
    expect((await client.query(`SELECT llm_ask('question') AS a`)).rows).toEqual([{ a: 'asked and answered' }]);
    expect(shared.fake.requests.at(-1)!.body).toMatchObject({ model: 'gpt-default' });
    const unconfigured = await clientThrough({ defaults: { env: {} } }, name);
    await expect(unconfigured.query(`SELECT llm_ask('question')`)).rejects.toMatchObject({ code: '55000', hint: expect.stringContaining('OPENAI_API_KEY') });
  });
});
