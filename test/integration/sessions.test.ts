// pg_llm's sessions through the proxy: history sent with each turn (bounded by max_messages), both turns stored,
// the streaming variant storing the whole answer, state, listing, cleanup, and bad input.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { proxyAndFakeProvider } from '../support/models.js';
import { connection } from '../support/proxy.js';

const shared = proxyAndFakeProvider();

async function setup() {
  const { name, client: direct } = await freshDatabase();
  const client = new pg.Client(connection(shared.proxy.port, 'postgres', name));
  await client.connect();
  afterThisTest(() => client.end());
  await client.query('CREATE EXTENSION pg_llm');
  await client.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'llm', NULL, $1)`, [JSON.stringify({ model_name: 'gpt-test', base_url: shared.fake.baseUrl })]);
  shared.fake.requests.length = 0;
  const one = async (sql: string, values: unknown[] = []) => Object.values((await client.query(sql, values)).rows[0]!)[0] as any;
  return { client, direct, one };
}

describe('sessions', () => {
  it('each turn sends the recent history, at most max_messages messages, and stores both turns', async () => {
    const { client, one } = await setup();
    const session = await one(`SELECT pg_llm_create_session(3)`);
    expect(session).toMatch(/^[0-9a-f-]{36}$/);
    shared.fake.script({ kind: 'answer', content: 'A1' }, { kind: 'answer', content: 'A2' }, { kind: 'answer', content: 'A3' });
    for (const prompt of ['Q1', 'Q2', 'Q3']) await client.query(`SELECT pg_llm_multi_turn_chat('llm', $1, $2)`, [session, prompt]);
    expect(shared.fake.requests.map((request) => request.body.messages)).toEqual([
      [{ role: 'user', content: 'Q1' }],
      [{ role: 'user', content: 'Q1' }, { role: 'assistant', content: 'A1' }, { role: 'user', content: 'Q2' }],
      [{ role: 'assistant', content: 'A1' }, { role: 'user', content: 'Q2' }, { role: 'assistant', content: 'A2' }, { role: 'user', content: 'Q3' }],
    ]);
    const messages = await client.query(`SELECT role, content, request_id IS NOT NULL AS has_request FROM pg_llm_get_session_messages($1)`, [session]);
    expect(messages.rows.map((row) => `${row.role}:${row.content}`)).toEqual(['user:Q1', 'assistant:A1', 'user:Q2', 'assistant:A2', 'user:Q3', 'assistant:A3']);
    expect(messages.rows.every((row) => row.has_request)).toBe(true);
    await client.query(`SELECT pg_llm_set_max_messages($1, 1)`, [session]);
    shared.fake.script({ kind: 'answer', content: 'A4' });
    await client.query(`SELECT pg_llm_multi_turn_chat('llm', $1, 'Q4')`, [session]);
    expect(shared.fake.requests.at(-1)!.body.messages).toEqual([{ role: 'assistant', content: 'A3' }, { role: 'user', content: 'Q4' }]);
  });

  it('the streaming turn streams the chunks and then stores the whole answer', async () => {
    const { client, one } = await setup();
    const session = await one(`SELECT pg_llm_create_session()`);
    shared.fake.script({ kind: 'stream', chunks: ['Hel', 'lo'] });
    const rows = await client.query(`SELECT chunk, is_final FROM pg_llm_multi_turn_chat_stream('llm', $1, 'hi')`, [session]);
    expect(rows.rows.map((row) => row.chunk)).toEqual(['Hel', 'lo', '']);
    expect(await one(`SELECT pg_llm_get_session($1)`, [session])).toMatchObject({ session_id: session, max_messages: 10, message_count: 2, state: {} });
    expect((await client.query(`SELECT content FROM pg_llm_get_session_messages($1)`, [session])).rows).toEqual([{ content: 'hi' }, { content: 'Hello' }]);
  });

  it('state, listing, deletion and cleanup', async () => {
    const { client, direct, one } = await setup();
    const first = await one(`SELECT pg_llm_create_session()`);
    const second = await one(`SELECT pg_llm_create_session(5)`);
    expect((await client.query(`SELECT pg_llm_update_session_state($1, '{"topic": "billing"}') AS v`, [first])).rows).toEqual([{ v: '' }]);
    expect((await one(`SELECT pg_llm_get_session($1)`, [first])).state).toEqual({ topic: 'billing' });
    const listed = await client.query(`SELECT session_id, message_count, max_messages FROM pg_llm_get_sessions() ORDER BY max_messages`);
    expect(listed.rows).toEqual([
      { session_id: second, message_count: 0, max_messages: 5 },
      { session_id: first, message_count: 0, max_messages: 10 },
    ]);
    await direct.query(`UPDATE _pg_llm_catalog.pg_llm_sessions SET last_active_time = now() - interval '1 hour' WHERE session_id = $1`, [second]);
    await client.query(`SELECT pg_llm_cleanup_sessions(600)`);
    expect((await client.query(`SELECT session_id FROM pg_llm_get_sessions()`)).rows).toEqual([{ session_id: first }]);
    expect(await one(`SELECT pg_llm_delete_session($1)`, [first])).toBe(true);
    expect(await one(`SELECT pg_llm_delete_session($1)`, [first])).toBe(false);
  });

  it('bad input: an unknown session is 42704, limits must be positive, state an object', async () => {
    const { client, one } = await setup();
    const unknown = { code: '42704', message: 'session "nope" does not exist', hint: 'Create one with pg_llm_create_session().' };
    await expect(client.query(`SELECT pg_llm_multi_turn_chat('llm', 'nope', 'hi')`)).rejects.toMatchObject(unknown);
    await expect(client.query(`SELECT * FROM pg_llm_get_session_messages('nope')`)).rejects.toMatchObject(unknown);
    await expect(client.query(`SELECT pg_llm_get_session('nope')`)).rejects.toMatchObject(unknown);
    await expect(client.query(`SELECT pg_llm_set_max_messages('nope', 3)`)).rejects.toMatchObject(unknown);
    await expect(client.query(`SELECT pg_llm_create_session(0)`)).rejects.toMatchObject({ code: '22023', message: 'max_messages must be a positive whole number' });
    await expect(client.query(`SELECT pg_llm_cleanup_sessions(-1)`)).rejects.toMatchObject({ code: '22023' });
    const session = await one(`SELECT pg_llm_create_session()`);
    await expect(client.query(`SELECT pg_llm_update_session_state($1, '[1]')`, [session])).rejects.toMatchObject({ code: '22023' });
    expect(shared.fake.requests).toHaveLength(0);
  });
});
