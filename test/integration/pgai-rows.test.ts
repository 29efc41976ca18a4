// pgai's functions wherever a function call can stand, as pg_llm's do: per row over a table (concurrently, each
// row's embedding from its own text, the embeddings of many rows sharing requests), in UPDATE … SET and WHERE,
// inside a transaction, and stopped at once by a cancel.

import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../support/database.js';
import { fakeEmbedding } from '../support/fake-provider.js';
import { aiDatabase, pgaiSuite, pointedAt } from '../support/pgai.js';
import { connection } from '../support/proxy.js';

const suite = pgaiSuite();
const ROWS = 48;
const DOCS = `CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL, embedding real[]);
  INSERT INTO docs (id, body) SELECT n, 'document number ' || n FROM generate_series(1, ${ROWS}) AS n;
  GRANT ALL ON docs TO trust_user`;

async function docs(role: 'postgres' | 'trust' = 'postgres') {
  const database = await aiDatabase(suite, DOCS, role);
  await database.client.query(pointedAt(suite.fake));
  await database.client.query(`SET ai.openai_api_key = 'sk-rows-0123456789'`);
  suite.fake.requests.length = 0;
  return database;
}

describe('per row', () => {
  it('embeds every row of a table in its own place, the rows sharing requests', async () => {
    const { client } = await docs('trust');
    const { rows } = await client.query(`SELECT id, ai.openai_embed('text-embedding-3-small', body) AS embedding FROM docs ORDER BY id`);
    expect(rows).toHaveLength(ROWS);
    for (const row of rows) expect(row.embedding).toEqual(fakeEmbedding(`document number ${row.id}`));
    const texts = suite.fake.requests.flatMap((request) => request.body.input as string[]);
    expect(texts.sort()).toEqual(rows.map((row) => `document number ${row.id}`).sort());
    expect(suite.fake.requests.length).toBeLessThan(ROWS / 2);
  });

  it('streams rows whose calls are whole columns, positional arguments and all', async () => {
    const { client } = await docs();
    const { rows } = await client.query(`SELECT id, ai.cohere_embed('embed-v3', body, 'sk-cohere-0123456789') AS e, ai.ollama_embed('nomic', body) AS o FROM docs WHERE id <= 5 ORDER BY id`);
    expect(rows).toEqual([1, 2, 3, 4, 5].map((id) => ({ id, e: fakeEmbedding(`document number ${id}`), o: fakeEmbedding(`document number ${id}`) })));
    expect(suite.fake.requests.filter((request) => request.path === '/v2/embed').length).toBeLessThan(5);
  });

  it('UPDATE … SET from the embedding, a chat per row, and a call in WHERE, inside a transaction', async () => {
    const { client } = await docs();
    await client.query('BEGIN');
    const updated = await client.query(`UPDATE docs SET embedding = ai.openai_embed('m', body) WHERE id <= 10`);
    expect(updated.rowCount).toBe(10);
    const { rows } = await client.query(`SELECT id, embedding FROM docs WHERE embedding IS NOT NULL ORDER BY id`);
    expect(rows.map((row) => row.embedding)).toEqual(rows.map((row) => fakeEmbedding(`document number ${row.id}`)));
    await client.query('ROLLBACK');
    expect((await client.query(`SELECT count(*)::int AS n FROM docs WHERE embedding IS NOT NULL`)).rows).toEqual([{ n: 0 }]);
    suite.fake.script(...Array.from({ length: 3 }, (_, i) => ({ kind: 'answer' as const, content: `answer ${i}` })));
    const chats = await client.query(
      `SELECT id, ai.openai_chat_complete('gpt-4o-mini', jsonb_build_array(jsonb_build_object('role', 'user', 'content', body)))->'choices'->0->'message'->>'content' AS answer
         FROM docs WHERE id <= 3 ORDER BY id`,
    );
    expect(chats.rows.map((row) => row.answer).sort()).toEqual(['answer 0', 'answer 1', 'answer 2']);
    const found = await client.query(`SELECT id FROM docs WHERE (ai.openai_embed('m', body))[1] = 17 ORDER BY id`);
    expect(found.rows.map((row) => row.id)).toEqual(Array.from({ length: 9 }, (_, i) => i + 1));
  });

  it('chunks every row, as rows of their own', async () => {
    const { client } = await docs();
    const { rows } = await client.query(
      `SELECT d.id, c.seq, c.chunk FROM docs d, LATERAL ai.chunk_text(d.body, chunk_size => 8, chunk_overlap => 0, separator => ' ') c WHERE d.id IN (1, 2) ORDER BY 1, 2`,
    );
    expect(rows).toEqual([
      { id: 1, seq: '0', chunk: 'document' },
      { id: 1, seq: '1', chunk: 'number 1' },
      { id: 2, seq: '0', chunk: 'document' },
      { id: 2, seq: '1', chunk: 'number 2' },
    ]);
  });
});

describe('cancel', () => {
  it('stops a call the provider does not answer, with 57014, and the request to the provider ends', async () => {
    const { name, client } = await docs();
    const pid = (client as unknown as { processID: number }).processID;
    const other = new pg.Client(connection(suite.proxy.port, 'postgres', name));
    await other.connect();
    afterThisTest(() => other.end());
    suite.fake.script({ kind: 'stall' });
    const stalled = client.query(`SELECT ai.anthropic_generate('c', '[{"role": "user", "content": "wait"}]', api_key => 'sk-wait-0123456789', base_url => $1)`, [suite.fake.baseUrl.replace(/\/v1$/, '')]).catch((error: unknown) => error);
    await expect.poll(() => suite.fake.requests.length).toBe(1);
    expect((await other.query(`SELECT pg_cancel_backend(${pid}) AS cancelled`)).rows).toEqual([{ cancelled: true }]);
    expect(await stalled).toMatchObject({ code: '57014' });
    await expect.poll(() => suite.fake.requests[0]!.aborted).toBe(true);
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});
