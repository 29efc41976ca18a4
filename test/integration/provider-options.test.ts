// What a call asks of the model and what it learns back, through the proxy and the real SDKs against the fake
// provider: per-call options over the model's config, JSON and structured output, confidence from token
// log-probabilities, cost and the /metrics counters, and the response cache.

import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { processRegistry } from '../../src/metrics.js';
import { ANSWER_TOKENS } from '../../src/cost/worst-case.js';
import { configureResponseCache, responseCacheStats } from '../../src/providers/response-cache.js';
import { afterThisTest } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';

const shared = proxyAndFakeProvider();

const anthropicBaseUrl = () => shared.fake.baseUrl.replace(/\/v1$/, '');

async function chatJson(client: { query: (sql: string, values?: unknown[]) => Promise<{ rows: Array<Record<string, any>> }> }, options: unknown) {
  return (await client.query(`SELECT pg_llm_chat_json('llm', 'question', $1::jsonb) AS j`, [JSON.stringify(options)])).rows[0]!.j;
}

describe('per-call options', () => {
  it("override the model config's system prompt, temperature and max_tokens, key by key", async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { system_prompt: 'Be brief.', temperature: 0.7, max_tokens: 50 });
    shared.fake.script({ kind: 'answer', content: 'a' }, { kind: 'answer', content: 'b' });
    await client.query(`SELECT pg_llm_chat('llm', 'question')`);
    expect(shared.fake.requests[0]!.body).toMatchObject({
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'question' }],
      temperature: 0.7,
      max_tokens: 50,
    });
    await chatJson(client, { temperature: 0, system_prompt: 'Answer in French.' });
    expect(shared.fake.requests[1]!.body).toMatchObject({
      messages: [{ role: 'system', content: 'Answer in French.' }, { role: 'user', content: 'question' }],
      temperature: 0,
      max_tokens: 50,
    });
  });

  it('refuse bad values with 22023 before any request', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    await expect(chatJson(client, { temperature: 'hot' })).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('temperature') });
    await expect(chatJson(client, { max_tokens: -1 })).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('max_tokens') });
    await expect(chatJson(client, { max_tokens: 1e30 })).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('max_tokens') });
    await expect(chatJson(client, { response_format: 'yaml' })).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('response_format') });
    await expect(chatJson(client, [1, 2])).rejects.toMatchObject({ code: '22023', message: 'options must be a JSON object' });
    expect(shared.fake.requests).toHaveLength(0);
  });
});

describe('JSON and structured output', () => {
  const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };

  it('openai: JSON mode and json_schema are sent as response_format; the answer is parsed into response_json', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    shared.fake.script({ kind: 'answer', content: '{"city": "Paris"}' }, { kind: 'answer', content: '```json\n{"city": "Lyon"}\n```' });
    const plain = await chatJson(client, { response_format: 'json' });
    expect(plain).toMatchObject({ response: '{"city": "Paris"}', response_json: { city: 'Paris' } });
    expect(shared.fake.requests[0]!.body.response_format).toEqual({ type: 'json_object' });
    const structured = await chatJson(client, { response_format: { type: 'json_schema', json_schema: { name: 'place', schema } } });
    expect(structured.response_json).toEqual({ city: 'Lyon' });
    expect(shared.fake.requests[1]!.body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'place', schema, strict: true } });
  });

  it('an answer that is not JSON when JSON was asked for is 39001', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    shared.fake.script({ kind: 'answer', content: 'Sure! The city is Paris.' });
    await expect(chatJson(client, { response_format: 'json' })).rejects.toMatchObject({ code: '39001', message: expect.stringContaining('JSON') });
  });

  it('anthropic: a schema goes as output_config.format, plain JSON mode as an instruction in the system prompt', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'anthropic', { base_url: anthropicBaseUrl(), model_name: 'claude-test', system_prompt: 'You are a geographer.' });
    shared.fake.script({ kind: 'answer', content: '{"city": "Rome"}' }, { kind: 'answer', content: '{"city": "Oslo"}' });
    expect((await chatJson(client, { response_format: { type: 'json_schema', json_schema: { name: 'place', schema } } })).response_json).toEqual({ city: 'Rome' });
    expect(shared.fake.requests[0]!.body).toMatchObject({ output_config: { format: { type: 'json_schema', schema } }, system: 'You are a geographer.' });
    expect((await chatJson(client, { response_format: 'json' })).response_json).toEqual({ city: 'Oslo' });
    expect(shared.fake.requests[1]!.body.system).toMatch(/^You are a geographer\.\n\n.*single JSON object/);
    expect(shared.fake.requests[1]!.body.output_config).toBeUndefined();
  });

  it('mock: answers its JSON response as is, and wraps a text answer', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'mock', { mock_response: { ok: true } });
    expect((await chatJson(client, { response_format: 'json' })).response_json).toEqual({ ok: true });
    const { client: other } = await databaseWithModel(shared.proxy, shared.fake, 'mock', { mock_response: 'plain words' });
    expect((await chatJson(other, { response_format: 'json' })).response_json).toEqual({ response: 'plain words' });
  });
});

