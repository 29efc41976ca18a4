// Against the real services, through the proxy: run only when their API keys are in the environment
// (OPENAI_API_KEY, ANTHROPIC_API_KEY; OPENAI_MODEL, ANTHROPIC_MODEL pick the models), skipped otherwise. Each test
// makes one or two small requests.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedTexts, providerFor } from '../../src/providers/index.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

const openAiKey = process.env.OPENAI_API_KEY;
const anthropicKey = process.env.ANTHROPIC_API_KEY;
const LIVE_TIMEOUT_MS = 60_000;

let proxy: TestProxy;
beforeAll(async () => {
  if (openAiKey || anthropicKey) proxy = await startProxy({ masterKey: 'live-test-master-key' });
});
afterAll(async () => {
  await proxy?.stop();
});

async function withModel(provider: string, apiKey: string, config: Record<string, unknown>) {
  const { name } = await freshDatabase();
  const client = new pg.Client(connection(proxy.port, 'postgres', name));
  await client.connect();
  afterThisTest(() => client.end());
  await client.query('CREATE EXTENSION pg_llm');
  await client.query(`SELECT pg_llm_add_model(false, $1, 'live', $2, $3)`, [provider, apiKey, JSON.stringify({ provider, ...config })]);
  return client;
}

describe.skipIf(!openAiKey)('OpenAI, live', () => {
  const model = process.env.OPENAI_MODEL ?? 'gpt-4o-mini';

  it('answers, with usage and a confidence from logprobs, and streams', { timeout: LIVE_TIMEOUT_MS }, async () => {
    const client = await withModel('openai', openAiKey!, { model_name: model, max_tokens: 20 });
    const answer = (await client.query(`SELECT pg_llm_chat_json('live', 'Reply with the single word: pong', '{"temperature": 0}') AS j`)).rows[0].j;
    expect(answer.response.toLowerCase()).toContain('pong');
    expect(answer).toMatchObject({ confidence_source: 'logprobs' });
    expect(answer.usage.prompt_tokens).toBeGreaterThan(0);
    const rows = (await client.query(`SELECT chunk, is_final FROM pg_llm_chat_stream('live', 'Count from 1 to 5.')`)).rows;
    expect(rows.length).toBeGreaterThan(2);
    expect(rows.at(-1)).toMatchObject({ is_final: true });
  });

  it('answers JSON that follows a schema', { timeout: LIVE_TIMEOUT_MS }, async () => {
    const client = await withModel('openai', openAiKey!, { model_name: model });
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
    const options = { response_format: { type: 'json_schema', json_schema: { name: 'place', schema } } };
    const answer = (await client.query(`SELECT pg_llm_chat_json('live', 'The capital of France?', $1::jsonb) AS j`, [JSON.stringify(options)])).rows[0].j;
    expect(answer.response_json.city).toMatch(/paris/i);
  });

  it('embeds texts', { timeout: LIVE_TIMEOUT_MS }, async () => {
    const provider = providerFor('live', { provider: 'openai', model_name: model }, openAiKey);
    const { vectors } = await embedTexts(provider, ['a cat', 'a dog'], new AbortController().signal);
    expect(vectors).toHaveLength(2);
    expect(vectors[0]!.length).toBeGreaterThan(100);
  });
});

describe.skipIf(!anthropicKey)('Anthropic, live', () => {
  const model = process.env.ANTHROPIC_MODEL ?? 'claude-haiku-4-5';

  it('answers and streams', { timeout: LIVE_TIMEOUT_MS }, async () => {
    const client = await withModel('anthropic', anthropicKey!, { model_name: model, max_tokens: 20 });
    const answer = (await client.query(`SELECT pg_llm_chat_json('live', 'Reply with the single word: pong') AS j`)).rows[0].j;
    expect(answer.response.toLowerCase()).toContain('pong');
    expect(answer).toMatchObject({ confidence_source: 'fallback' });
    const rows = (await client.query(`SELECT chunk, is_final FROM pg_llm_chat_stream('live', 'Count from 1 to 5.')`)).rows;
    expect(rows.at(-1)).toMatchObject({ is_final: true });
  });
});
