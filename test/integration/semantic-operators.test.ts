// The typed semantic operators (llm_if, llm_classify, llm_extract, llm_rerank) against a fake OpenAI on loopback:
// in WHERE and in the target list over hundreds of rows, their calls overlapping; structured output at temperature
// 0; an answer that does not conform asked for once more, then a clear error; a cancel stopping the calls.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';
import type { RecordedRequest } from '../support/fake-provider.js';
import { pointedAt } from '../support/pgai.js';
import { connection, startProxy } from '../support/proxy.js';
import { sendCancel } from '../support/raw-client.js';

const shared = proxyAndFakeProvider();
const ROWS = 300;
/** The proxy's default --call-concurrency. */
const CALL_CONCURRENCY = 16;

/** A table of `ROWS` tickets: every third asks for a refund, the others report a bug. */
async function withTickets(): Promise<{ client: pg.Client; direct: pg.Client }> {
  const { client, direct } = await databaseWithModel(shared.proxy, shared.fake, 'openai', { max_retries: 0 });
  shared.fake.mostAtOnce = 0;
  await client.query(`CREATE TABLE tickets AS SELECT id, CASE WHEN id % 3 = 0 THEN 'I want a refund for order ' ELSE 'The app crashes on screen ' END || id AS body FROM generate_series(1, ${ROWS}) AS id`);
  return { client, direct };
}

/** Every request answered from its last message, 20 ms later, so that calls overlap. */
function replyToEach(count: number, answer: (prompt: string) => unknown): void {
  shared.fake.script(...Array.from({ length: count }, () => ({ kind: 'reply' as const, delayMs: 20, answer: (messages: Array<{ content: string }>) => JSON.stringify(answer(messages.at(-1)!.content)) })));
}

function answers(...contents: unknown[]): void {
  shared.fake.script(...contents.map((content) => ({ kind: 'answer' as const, content: typeof content === 'string' ? content : JSON.stringify(content) })));
}

function responseFormat(request: RecordedRequest): { type: string; json_schema: { schema: Record<string, unknown>; strict: boolean } } {
  return request.body.response_format as never;
}

const refunds = Array.from({ length: ROWS / 3 }, (_, i) => (i + 1) * 3);

describe('llm_if', () => {
  it('filters rows in WHERE, one call per row, the calls overlapping, at temperature 0 with a boolean schema', async () => {
    const { client, direct } = await withTickets();
    replyToEach(ROWS, (prompt) => ({ answer: prompt.includes('refund for') }));
    const { rows } = await client.query(`SELECT id FROM tickets WHERE llm_if('Is this a refund request? ' || body, 'llm') ORDER BY id`);
    expect(rows.map((row) => row.id)).toEqual(refunds);
    expect(shared.fake.requests).toHaveLength(ROWS);
    expect(shared.fake.mostAtOnce).toBeGreaterThan(1);
    const [request] = shared.fake.requests;
    expect(request!.body.temperature).toBe(0);
    expect(responseFormat(request!)).toMatchObject({ type: 'json_schema', json_schema: { strict: true, schema: { properties: { answer: { type: 'boolean' } } } } });
    const audit = await direct.query(`SELECT count(*)::int AS calls, min(instance_name) AS instance FROM _pg_llm_catalog.pg_llm_audit_log WHERE event_type = 'llm_if'`);
    expect(audit.rows).toEqual([{ calls: ROWS, instance: 'llm' }]);
  });

  it('answers in the target list, on the instance pg_llm.default_model names when the call names none', async () => {
    const { client } = await withTickets();
    await client.query(`SET pg_llm.default_model = 'llm'`);
    replyToEach(ROWS, (prompt) => ({ answer: prompt.includes('refund for') }));
    const { rows } = await client.query(`SELECT id, llm_if('Is this a refund request? ' || body) AS refund FROM tickets ORDER BY id`);
    expect(rows.filter((row) => row.refund).map((row) => row.id)).toEqual(refunds);
    expect(rows).toHaveLength(ROWS);
    expect(await client.query(`SELECT llm_if(NULL) AS unknown`)).toMatchObject({ rows: [{ unknown: null }] });
  });

  it("asks the proxy's default model (llm_ask's) when neither the call nor pg_llm.default_model names one", async () => {
    const proxy = await startProxy({ defaults: { env: { OPENAI_API_KEY: 'sk-default', OPENAI_BASE_URL: shared.fake.baseUrl, OPENAI_MODEL: 'default-test' } } });
    afterThisTest(() => proxy.stop());
    const { name } = await freshDatabase();
    const client = new pg.Client(connection(proxy.port, 'postgres', name));
    await client.connect();
    afterThisTest(() => client.end());
    await client.query('CREATE EXTENSION pg_llm');
    shared.fake.requests.length = 0;
    answers({ answer: false });
    expect((await client.query(`SELECT llm_if('Is the sky green?') AS yes`)).rows).toEqual([{ yes: false }]);
    expect(shared.fake.requests.map((request) => [request.body.model, request.authorization])).toEqual([['default-test', 'Bearer sk-default']]);
  });

  it('keeps the confidence of an answer with logprobs in its audit row', async () => {
    const { client, direct } = await withTickets();
    shared.fake.script({ kind: 'answer', content: '{"answer": true}', logprobs: [-0.1, -0.1] });
    expect((await client.query(`SELECT llm_if('Is water wet?', 'llm') AS yes`)).rows).toEqual([{ yes: true }]);
    const audit = await direct.query(`SELECT confidence_score, metadata->>'confidence_source' AS source FROM _pg_llm_catalog.pg_llm_audit_log WHERE event_type = 'llm_if'`);
    expect(audit.rows).toEqual([{ confidence_score: expect.closeTo(Math.exp(-0.1), 3), source: 'logprobs' }]);
  });
});

