// pgai's model functions through the proxy, each against the fake provider speaking the API pgai's would call:
// what goes to the provider (path, key, the arguments as pgai passes them) and what comes back (pgai's result
// shapes: the provider's JSON, vectors, rows).

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ANSWER_TOKENS } from '../../src/cost/worst-case.js';
import { processRegistry } from '../../src/metrics.js';
import { setPriceTable } from '../../src/providers/metrics.js';
import { afterThisTest } from '../support/database.js';
import { fakeEmbedding, fakeRelevance } from '../support/fake-provider.js';
import { aiDatabase, pgaiSuite, pointedAt } from '../support/pgai.js';

const suite = pgaiSuite();
const KEY = 'sk-argument-0123456789';

/** A database with ai, its session pointed at the fake. */
async function session(): Promise<pg.Client> {
  const { client } = await aiDatabase(suite);
  await client.query(pointedAt(suite.fake));
  return client;
}

const one = async (client: pg.Client, sql: string, parameters: unknown[] = []) => (await client.query(sql, parameters)).rows[0];
/** A vector as pg reads real[] (the test cluster has no pgvector): an array of numbers. */
const floats = (vector: number[]) => vector;

describe('OpenAI', () => {
  it('openai_embed: a text as vector, with dimensions, user and extra_body as pgai sends them', async () => {
    const client = await session();
    const { v } = await one(client, `SELECT ai.openai_embed('text-embedding-3-small', 'hello', api_key => $1, dimensions => 4, openai_user => 'me', extra_body => '{"x": 1}') AS v`, [KEY]);
    // Without pgvector, vector is real[] (see docs/llm-functions.md, "pgvector or real[]").
    expect(floats(v)).toEqual(fakeEmbedding('hello'));
    const [request] = suite.fake.requests;
    expect(request).toMatchObject({ path: '/v1/embeddings', authorization: `Bearer ${KEY}` });
    expect(request!.body).toMatchObject({ model: 'text-embedding-3-small', input: ['hello'], dimensions: 4, user: 'me', x: 1 });
  });

  it('openai_embed: texts as (index, embedding) rows, and tokens as one vector', async () => {
    const client = await session();
    const { rows } = await client.query(`SELECT * FROM ai.openai_embed('m', array['a', 'bb', 'ccc'], api_key => $1)`, [KEY]);
    expect(rows.map((row) => [row.index, floats(row.embedding)])).toEqual([
      [0, fakeEmbedding('a')],
      [1, fakeEmbedding('bb')],
      [2, fakeEmbedding('ccc')],
    ]);
    expect(suite.fake.requests).toHaveLength(1);
    const { v } = await one(client, `SELECT ai.openai_embed('m', array[1, 2, 3], api_key => $1) AS v`, [KEY]);
    expect(floats(v)).toEqual(fakeEmbedding('tokens 1 2 3'));
    expect(suite.fake.requests[1]!.body.input).toEqual([1, 2, 3]);
  });

  it("openai_chat_complete: OpenAI's response object, with every option pgai passes", async () => {
    const client = await session();
    suite.fake.script({ kind: 'answer', content: '{"city": "Paris"}' });
    const { r } = await one(
      client,
      `SELECT ai.openai_chat_complete('gpt-4o-mini', jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'capital?')),
         api_key => $1, temperature => 0.2, max_tokens => 50, seed => 7, stop => 'END', n => 1,
         response_format => '{"type": "json_object"}', tools => '[{"type": "function", "function": {"name": "f"}}]', tool_choice => 'auto',
         logit_bias => '{"50256": -100}', frequency_penalty => 0.5, openai_user => 'u1') AS r`,
      [KEY],
    );
    expect(r).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: '{"city": "Paris"}' } }], usage: { total_tokens: 10 } });
    expect(suite.fake.requests[0]!.body).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'capital?' }],
      stream: false,
      temperature: 0.2,
      max_tokens: 50,
      seed: 7,
      stop: 'END',
      n: 1,
      response_format: { type: 'json_object' },
      tools: [{ type: 'function', function: { name: 'f' } }],
      tool_choice: 'auto',
      logit_bias: { '50256': -100 },
      frequency_penalty: 0.5,
      user: 'u1',
    });
    await expect(client.query(`SELECT ai.openai_chat_complete('m', '{"role": "user"}', api_key => $1)`, [KEY])).rejects.toMatchObject({ code: '22023', message: 'messages is not an array' });
  });

  it('openai_chat_complete_simple, openai_moderate and openai_list_models', async () => {
    const client = await session();
    suite.fake.script({ kind: 'answer', content: 'Hi there' });
    expect(await one(client, `SELECT ai.openai_chat_complete_simple('hello', api_key => $1) AS a`, [KEY])).toEqual({ a: 'Hi there' });
    expect(suite.fake.requests[0]!.body).toMatchObject({ model: 'gpt-4o', messages: [{ role: 'system', content: 'you are a helpful assistant' }, { role: 'user', content: 'hello' }] });
    const { m } = await one(client, `SELECT ai.openai_moderate('omni-moderation-latest', 'I will kill the process', api_key => $1) AS m`, [KEY]);
    expect(m).toMatchObject({ model: 'omni-moderation-latest', results: [{ flagged: true }] });
    const { rows } = await client.query(`SELECT id, created, owned_by FROM ai.openai_list_models(api_key => $1) ORDER BY created DESC`, [KEY]);
    expect(rows).toEqual([
      { id: 'gpt-test', created: new Date(1_700_000_000_000), owned_by: 'fake' },
      { id: 'embed-test', created: new Date(1_600_000_000_000), owned_by: 'system' },
    ]);
    expect(suite.fake.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/models' });
  });

  it('openai_client_config builds the client_config of the settings given, as pgai does, its headers held by the proxy', async () => {
    const client = await session();
    const { c } = await one(client, `SELECT ai.openai_client_config(base_url => 'http://x/v1', timeout_seconds => 2.5, max_retries => 1, default_headers => '{"a": "b"}') AS c`);
    expect(c).toEqual({ base_url: 'http://x/v1', timeout: 2.5, max_retries: 1, default_headers: expect.stringMatching(/^held by pg_llm proxy [0-9a-f]{32}$/) });
    expect(suite.fake.requests).toEqual([]);
  });

  it('client_config and extra headers and query reach the request; a refused key is 28000 without the key', async () => {
    const client = await session();
    await one(client, `SELECT ai.openai_embed('m', 'x', api_key => $1, extra_headers => '{"x-team": "blue"}', extra_query => '{"tag": "t1"}', client_config => '{"organization": "org-1"}') AS v`, [KEY]);
    expect(suite.fake.requests[0]!.headers).toMatchObject({ 'x-team': 'blue', 'openai-organization': 'org-1' });
    expect(suite.fake.requests[0]!.path).toBe('/v1/embeddings?tag=t1');
    // A header of the call's replaces the key's of the same name, whatever the case, rather than going out beside it.
    await one(client, `SELECT ai.openai_embed('m', 'x', api_key => $1, extra_headers => '{"Authorization": "Bearer gateway-token"}') AS v`, [KEY]);
    expect(suite.fake.requests[1]!.authorization).toBe('Bearer gateway-token');
    suite.fake.script({ kind: 'error', status: 401, message: `Incorrect API key provided: ${KEY}` });
    const error = await client.query(`SELECT ai.openai_chat_complete('m', '[]', api_key => $1, client_config => '{"max_retries": 0}')`, [KEY]).catch((failure: unknown) => failure);
    expect(error).toMatchObject({ code: '28000', message: expect.stringContaining('openai refused the API key') });
    expect(String((error as Error).message)).not.toContain(KEY.slice(4, 12));
  });
});