describe('confidence', () => {
  it("is the geometric mean of the answer's token probabilities when the provider returns logprobs", async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    shared.fake.script({ kind: 'answer', content: 'Paris', logprobs: [-0.1, -0.3] });
    const answer = await chatJson(client, {});
    expect(answer.confidence_source).toBe('logprobs');
    expect(answer.confidence_score).toBeCloseTo(Math.exp(-0.2), 10);
    expect(shared.fake.requests[0]!.body.logprobs).toBe(true);
  });

  it('streams: the final row carries the confidence of all the streamed tokens', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    shared.fake.script({ kind: 'stream', chunks: ['Pa', 'ris'], logprobs: [-0.2, -0.4] });
    const rows = (await client.query(`SELECT chunk, confidence_score FROM pg_llm_chat_stream('llm', 'q') WHERE is_final`)).rows;
    expect(rows[0]!.confidence_score).toBeCloseTo(Math.exp(-0.3), 10);
  });

  it('is the documented fallback, said to be one, where there are no logprobs; the config may set it', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai_compatible', {}, null);
    shared.fake.script({ kind: 'answer', content: 'x' });
    expect(await chatJson(client, {})).toMatchObject({ confidence_score: 0.8, confidence_source: 'fallback' });
    expect(shared.fake.requests[0]!.body.logprobs).toBeUndefined();
    const { client: anthropic } = await databaseWithModel(shared.proxy, shared.fake, 'anthropic', { base_url: anthropicBaseUrl(), model_name: 'claude-test', confidence_fallback: 0.55 });
    shared.fake.script({ kind: 'answer', content: 'y' });
    expect(await chatJson(anthropic, {})).toMatchObject({ confidence_score: 0.55, confidence_source: 'fallback' });
    await expect(anthropic.query(`SELECT pg_llm_add_model(false, 'anthropic', 'bad', 'k', '{"model_name": "c", "confidence_fallback": 2}')`)).rejects.toMatchObject({
      code: '22023',
      message: expect.stringContaining('confidence_fallback'),
    });
  });
});