describe('llm_classify', () => {
  const LABELS = `ARRAY['refund', 'bug']`;

  it('gives one of the labels per row, in the target list and in WHERE', async () => {
    const { client } = await withTickets();
    replyToEach(2 * ROWS, (prompt) => ({ label: prompt.includes('refund for') ? 'refund' : 'bug' }));
    const listed = await client.query(`SELECT id, llm_classify(body, ${LABELS}, 'llm') AS label FROM tickets ORDER BY id`);
    expect(listed.rows.filter((row) => row.label === 'refund').map((row) => row.id)).toEqual(refunds);
    expect(new Set(listed.rows.map((row) => row.label))).toEqual(new Set(['refund', 'bug']));
    const filtered = await client.query(`SELECT id FROM tickets WHERE llm_classify(body, ${LABELS}, 'llm') = 'refund' ORDER BY id`);
    expect(filtered.rows.map((row) => row.id)).toEqual(refunds);
    expect(responseFormat(shared.fake.requests[0]!).json_schema.schema).toMatchObject({ properties: { label: { type: 'string', enum: ['refund', 'bug'] } } });
    expect(shared.fake.mostAtOnce).toBeGreaterThan(1);
  });

  it('asks once more when the answer is none of the labels, showing the model its answer', async () => {
    const { client, direct } = await withTickets();
    answers({ label: 'billing' }, { label: 'refund' });
    expect((await client.query(`SELECT llm_classify('Money back please', ${LABELS}, 'llm') AS label`)).rows).toEqual([{ label: 'refund' }]);
    const retry = shared.fake.requests[1]!.body.messages as Array<{ role: string; content: string }>;
    expect(retry.slice(-2)).toEqual([
      { role: 'assistant', content: '{"label":"billing"}' },
      { role: 'user', content: expect.stringContaining('"billing" is not one of the labels') },
    ]);
    const audit = await direct.query(`SELECT metadata->>'attempts' AS attempts FROM _pg_llm_catalog.pg_llm_audit_log WHERE event_type = 'llm_classify'`);
    expect(audit.rows).toEqual([{ attempts: '2' }]);
  });

  it('fails with 39001 and a hint when the second answer is none of the labels either', async () => {
    const { client } = await withTickets();
    answers({ label: 'billing' }, 'no idea');
    await expect(client.query(`SELECT llm_classify('Money back please', ${LABELS}, 'llm')`)).rejects.toMatchObject({
      code: '39001',
      message: expect.stringContaining('llm_classify'),
      hint: expect.stringContaining('one of the labels'),
    });
    expect(shared.fake.requests).toHaveLength(2);
    await expect(client.query(`SELECT llm_classify('x', ARRAY[]::text[], 'llm')`)).rejects.toMatchObject({ code: '22023' });
  });
});