describe('Anthropic', () => {
  it("anthropic_generate: the Messages API's message, with pgai's defaults and options", async () => {
    const client = await session();
    suite.fake.script({ kind: 'answer', content: 'Bonjour' });
    const { r } = await one(
      client,
      `SELECT ai.anthropic_generate('claude-test', '[{"role": "user", "content": "Say hi in French"}]', api_key => $1,
         system_prompt => 'Be brief', temperature => 0, stop_sequences => array['STOP'], top_k => 5, user_id => 'u7') AS r`,
      [KEY],
    );
    expect(r).toMatchObject({ type: 'message', role: 'assistant', content: [{ type: 'text', text: 'Bonjour' }], usage: { input_tokens: 7, output_tokens: 3 } });
    const [request] = suite.fake.requests;
    expect(request).toMatchObject({ path: '/v1/messages', headers: expect.objectContaining({ 'x-api-key': KEY, 'anthropic-version': '2023-06-01' }) });
    expect(request!.body).toEqual({
      model: 'claude-test',
      messages: [{ role: 'user', content: 'Say hi in French' }],
      max_tokens: 1024,
      system: 'Be brief',
      temperature: 0,
      stop_sequences: ['STOP'],
      top_k: 5,
      metadata: { user_id: 'u7' },
    });
  });
});

describe('Anthropic models', () => {
  it('anthropic_list_models: the models as rows', async () => {
    const client = await session();
    const { rows } = await client.query(`SELECT * FROM ai.anthropic_list_models(api_key => $1) ORDER BY created`, [KEY]);
    expect(rows).toEqual([
      { id: 'embed-test', name: 'Embed Test', created: new Date('2020-09-13T12:26:40Z') },
      { id: 'gpt-test', name: 'GPT Test', created: new Date('2023-11-14T22:13:20Z') },
    ]);
    expect(suite.fake.requests[0]).toMatchObject({ method: 'GET', path: '/v1/models?limit=1000', headers: expect.objectContaining({ 'x-api-key': KEY }) });
  });
});

