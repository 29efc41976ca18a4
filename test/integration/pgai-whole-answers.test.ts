// Issue 12 (review J2): pgai's functions that hand a provider's answer on whole (ai.openai_chat_complete,
// ai.cohere_rerank…) had it parsed in a thread, then parsed again on the event loop every session shares and written
// out again: 7.6 MB of `{}` from a role's own server held every session for 1.5 s; so did a list of 120,000 models,
// and a raw token embedding answered with 400 vectors. Now a whole answer comes from the thread as JSON text that goes
// to the client (or the results table) as it is, and what a function reads of an answer is cut down in the thread.

import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { longestJsonParsed } from '../support/json-parsed-on-event-loop.js';
import { aiDatabase, pgaiSuite, pointedAt } from '../support/pgai.js';

const suite = pgaiSuite();
const KEY = 'sk-whole-answers-0123456789abcdefghij';
const CHAT = (extra: string) => `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}${extra}}`;
const COMPLETE = `ai.openai_chat_complete('m', '[{"role": "user", "content": "hi"}]', api_key => $1)`;
/** jsonb as the text the proxy sent, not parsed by the driver (which would parse it on the proxy's own thread). */
const asText = { getTypeParser: () => (value: string) => value };

async function session(): Promise<pg.Client> {
  const { client } = await aiDatabase(suite);
  await client.query(pointedAt(suite.fake));
  return client;
}

/** The rows of `sql`, jsonb as text, and the longest text JSON.parse was given on the event loop meanwhile. */
async function rowsAndLongestParse(client: pg.Client, sql: string): Promise<{ rows: Array<Record<string, string>>; longest: number }> {
  let rows: Array<Record<string, string>> = [];
  const longest = await longestJsonParsed(async () => (rows = (await client.query({ text: sql, values: [KEY], types: asText })).rows));
  return { rows, longest };
}

describe('a big answer that a pgai function hands on whole', () => {
  const padding = `,"pad":[${'{},'.repeat(200_000)}{}]`;

  it('as an output column: sent to the client as the thread wrote it, never parsed on the event loop', async () => {
    const client = await session();
    suite.fake.script({ kind: 'body', json: CHAT(padding) });
    const { rows, longest } = await rowsAndLongestParse(client, `SELECT ${COMPLETE} AS r`);
    expect(longest).toBeLessThan(64 * 1024);
    const answer = JSON.parse(rows[0]!.r!);
    expect(answer.choices[0].message.content).toBe('ok');
    expect(answer.pad).toHaveLength(200_001);
  }, 60_000);

  it('stored for a later pass of the statement: stored as the thread wrote it', async () => {
    const client = await session();
    suite.fake.script({ kind: 'body', json: CHAT(padding) });
    const { rows, longest } = await rowsAndLongestParse(client, `SELECT jsonb_array_length(r->'pad') AS n, r->'choices'->0->'message'->>'content' AS c FROM (SELECT ${COMPLETE} AS r) s`);
    expect(longest).toBeLessThan(64 * 1024);
    expect(rows).toEqual([{ n: '200001', c: 'ok' }]);
  }, 60_000);

  it('in binary format: jsonb as its version byte and the text', async () => {
    const client = await session();
    suite.fake.script({ kind: 'body', json: CHAT(padding) });
    const asBytes = { getTypeParser: () => (value: Buffer) => value };
    const binary = await client.query({ text: `SELECT ${COMPLETE} AS r`, values: [KEY], binary: true, types: asBytes } as pg.QueryConfig);
    const value = binary.rows[0].r as Buffer;
    expect(value[0]).toBe(1);
    expect(JSON.parse(value.subarray(1).toString('utf8')).pad).toHaveLength(200_001);
  }, 60_000);

  it('is masked of the key in the thread, escaped forms of it too', async () => {
    const client = await session();
    const escaped = KEY.replace(/[a-z]/g, (letter) => `\\u00${letter.charCodeAt(0).toString(16)}`);
    const content = `the key: ${KEY}, escaped: ${escaped}, ${'x'.repeat(100_000)}`;
    suite.fake.script({ kind: 'body', json: CHAT('').replace('"content":"ok"', `"content":"${content}"`) });
    const { rows, longest } = await rowsAndLongestParse(client, `SELECT ${COMPLETE}->'choices'->0->'message'->>'content' AS c`);
    expect(longest).toBeLessThan(64 * 1024);
    expect(rows[0]!.c!.startsWith('the key: ') && rows[0]!.c!.endsWith(`, ${'x'.repeat(100_000)}`)).toBe(true);
    expect(rows[0]!.c).not.toContain(KEY.slice(0, 20));
    expect(rows[0]!.c).not.toContain(KEY.slice(-20));
  }, 60_000);

  it('not JSON: 39001, as the thread finds it', async () => {
    const client = await session();
    suite.fake.script({ kind: 'body', json: CHAT(padding).slice(0, -1) });
    await expect(client.query(`SELECT ${COMPLETE} AS r`, [KEY])).rejects.toMatchObject({ code: '39001', message: "the model provider's answer is not valid JSON" });
  }, 60_000);
});

describe('a big answer of which a pgai function reads a part', () => {
  it('a list of 120,000 models: the first 10,000 read, never the whole on the event loop', async () => {
    const client = await session();
    const models = Array.from({ length: 120_000 }, (_, i) => ({ id: `m${i}`, created: 1, owned_by: 'me', x: [] }));
    suite.fake.script({ kind: 'body', json: JSON.stringify({ object: 'list', data: models }) });
    const { rows, longest } = await rowsAndLongestParse(client, `SELECT count(*) AS n, min(id) AS first, max(owned_by) AS owner FROM ai.openai_list_models(api_key => $1)`);
    expect(rows).toEqual([{ n: '10000', first: 'm0', owner: 'me' }]);
    // The 10,000 models' ids, dates and owners, not the 120,000 with their extras.
    expect(longest).toBeLessThan(1024 ** 2);
  }, 60_000);

  it('a token embedding answered with 400 vectors: refused in the thread', async () => {
    const client = await session();
    const vectors = Array.from({ length: 400 }, (_, index) => ({ object: 'embedding', index, embedding: Array(1000).fill(0.123456) }));
    suite.fake.script({ kind: 'body', json: JSON.stringify({ object: 'list', model: 'e', data: vectors }) });
    let outcome: unknown;
    const longest = await longestJsonParsed(async () => (outcome = await client.query(`SELECT ai.openai_embed('e', array[1, 2, 3], api_key => $1) AS v`, [KEY]).catch((error: unknown) => error)));
    expect(longest).toBeLessThan(64 * 1024);
    expect(outcome).toMatchObject({ code: '54000', message: expect.stringContaining("the model provider's answer has more than") });
  }, 60_000);

  it('a token embedding of one vector: read as before', async () => {
    const client = await session();
    const embedding = Array.from({ length: 20_000 / 8 }, (_, i) => i / 8);
    suite.fake.script({ kind: 'body', json: JSON.stringify({ object: 'list', model: 'e', data: [{ object: 'embedding', index: 0, embedding }], pad: 'x'.repeat(70_000) }) });
    const { rows } = await client.query(`SELECT ai.openai_embed('e', array[1, 2, 3], api_key => $1) AS v`, [KEY]);
    expect(rows[0].v).toEqual(embedding);
  }, 60_000);
});