describe('llm_extract', () => {
  const SCHEMA = `'{"type": "object", "properties": {"order": {"type": "integer"}}, "required": ["order"]}'::jsonb`;

  it('extracts per row what the schema describes, in the target list and in WHERE', async () => {
    const { client } = await withTickets();
    replyToEach(2 * ROWS, (prompt) => ({ order: Number(/(\d+)$/.exec(prompt)![1]) }));
    const listed = await client.query(`SELECT id, llm_extract(body, ${SCHEMA}, 'llm') AS data FROM tickets ORDER BY id`);
    expect(listed.rows).toEqual(Array.from({ length: ROWS }, (_, i) => ({ id: i + 1, data: { order: i + 1 } })));
    const filtered = await client.query(`SELECT id FROM tickets WHERE (llm_extract(body, ${SCHEMA}, 'llm')->>'order')::int <= 3 ORDER BY id`);
    expect(filtered.rows.map((row) => row.id)).toEqual([1, 2, 3]);
    expect(responseFormat(shared.fake.requests[0]!)).toMatchObject({ type: 'json_schema', json_schema: { strict: false } });
  });

  it('on Anthropic, asks for JSON without enforcing the schema (its output format takes only strict schemas)', async () => {
    const { client } = await databaseWithModel(shared.proxy, shared.fake, 'anthropic', { model_name: 'claude-test', base_url: shared.fake.baseUrl.replace(/\/v1$/, '') });
    answers({ order: 7 }, { answer: true });
    expect((await client.query(`SELECT llm_extract('order seven', ${SCHEMA}, 'llm') AS data`)).rows).toEqual([{ data: { order: 7 } }]);
    expect((await client.query(`SELECT llm_if('Is seven odd?', 'llm') AS yes`)).rows).toEqual([{ yes: true }]);
    const [extracted, decided] = shared.fake.requests.map((request) => request.body);
    expect(extracted).not.toHaveProperty('output_config');
    expect(extracted!.system).toContain('Answer with a single JSON object');
    expect(decided).toMatchObject({ temperature: 0, output_config: { format: { type: 'json_schema', schema: { properties: { answer: { type: 'boolean' } } } } } });
  });

  it('asks for a schema that is not an object as {"value": …}', async () => {
    const { client } = await withTickets();
    answers({ value: ['a', 'b'] });
    const { rows } = await client.query(`SELECT llm_extract('tags a and b', '{"type": "array", "items": {"type": "string"}}', 'llm') AS tags`);
    expect(rows).toEqual([{ tags: ['a', 'b'] }]);
  });

  it('asks once more when the answer does not match the schema, then fails with 39001', async () => {
    const { client } = await withTickets();
    answers({ order: 'seven' }, { order: 7 });
    expect((await client.query(`SELECT llm_extract('order seven', ${SCHEMA}, 'llm') AS data`)).rows).toEqual([{ data: { order: 7 } }]);
    answers({ order: 'seven' }, { number: 7 });
    await expect(client.query(`SELECT llm_extract('order seven', ${SCHEMA}, 'llm')`)).rejects.toMatchObject({
      code: '39001',
      message: expect.stringContaining("must have required property 'order'"),
      hint: expect.stringContaining('match the schema'),
    });
    await expect(client.query(`SELECT llm_extract('x', '{"type": "nonsense"}', 'llm')`)).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('invalid JSON schema') });
  });

  it("refuses a schema that would run the caller's regular expression, or nest or weigh without bound, before any model call", async () => {
    const { client } = await withTickets();
    shared.fake.requests.length = 0;
    const extract = (schema: unknown) => client.query(`SELECT llm_extract('x', $1::jsonb, 'llm')`, [JSON.stringify(schema)]);
    // (a+)+$ backtracks for minutes on 'aaaa…!' in a JavaScript RegExp, on the event loop every session shares
    const catastrophic = { type: 'object', properties: { order: { type: 'string', pattern: '^(a+)+$' } } };
    await expect(extract(catastrophic)).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('"pattern"') });
    await expect(extract({ type: 'object', patternProperties: { '^(a+)+$': { type: 'string' } } })).rejects.toMatchObject({ code: '0A000' });
    await expect(extract({ allOf: [{ not: { items: catastrophic } }] })).rejects.toMatchObject({ code: '0A000' });
    let deep: Record<string, unknown> = { type: 'string' };
    for (let level = 0; level < 40; level++) deep = { type: 'object', properties: { inner: deep } };
    await expect(extract(deep)).rejects.toMatchObject({ code: '54000', message: expect.stringContaining('nests deeper') });
    const wide = { type: 'object', properties: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`field_${i}`, { type: 'string' }])) };
    await expect(extract(wide)).rejects.toMatchObject({ code: '54000' });
    expect(shared.fake.requests).toHaveLength(0);
    // a property may be named pattern: only the keyword is refused
    answers({ pattern: 'stripes' });
    expect((await extract({ type: 'object', properties: { pattern: { type: 'string' } }, required: ['pattern'] })).rows).toEqual([{ llm_extract: { pattern: 'stripes' } }]);
  });
});