describe('Ollama', () => {
  it("ollama_embed, ollama_generate and ollama_chat_complete answer Ollama's own JSON, on ai.ollama_host", async () => {
    const client = await session();
    const { v } = await one(client, `SELECT ai.ollama_embed('nomic-embed-text', 'hello', keep_alive => '5m', embedding_options => '{"num_ctx": 512}') AS v`);
    expect(floats(v)).toEqual(fakeEmbedding('hello'));
    expect(suite.fake.requests[0]).toMatchObject({ path: '/api/embeddings', body: { model: 'nomic-embed-text', prompt: 'hello', keep_alive: '5m', options: { num_ctx: 512 } } });
    const { g } = await one(client, `SELECT ai.ollama_generate('llama3', 'why?', system_prompt => 'short', images => array['\\x0102'::bytea], context => array[9]) AS g`);
    expect(g).toMatchObject({ model: 'llama3', response: 'generated: why?', done: true, context: [1, 2, 3] });
    expect(suite.fake.requests[1]!.body).toEqual({ model: 'llama3', prompt: 'why?', stream: false, system: 'short', images: ['AQI='], context: [9] });
    const { c } = await one(client, `SELECT ai.ollama_chat_complete('llama3', '[{"role": "user", "content": "hey"}]', chat_options => '{"temperature": 0}', response_format => '"json"') AS c`);
    expect(c).toMatchObject({ message: { role: 'assistant', content: 'chat: hey' }, done: true });
    expect(suite.fake.requests[2]!.body).toEqual({ model: 'llama3', messages: [{ role: 'user', content: 'hey' }], stream: false, options: { temperature: 0 }, format: 'json' });
  });

  it("asks for no more answer tokens than a cap in dollars holds: Ollama's num_predict, 256 for a call that sets none", async () => {
    const client = await session();
    // A model no other test calls: a provider's price is read when it is built, at its first call.
    setPriceTable(new Map([['llama3-priced', { input: 10_000, output: 10_000 }]]));
    afterThisTest(async () => setPriceTable(new Map()));
    suite.fake.requests.length = 0;
    await client.query(`SELECT ai.ollama_chat_complete('llama3-priced', '[{"role": "user", "content": "hey"}]', chat_options => '{"temperature": 0}')`);
    await client.query('SET pg_llm.max_cost_per_statement = 10');
    await client.query(`SELECT ai.ollama_chat_complete('llama3-priced', '[{"role": "user", "content": "hey"}]', chat_options => '{"temperature": 0}')`);
    await client.query(`SELECT ai.ollama_generate('llama3-priced', 'why?', embedding_options => '{"num_predict": 40}')`);
    expect(suite.fake.requests.map((request) => request.body.options)).toEqual([{ temperature: 0 }, { temperature: 0, num_predict: ANSWER_TOKENS }, { num_predict: 40 }]);
  });

  it('ollama_list_models: the models as rows; host as an argument wins over the setting', async () => {
    const client = await session();
    await client.query(`SET ai.ollama_host = 'http://127.0.0.1:9'`);
    const { rows } = await client.query(`SELECT name, size, family, families, parameter_size, modified_at FROM ai.ollama_list_models(host => $1)`, [suite.fake.baseUrl.replace(/\/v1$/, '')]);
    expect(rows).toEqual([{ name: 'llama3:latest', size: '4661224676', family: 'llama', families: ['llama'], parameter_size: '8.0B', modified_at: new Date('2024-05-01T10:00:00Z') }]);
    const { rows: loaded } = await client.query(`SELECT name, parent_model, family, expires_at, size_vram FROM ai.ollama_ps($1)`, [suite.fake.baseUrl.replace(/\/v1$/, '')]);
    expect(loaded).toEqual([{ name: 'llama3:latest', parent_model: '', family: 'llama', expires_at: new Date('2024-06-04T14:38:31Z'), size_vram: '5137025024' }]);
  });
});

