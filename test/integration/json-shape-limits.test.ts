// JSON text the proxy did not write, under every cap on its size, is parsed on the event loop every session shares:
// a model's JSON answer, a call's arguments as the server hands them over, JSON a role stored in the catalog. Its
// shape is counted first (src/json-structure.ts), and one that would take JSON.parse long (millions of `[]`, or
// `[[[…]]]` nested millions deep, held every session for seconds) is refused with 54000 unparsed, the session going
// on (a query's JSON value past them stays its text); JSON of the sizes calls need (a vector of 16,000 dimensions, a
// thousand documents) is parsed as ever.

import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EVENT_LOOP_JSON } from '../../src/json-structure.js';
import { JSON_ANSWER_LIMITS } from '../../src/providers/options.js';
import { databaseWithModel, proxyAndFakeProvider } from '../support/models.js';

const shared = proxyAndFakeProvider();

/** Arrays nested one deeper than `depth`. */
const nested = (depth: number) => '['.repeat(depth + 1) + ']'.repeat(depth + 1);
/** An object holding one array of `count` empty arrays. */
const emptyArrays = (count: number) => `{"x": [${Array(count).fill('[]').join(',')}]}`;
const vector = Array.from({ length: 16_000 }, (_, i) => i / 16_000);
const documents = Array.from({ length: 1000 }, (_, i) => ({ id: i, title: `document ${i}`, tags: ['a', 'b'] }));

async function modelDatabase() {
  const database = await databaseWithModel(shared.proxy, shared.fake, 'openai');
  await database.client.query(`SELECT pg_llm_add_model(false, 'mock', 'quiet', NULL, '{"mock_response": "ok"}')`);
  await database.client.query(`SELECT pg_llm_add_model(false, 'mock', 'echo', NULL, '{"mock_mode": "echo"}')`);
  return database;
}

describe("a model's JSON answer", () => {
  const asked = `SELECT pg_llm_chat_json('llm', 'a', '{"response_format": "json"}') AS j`;

  it('nested or numerous past the limits is refused with 54000 unparsed, the session going on', async () => {
    const { client } = await modelDatabase();
    shared.fake.script({ kind: 'answer', content: nested(JSON_ANSWER_LIMITS.depth) }, { kind: 'answer', content: emptyArrays(JSON_ANSWER_LIMITS.containers) });
    const refused = { code: '54000', hint: expect.stringContaining('hold up every session') };
    await expect(client.query(asked)).rejects.toMatchObject({ ...refused, message: `the model's JSON answer has arrays and objects nested more than 32 deep, more than the proxy parses` });
    await expect(client.query(asked)).rejects.toMatchObject({ ...refused, message: expect.stringContaining(`more than ${JSON_ANSWER_LIMITS.containers} arrays and objects`) });
    shared.fake.script({ kind: 'answer', content: JSON.stringify({ vector, documents }) });
    expect((await client.query(asked)).rows[0].j.response_json).toEqual({ vector, documents });
  }, 60_000);

  it("from a mock model echoing a prompt past the limits is that prompt as text, never parsed as JSON", async () => {
    const { client } = await modelDatabase();
    const prompt = nested(JSON_ANSWER_LIMITS.depth);
    const { rows } = await client.query(`SELECT pg_llm_chat_json('echo', $1, '{"response_format": "json"}') AS j`, [prompt]);
    expect(rows[0].j.response_json).toEqual({ response: prompt });
  }, 60_000);
});

describe("a call's arguments", () => {
  it('numerous past the limits are refused with 54000, naming the function, on each path the proxy takes', async () => {
    const { client } = await modelDatabase();
    const refused = {
      code: '54000',
      message: `pg_llm_chat_json: the arguments of one call have more than ${EVENT_LOOP_JSON.containers} arrays and objects, more than the proxy parses`,
      hint: expect.stringContaining('hold up every session'),
    };
    const many = emptyArrays(EVENT_LOOP_JSON.containers);
    await expect(client.query(`SELECT pg_llm_chat_json('quiet', 'a', $1::jsonb)`, [many])).rejects.toMatchObject(refused);
    await expect(client.query(`SELECT pg_llm_chat_json('quiet', 'a', $1::jsonb) IS NULL`, [many])).rejects.toMatchObject(refused);
    await expect(client.query(`SELECT * FROM pg_llm_estimate($$SELECT pg_llm_chat_json('quiet', 'a', '${many}'::jsonb)$$)`)).rejects.toMatchObject(refused);
    const values = `{"x": [${Array(EVENT_LOOP_JSON.values).fill('0').join(',')}]}`;
    await expect(client.query(`SELECT pg_llm_chat_json('quiet', 'a', $1::jsonb)`, [values])).rejects.toMatchObject({ code: '54000', message: expect.stringContaining(`more than ${EVENT_LOOP_JSON.values} values`) });
    // Objects of members whose names all differ: each name costs JSON.parse a new shape of object.
    const names = `{"x": [${Array.from({ length: 500 }, (_, o) => `{${Array.from({ length: 120 }, (_, k) => `"${'k'.repeat(90)}${o}-${k}": 1`).join(',')}}`).join(',')}]}`;
    await expect(client.query(`SELECT pg_llm_chat_json('quiet', 'a', $1::jsonb)`, [names])).rejects.toMatchObject({ code: '54000', message: expect.stringContaining(`more than ${EVENT_LOOP_JSON.members} members of objects`) });
    const deep = `{"x": ${nested(EVENT_LOOP_JSON.depth)}}`;
    await expect(client.query(`SELECT pg_llm_chat_json('quiet', 'a', $1::jsonb)`, [deep])).rejects.toMatchObject({ code: '54000', message: expect.stringContaining('nested more than') });
    // A text argument that holds JSON is one string to the count of the arguments, and counted itself when parsed.
    await expect(client.query(`SELECT pg_llm_add_model(false, 'mock', 'many', NULL, $1)`, [many])).rejects.toMatchObject({ ...refused, message: refused.message.replace('pg_llm_chat_json', 'pg_llm_add_model') });
    expect((await client.query(`SELECT pg_llm_chat('quiet', 'a') AS a`)).rows).toEqual([{ a: 'ok' }]);
  }, 120_000);

  it('of the sizes calls need are taken as ever', async () => {
    const { client } = await modelDatabase();
    const options = JSON.stringify({ vector, documents });
    const streamed = await client.query(`SELECT pg_llm_chat_json('quiet', 'a', $1::jsonb) AS j`, [options]);
    expect(streamed.rows[0].j.response).toBe('ok');
    const collected = await client.query(`SELECT pg_llm_chat_json('quiet', 'a', $1::jsonb) ->> 'response' AS a`, [options]);
    expect(collected.rows).toEqual([{ a: 'ok' }]);
  }, 60_000);
});