describe('llm_rerank', () => {
  it('gives each document its score, most relevant first, indexes counting from 1', async () => {
    const { client } = await withTickets();
    answers({ scores: [{ index: 1, score: 0.2 }, { index: 2, score: 0.9 }, { index: 3, score: 0.5 }] });
    const { rows } = await client.query(`SELECT index, score FROM llm_rerank('refunds', ARRAY['crash', 'refund policy', 'billing'], 'llm')`);
    expect(rows).toEqual([{ index: 2, score: 0.9 }, { index: 3, score: 0.5 }, { index: 1, score: 0.2 }]);
    expect(shared.fake.requests[0]!.body.messages).toContainEqual({ role: 'user', content: expect.stringContaining('[2] refund policy') });
  });

  it('ranks per row, the calls overlapping, and asks again when a document has no score', async () => {
    const { client } = await withTickets();
    replyToEach(ROWS, (prompt) => ({ scores: [{ index: 1, score: prompt.includes('refund for') ? 1 : 0 }, { index: 2, score: 0.5 }] }));
    const { rows } = await client.query(
      `SELECT t.id FROM tickets t WHERE (SELECT index FROM llm_rerank(t.body, ARRAY['refunds', 'crashes'], 'llm') LIMIT 1) = 1 ORDER BY t.id`,
    );
    expect(rows.map((row) => row.id)).toEqual(refunds);
    expect(shared.fake.mostAtOnce).toBeGreaterThan(1);
    answers({ scores: [{ index: 1, score: 0.3 }] }, { scores: [{ index: 1, score: 0.3 }, { index: 2, score: 0.1 }] });
    expect((await client.query(`SELECT index FROM llm_rerank('q', ARRAY['a', 'b'], 'llm')`)).rows).toEqual([{ index: 1 }, { index: 2 }]);
    expect(shared.fake.requests.at(-1)!.body.messages).toContainEqual({ role: 'user', content: expect.stringContaining('1 of the 2 documents have no score') });
  });

  it("ranks on Cohere's and Voyage AI's rerank APIs for a model named 'cohere:…' or 'voyageai:…'", async () => {
    const { client } = await withTickets();
    await client.query(`${pointedAt(shared.fake)}; SET ai.cohere_api_key = 'co-key'; SET ai.voyage_api_key = 'vo-key'`);
    for (const model of ['cohere:rerank-v3.5', 'voyageai:rerank-2']) {
      const { rows } = await client.query(`SELECT index FROM llm_rerank('refund money', ARRAY['crash', 'refund of money', 'refund'], $1)`, [model]);
      expect(rows).toEqual([{ index: 2 }, { index: 3 }, { index: 1 }]);
    }
    expect(shared.fake.requests.map((request) => [request.path, request.body.model])).toEqual([['/v2/rerank', 'rerank-v3.5'], ['/v1/rerank', 'rerank-2']]);
  });
});

// Last: the stalls the cancelled statement did not reach stay scripted.
describe('cancel', () => {
  it('a cancelled statement stops its calls: 57014, every open request aborted, no more sent', async () => {
    const { client } = await withTickets();
    shared.fake.script(...Array.from({ length: ROWS }, () => ({ kind: 'stall' as const })));
    const query = client.query(`SELECT id FROM tickets WHERE llm_if(body, 'llm')`);
    await expect.poll(() => shared.fake.requests.length).toBeGreaterThan(1);
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
    await sendCancel(shared.proxy.port, processID, secretKey);
    await expect(query).rejects.toMatchObject({ code: '57014' });
    // No call ends before the cancel (each stalls), so no more were ever started than the statement runs at once
    // (--call-concurrency, 16); the fake may read some of them only after the client has the error.
    await expect.poll(() => shared.fake.requests.every((request) => request.aborted)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const sent = shared.fake.requests.length;
    expect(sent).toBeLessThanOrEqual(CALL_CONCURRENCY);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(shared.fake.requests.length).toBe(sent);
  });
});