describe('Cohere and Voyage AI', () => {
  it('cohere_embed, cohere_rerank and cohere_rerank_simple on Cohere\'s v2 API', async () => {
    const client = await session();
    const { v } = await one(client, `SELECT ai.cohere_embed('embed-english-v3.0', 'hello', api_key => $1, input_type => 'search_document', truncate_long_inputs => 'END') AS v`, [KEY]);
    expect(floats(v)).toEqual(fakeEmbedding('hello'));
    expect(suite.fake.requests[0]).toMatchObject({ path: '/v2/embed', authorization: `Bearer ${KEY}`, body: { model: 'embed-english-v3.0', texts: ['hello'], embedding_types: ['float'], input_type: 'search_document', truncate: 'END' } });
    const documents = ['cats purr', 'dogs bark loudly', 'the cat and the dog'];
    const { r } = await one(client, `SELECT ai.cohere_rerank('rerank-v3.5', 'cat dog', $2, api_key => $1, top_n => 2) AS r`, [KEY, documents]);
    expect(r.results).toEqual([
      { index: 2, relevance_score: fakeRelevance('cat dog', documents[2]!) },
      { index: 1, relevance_score: fakeRelevance('cat dog', documents[1]!) },
    ]);
    const { rows } = await client.query(`SELECT * FROM ai.cohere_rerank_simple('rerank-v3.5', 'cat dog', $2, api_key => $1)`, [KEY, documents]);
    expect(rows.map((row) => row.document)).toEqual(['the cat and the dog', 'dogs bark loudly', 'cats purr']);
    expect(rows[0]).toMatchObject({ index: 2, relevance_score: fakeRelevance('cat dog', documents[2]!) });
  });

  it("voyageai_rerank and voyageai_rerank_simple: pgai's JSON with each document's text, and rows", async () => {
    const client = await session();
    const documents = ['cats purr', 'the cat and the dog'];
    const { r } = await one(client, `SELECT ai.voyageai_rerank('rerank-2', 'cat dog', $2, api_key => $1, top_k => 1) AS r`, [KEY, documents]);
    expect(r).toEqual({ results: [{ index: 1, document: 'the cat and the dog', relevance_score: fakeRelevance('cat dog', documents[1]!) }], total_tokens: 9 });
    expect(suite.fake.requests[0]).toMatchObject({ path: '/v1/rerank', body: { query: 'cat dog', documents, model: 'rerank-2', top_k: 1 } });
    const { rows } = await client.query(`SELECT index, document FROM ai.voyageai_rerank_simple('rerank-2', 'cat dog', $2, api_key => $1)`, [KEY, documents]);
    expect(rows).toEqual([
      { index: 1, document: 'the cat and the dog' },
      { index: 0, document: 'cats purr' },
    ]);
  });

  it('voyageai_embed: a text, and texts by index, with input_type and truncation as Voyage AI\'s client sends them', async () => {
    const client = await session();
    const { v } = await one(client, `SELECT ai.voyageai_embed('voyage-3-lite', 'hello', 'query', api_key => $1) AS v`, [KEY]);
    expect(floats(v)).toEqual(fakeEmbedding('hello'));
    expect(suite.fake.requests[0]).toMatchObject({ path: '/v1/embeddings', authorization: `Bearer ${KEY}`, body: { model: 'voyage-3-lite', input: ['hello'], input_type: 'query', truncation: true } });
    const { rows } = await client.query(`SELECT index, embedding FROM ai.voyageai_embed('voyage-3-lite', array['x', 'yy'], api_key => $1)`, [KEY]);
    expect(rows.map((row) => [row.index, floats(row.embedding)])).toEqual([
      [0, fakeEmbedding('x')],
      [1, fakeEmbedding('yy')],
    ]);
  });
});

describe('metering and audit', () => {
  it('requests are counted on /metrics by provider, model, kind and outcome', async () => {
    const client = await session();
    await client.query(`SELECT ai.cohere_rerank('rerank-metered', 'q', array['a'], api_key => $1)`, [KEY]);
    await client.query(`SELECT ai.ollama_chat_complete('llama-metered', '[{"role": "user", "content": "x"}]')`);
    const metrics = await processRegistry.metrics();
    expect(metrics).toContain('pg_llm_model_requests_total{provider="cohere",model="rerank-metered",kind="rerank",outcome="ok"} 1');
    expect(metrics).toContain('pg_llm_model_prompt_tokens_total{provider="ollama",model="llama-metered"} 6');
    expect(metrics).not.toContain(KEY.slice(3, 11));
  });

  it('each call writes an audit row without its key, and NULL input is NULL', async () => {
    const client = await session();
    await one(client, `SELECT ai.openai_embed('m', 'audited', api_key => $1) AS v`, [KEY]);
    expect(await one(client, `SELECT ai.openai_embed('m', NULL::text, api_key => $1) AS v`, [KEY])).toEqual({ v: null });
    const { rows } = await client.query(`SELECT event_type, metadata FROM _pg_llm_catalog.pg_llm_audit_log`);
    expect(rows).toEqual([{ event_type: 'ai.openai_embed', metadata: expect.objectContaining({ provider: 'openai', model_name: 'm', prompt_tokens: 2 }) }]);
    expect(JSON.stringify(rows)).not.toContain(KEY.slice(3, 11));
  });
});