describe("OpenAI's reasoning models", () => {
  const refusal = (param: string) => ({ kind: 'error' as const, status: 400, message: `Unsupported parameter: '${param}' is not supported with this model.`, code: 'unsupported_parameter', param });

  it('are asked again without logprobs and with max_completion_tokens when they refuse them, and the model keeps that', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { model_name: 'o3-mini', max_tokens: 50 });
    shared.fake.script(refusal('logprobs'), refusal('max_tokens'), { kind: 'answer', content: 'thought through' });
    expect((await client.query(`SELECT pg_llm_chat('llm', 'q') AS a`)).rows[0].a).toBe('thought through');
    const bodies = shared.fake.requests.map((request) => request.body);
    expect(bodies.map((body) => [body.logprobs, body.max_tokens, body.max_completion_tokens])).toEqual([
      [true, 50, undefined],
      [undefined, 50, undefined],
      [undefined, undefined, 50],
    ]);
    // The model's next requests, a stream's too, go as it takes them, and confidence falls back as without logprobs.
    shared.fake.script({ kind: 'answer', content: 'again' }, { kind: 'stream', chunks: ['stre', 'amed'] });
    expect(await chatJson(client, {})).toMatchObject({ response: 'again', confidence_source: 'fallback' });
    const streamed = (await client.query(`SELECT string_agg(chunk, '') AS text FROM pg_llm_chat_stream('llm', 'q')`)).rows[0].text;
    expect(streamed).toBe('streamed');
    expect(shared.fake.requests.slice(3).map((request) => [request.body.logprobs, request.body.max_completion_tokens])).toEqual([
      [undefined, 50],
      [undefined, 50],
    ]);
  });

  it('a refusal of anything else is the caller\'s error, not asked again', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { model_name: 'o3-mini', temperature: 0 });
    shared.fake.script({ kind: 'error', status: 400, message: "Unsupported value: 'temperature' does not support 0 with this model.", code: 'unsupported_value', param: 'temperature' });
    await expect(client.query(`SELECT pg_llm_chat('llm', 'q')`)).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('temperature') });
    expect(shared.fake.requests).toHaveLength(1);
  });
});

describe('usage, cost and metrics', () => {
  it('a priced model reports its cost in the answer, the audit row and /metrics', async () => {
    const { client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai', {
      model_name: 'priced-model',
      price_per_million_input_tokens: 2,
      price_per_million_output_tokens: 10,
    });
    shared.fake.script({ kind: 'answer', content: 'a' }, { kind: 'error', status: 400, message: 'bad request' });
    const answer = await chatJson(client, {});
    const cost = (7 * 2 + 3 * 10) / 1_000_000;
    expect(answer.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 3, cost_usd: cost });
    const audit = await direct.query(`SELECT metadata FROM _pg_llm_catalog.pg_llm_audit_log`);
    expect(audit.rows[0].metadata).toMatchObject({ cost_usd: cost, confidence_source: 'fallback' });
    await expect(chatJson(client, {})).rejects.toMatchObject({ code: '22023' });
    const metrics = await processRegistry.metrics();
    const labels = 'provider="openai",model="priced-model"';
    expect(metrics).toContain(`pg_llm_model_requests_total{${labels},kind="chat",outcome="ok"} 1`);
    expect(metrics).toContain(`pg_llm_model_requests_total{${labels},kind="chat",outcome="error"} 1`);
    expect(metrics).toContain(`pg_llm_model_prompt_tokens_total{${labels}} 7`);
    expect(metrics).toContain(`pg_llm_model_completion_tokens_total{${labels}} 3`);
    expect(metrics).toContain(`pg_llm_model_cost_usd_total{${labels}} ${cost}`);
    expect(metrics).toContain(`pg_llm_model_request_seconds_count{${labels}} 2`);
  });
});