describe('JSON a role stored in the catalog', () => {
  it('numerous past the limits is a note in its place as audit rows and traces are read back, the other rows read', async () => {
    const { client } = await modelDatabase();
    const requestId = randomUUID();
    const many = emptyArrays(EVENT_LOOP_JSON.containers);
    await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_audit_log (request_id, event_type, success, metadata) VALUES ($1, 'chat', true, $2::jsonb), ($1, 'embed', true, '{"n": 1}')`, [requestId, many]);
    await client.query(`INSERT INTO _pg_llm_catalog.pg_llm_trace_log (request_id, step, detail) VALUES ($1, 'answer', $2::jsonb), ($1, 'asked', '{"n": 2}')`, [requestId, many]);
    const note = { pg_llm_unread: expect.stringMatching(new RegExp(`${requestId}.*more than the proxy parses`)) };
    const audit = await client.query(`SELECT event_type, metadata FROM pg_llm_get_audit_log() ORDER BY event_type`);
    expect(audit.rows).toEqual([{ event_type: 'chat', metadata: note }, { event_type: 'embed', metadata: { n: 1 } }]);
    const { events } = (await client.query(`SELECT pg_llm_get_trace($1) AS trace`, [requestId])).rows[0].trace;
    expect(events).toEqual(expect.arrayContaining([note, expect.objectContaining({ step: 'asked', detail: { n: 2 } })]));
    await client.query(`DELETE FROM _pg_llm_catalog.pg_llm_audit_log WHERE event_type = 'embed'`);
    await client.query(`UPDATE _pg_llm_catalog.pg_llm_audit_log SET metadata = $1::jsonb`, [JSON.stringify({ vector, documents })]);
    const { rows } = await client.query(`SELECT metadata FROM pg_llm_get_audit_log()`);
    expect(rows).toEqual([{ metadata: { vector, documents } }]);
  }, 60_000);

  it("as a model's config, under the cap on its size, is refused with 54000 when the model is called", async () => {
    const { client } = await modelDatabase();
    await client.query(`UPDATE _pg_llm_catalog.pg_llm_models SET config = $1::jsonb WHERE instance_name = 'quiet'`, [emptyArrays(EVENT_LOOP_JSON.containers)]);
    await expect(client.query(`SELECT pg_llm_chat('quiet', 'a')`)).rejects.toMatchObject({ code: '54000', message: expect.stringContaining('the config of model instance "quiet"') });
    expect((await client.query(`SELECT pg_llm_chat('echo', 'a') AS a`)).rows).toEqual([{ a: 'a' }]);
  }, 60_000);
});

describe("a query's JSON values", () => {
  it('past the limits stay their text in a query run for a call, those within them parsed', async () => {
    const { client } = await modelDatabase();
    await client.query(`CREATE TABLE shapes (n int, j jsonb)`);
    await client.query(`INSERT INTO shapes VALUES (1, $1::jsonb), (2, $2::jsonb)`, [emptyArrays(EVENT_LOOP_JSON.containers), JSON.stringify({ vector })]);
    await client.query(`SELECT pg_llm_add_model(false, 'mock', 'sql', NULL, '{"mock_response": "SELECT n, j FROM shapes ORDER BY n"}')`);
    const { rows } = await client.query(`SELECT pg_llm_text2sql_json('sql', 'the shapes') -> 'execution' -> 'rows' AS r`);
    const [many, within] = rows[0].r;
    expect(typeof many.j).toBe('string');
    expect(JSON.parse(many.j).x).toHaveLength(EVENT_LOOP_JSON.containers);
    expect(within).toEqual({ n: 2, j: { vector } });
  }, 60_000);
});