describe('response cache', () => {
  afterEach(() => configureResponseCache(0, 3600));

  it('answers a repeated temperature-0 request without a provider call, and never a sampled one', async () => {
    configureResponseCache(100, 60);
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    shared.fake.script({ kind: 'answer', content: 'first' }, { kind: 'answer', content: 'second' }, { kind: 'answer', content: 'third' });
    const before = responseCacheStats();
    expect(await chatJson(client, { temperature: 0 })).toMatchObject({ response: 'first', cached: false });
    expect(await chatJson(client, { temperature: 0 })).toMatchObject({ response: 'first', cached: true });
    expect(shared.fake.requests).toHaveLength(1);
    expect(await chatJson(client, { temperature: 0, system_prompt: 'other' })).toMatchObject({ response: 'second', cached: false });
    expect(await chatJson(client, { temperature: 0.9 })).toMatchObject({ response: 'third', cached: false });
    expect(shared.fake.requests).toHaveLength(3);
    expect(responseCacheStats()).toMatchObject({ hits: before.hits + 1, misses: before.misses + 2 });
  });

  it('is bounded: the least recently used answer goes first', async () => {
    configureResponseCache(1, 60);
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    shared.fake.script({ kind: 'answer', content: 'a1' }, { kind: 'answer', content: 'b1' }, { kind: 'answer', content: 'a2' });
    const ask = async (prompt: string) => (await client.query(`SELECT pg_llm_chat_json('llm', $1, '{"temperature": 0}') AS j`, [prompt])).rows[0]!.j.response;
    expect([await ask('a'), await ask('b'), await ask('a')]).toEqual(['a1', 'b1', 'a2']);
    expect(responseCacheStats().entries).toBe(1);
  });

  it("is bounded in bytes: one role's answers take at most a quarter, the least recently used first out, and one over a sixteenth is not kept", async () => {
    // A role's share is 16 KiB, the largest answer kept 4 KiB; an answer of 1,000 characters counts about 2.5 KiB.
    configureResponseCache(100, 60, 64 * 1024);
    const { name, client } = await databaseWithModel(shared.proxy, shared.fake, 'openai');
    const other = new pg.Client(connection(shared.proxy.port, 'trust', name));
    await other.connect();
    afterThisTest(() => other.end());
    const ask = async (asker: pg.Client, prompt: string) =>
      (await asker.query(`SELECT pg_llm_chat_json('llm', $1, '{"temperature": 0}') AS j`, [prompt])).rows[0]!.j.cached as boolean;
    const answers = (count: number, bytes: number) => shared.fake.script(...Array.from({ length: count }, () => ({ kind: 'padded' as const, bytes })));

    answers(1, 1000);
    await ask(other, 'theirs');
    answers(10, 1000);
    for (let i = 0; i < 10; i++) await ask(client, `mine ${i}`);
    expect(responseCacheStats().bytes).toBeLessThanOrEqual(16 * 1024 + 4 * 1024);
    expect([await ask(other, 'theirs'), await ask(client, 'mine 9')]).toEqual([true, true]);
    answers(1, 1000);
    expect(await ask(client, 'mine 0')).toBe(false);

    answers(2, 3000);
    expect([await ask(client, 'large'), await ask(client, 'large')]).toEqual([false, false]);
    expect(shared.fake.requests).toHaveLength(14);
  });

  it('does not keep an answer a cap in dollars cut short, which the same request under no cap would not get', async () => {
    configureResponseCache(100, 60);
    // Priced, and without max_tokens: under a cap the request asks for no more than the 256 answer tokens held.
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { price_per_million_input_tokens: 1, price_per_million_output_tokens: 1 });
    shared.fake.script(
      { kind: 'answer', content: 'cut short', completionTokens: ANSWER_TOKENS },
      { kind: 'answer', content: 'whole' },
      { kind: 'answer', content: 'short under the cap' },
    );
    await client.query('SET pg_llm.max_cost_per_statement = 10');
    expect(await chatJson(client, { temperature: 0 })).toMatchObject({ response: 'cut short', cached: false });
    await client.query('RESET pg_llm.max_cost_per_statement');
    expect(await chatJson(client, { temperature: 0 })).toMatchObject({ response: 'whole', cached: false });
    // An answer that kept within what the cap held is whole, and kept.
    await client.query('SET pg_llm.max_cost_per_statement = 10');
    expect(await chatJson(client, { temperature: 0, system_prompt: 'other' })).toMatchObject({ response: 'short under the cap', cached: false });
    expect(await chatJson(client, { temperature: 0, system_prompt: 'other' })).toMatchObject({ response: 'short under the cap', cached: true });
    expect(shared.fake.requests.map((request) => request.body.max_tokens)).toEqual([ANSWER_TOKENS, undefined, ANSWER_TOKENS]);
  });
});
