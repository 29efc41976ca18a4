// Embeddings and stored vectors through the proxy on a PostgreSQL without pgvector, where vector is real[]:
// pg_llm_get_embedding in text and binary, computed by the proxy (per-row projection) and returned through
// PostgreSQL (the stubs), encoded alike; vector arguments in every form PostgreSQL accepts; the vector store.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINARY_FORMAT, encodeValue, TEXT_FORMAT } from '../../src/intercept/values.js';
import { localEmbedding } from '../../src/providers/local-embedding.js';
import { afterThisTest, freshDatabase } from '../support/database.js';
import { startFakeProvider } from '../support/fake-provider.js';
import { float4Literal, float4Samples } from '../support/float4-samples.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';
import { RawClient } from '../support/raw-client.js';

const REAL_ARRAY_OID = 1021;
const DIMENSIONS = 8;

let proxy: TestProxy;
beforeAll(async () => {
  proxy = await startProxy();
});
afterAll(() => proxy.stop());

/** A fresh database with pg_llm, a mock model "m" whose embeddings have 8 dimensions, and a client through the proxy. */
async function setup(): Promise<{ name: string; client: pg.Client }> {
  const { name } = await freshDatabase();
  const client = new pg.Client(connection(proxy.port, 'postgres', name));
  await client.connect();
  afterThisTest(() => client.end());
  await client.query('CREATE EXTENSION pg_llm');
  await client.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, $1)`, [JSON.stringify({ embedding_dimensions: DIMENSIONS })]);
  return { name, client };
}

/** The mock's embedding of a text, as float4 values. */
const expected = (text: string) => localEmbedding(text, DIMENSIONS).map(Math.fround);
const asFloat4 = (values: number[]) => values.map(Math.fround);
const rawText = { getTypeParser: () => (value: string) => value };

describe('pg_llm_get_embedding', () => {
  it('returns real[] when the database has no pgvector, the same computed by the proxy or returned by PostgreSQL', async () => {
    const { client } = await setup();
    const projected = await client.query(`SELECT pg_llm_get_embedding('m', 'cats sleep on warm mats') AS e`);
    const general = await client.query(`SELECT e FROM (SELECT pg_llm_get_embedding('m', 'cats sleep on warm mats') AS e) AS s`);
    for (const result of [projected, general]) {
      expect(result.fields[0]!.dataTypeID).toBe(REAL_ARRAY_OID);
      expect(asFloat4(result.rows[0].e)).toEqual(expected('cats sleep on warm mats'));
    }
    const text = async (sql: string) => (await client.query({ text: sql, types: rawText })).rows[0].e as string;
    const proxyText = await text(`SELECT pg_llm_get_embedding('m', 'cats sleep on warm mats') AS e`);
    expect(proxyText).toMatch(/^\{[-0-9.e,]+\}$/);
    expect(proxyText).toBe(await text(`SELECT e FROM (SELECT pg_llm_get_embedding('m', 'cats sleep on warm mats') AS e) AS s`));
    expect(proxyText).toBe(await text(`SELECT '${proxyText}'::real[] AS e`));
  });

  it('encodes real[] in binary exactly as PostgreSQL does', async () => {
    const { name, client } = await setup();
    const raw = await RawClient.session(proxy.port, { database: name });
    afterThisTest(async () => raw.end());
    const [projected] = (await raw.binaryQuery(`SELECT pg_llm_get_embedding('m', $1)`, ['a long text to embed'])).rows;
    const [general] = (await raw.binaryQuery(`SELECT e FROM (SELECT pg_llm_get_embedding('m', $1) AS e) AS s`, ['a long text to embed'])).rows;
    const text = (await client.query({ text: `SELECT pg_llm_get_embedding('m', 'a long text to embed') AS e`, types: rawText })).rows[0].e as string;
    const [own] = (await raw.binaryQuery(`SELECT $1::real[]`, [text])).rows;
    expect(projected![0]!.toString('hex')).toBe(own![0]!.toString('hex'));
    expect(general![0]!.toString('hex')).toBe(own![0]!.toString('hex'));
  });

  it('embeds each row of a table, and its results go into a real[] column by INSERT and UPDATE', async () => {
    const { client } = await setup();
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, embedding real[])`);
    await client.query(`INSERT INTO docs (id, body) SELECT g, 'document number ' || g FROM generate_series(1, 20) g`);
    const projected = await client.query(`SELECT id, pg_llm_get_embedding('m', body) AS e FROM docs ORDER BY id`);
    expect(projected.rows.map((row) => asFloat4(row.e))).toEqual(Array.from({ length: 20 }, (_, i) => expected(`document number ${i + 1}`)));
    await client.query(`UPDATE docs SET embedding = pg_llm_get_embedding('m', body)`);
    await client.query(`CREATE TABLE copies AS SELECT id, pg_llm_get_embedding('m', body) AS embedding FROM docs`);
    const stored = await client.query(`SELECT d.embedding = c.embedding AS same, d.embedding FROM docs d JOIN copies c USING (id) ORDER BY id`);
    expect(stored.rows.every((row) => row.same === true)).toBe(true);
    expect(stored.rows.map((row) => asFloat4(row.embedding))).toEqual(projected.rows.map((row) => asFloat4(row.e)));
  });

  it('per-row embeddings from a provider share requests, each row getting its own vector', async () => {
    const fake = await startFakeProvider();
    afterThisTest(() => fake.close());
    const { client } = await setup();
    await client.query(`SELECT pg_llm_add_model(false, 'openai_compatible', 'remote', NULL, $1)`, [JSON.stringify({ model_name: 'm', embedding_model: 'emb', base_url: fake.baseUrl })]);
    const rows = await client.query(`SELECT g, pg_llm_get_embedding('remote', 'row ' || g) AS e FROM generate_series(1, 48) AS g ORDER BY g`);
    const fakeVector = (text: string) => [text.length, ...[...text].slice(0, 3).map((c) => c.charCodeAt(0))];
    expect(rows.rows.map((row) => row.e)).toEqual(Array.from({ length: 48 }, (_, i) => fakeVector(`row ${i + 1}`)));
    // One request per row without batching; with it, a request carries every row whose call is waiting then.
    expect(fake.requests.length).toBeLessThan(24);
  });

  it('fails like any model call: an unknown instance is 42704, a provider without embeddings 0A000', async () => {
    const { client } = await setup();
    await expect(client.query(`SELECT pg_llm_get_embedding('nope', 'x')`)).rejects.toMatchObject({ code: '42704' });
    await client.query(`SELECT pg_llm_add_model(false, 'anthropic', 'claude', 'sk-ant-0123456789', '{"model_name": "claude-test"}')`);
    await expect(client.query(`SELECT pg_llm_get_embedding('claude', 'x')`)).rejects.toMatchObject({ code: '0A000' });
    expect((await client.query(`SELECT pg_llm_get_embedding('m', NULL) AS e`)).rows).toEqual([{ e: null }]);
  });
});

describe('real[] values the proxy encodes', () => {
  it('are what PostgreSQL sends for the same float4 values, in text and binary', async () => {
    const { name, client } = await setup();
    const values = float4Samples();
    const literal = float4Literal(values);
    const own = (await client.query({ text: `SELECT $1::real[]::text AS t`, values: [literal] })).rows[0].t as string;
    expect(encodeValue('real[]', values, TEXT_FORMAT)!.toString()).toBe(own);
    const raw = await RawClient.session(proxy.port, { database: name });
    afterThisTest(async () => raw.end());
    const [binary] = (await raw.binaryQuery(`SELECT $1::real[]`, [literal])).rows;
    expect(encodeValue('real[]', values, BINARY_FORMAT)!.toString('hex')).toBe(binary![0]!.toString('hex'));
  });
});

describe('the vector store', () => {
  async function stored(client: pg.Client): Promise<void> {
    await client.query(`SELECT pg_llm_store_vector('docs', 'body', 1, '{1,0,0}', '{"tag": "x"}')`);
    await client.query(`SELECT pg_llm_store_vector('docs', 'body', 2, ARRAY[1, 1, 0])`);
    await client.query(`SELECT pg_llm_store_vector('docs', 'body', 3, $1)`, [[0, 0, 1]]);
    await client.query(`SELECT pg_llm_store_vector('docs', 'title', 4, '{1,0}')`);
  }

  it('stores vectors given as literals, arrays of another type and parameters, and finds the most similar first', async () => {
    const { client } = await setup();
    await stored(client);
    const found = await client.query(`SELECT * FROM pg_llm_search_vectors('{1,0.1,0}', 10, 0.5)`);
    expect(found.rows.map(({ row_id, similarity, metadata }) => [row_id, Math.round(similarity * 1000) / 1000, metadata])).toEqual([
      ['1', 0.995, { tag: 'x' }],
      ['2', 0.774, {}],
    ]);
    expect(found.fields.map((field) => field.dataTypeID)).toEqual([20, 25, 25, 20, 700, 3802]);
    const defaults = await client.query(`SELECT row_id FROM pg_llm_search_vectors('{0,0,1}')`);
    expect(defaults.rows).toEqual([{ row_id: '3' }]);
    const limited = await client.query(`SELECT row_id FROM pg_llm_search_vectors('{1,1,1}', 1, 0)`);
    expect(limited.rows).toEqual([{ row_id: '2' }]);
  });

  it('never compares vectors of different lengths', async () => {
    const { client } = await setup();
    await stored(client);
    expect((await client.query(`SELECT row_id FROM pg_llm_search_vectors('{1,0}', 10, -1)`)).rows).toEqual([{ row_id: '4' }]);
  });

  it('takes vectors from a table row by row, computed or stored', async () => {
    const { client } = await setup();
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, embedding real[])`);
    await client.query(`INSERT INTO docs (id, body) VALUES (1, 'cats sleep on warm mats'), (2, 'quarterly tax filing deadline')`);
    await client.query(`UPDATE docs SET embedding = pg_llm_get_embedding('m', body)`);
    const ids = await client.query(`SELECT id, pg_llm_store_vector('docs', 'embedding', id, embedding, jsonb_build_object('body', body)) AS vector_id FROM docs ORDER BY id`);
    expect(ids.rows.map((row) => row.vector_id)).toEqual(['1', '2']);
    const found = await client.query(`SELECT s.row_id, s.metadata FROM pg_llm_search_vectors(pg_llm_get_embedding('m', 'the cat sleeps on a mat'), 1, 0) AS s`);
    expect(found.rows).toEqual([{ row_id: '1', metadata: { body: 'cats sleep on warm mats' } }]);
  });

  it('refuses bad input with clear errors', async () => {
    const { client } = await setup();
    await expect(client.query(`SELECT * FROM pg_llm_search_vectors('{1,0}', -1)`)).rejects.toMatchObject({ code: '22023', message: 'limit_count must not be negative' });
    await expect(client.query(`SELECT pg_llm_store_vector('docs', 'body', 1, NULL)`)).rejects.toMatchObject({ code: '22004', message: 'query_vector must not be null' });
    await expect(client.query(`SELECT pg_llm_store_vector('docs', 'body', 1, '{1,NULL}')`)).rejects.toMatchObject({ code: '22004' });
    await expect(client.query(`SELECT pg_llm_store_vector('docs', 'body', 1, '{1,NaN}')`)).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('NaN') });
    await expect(client.query(`SELECT pg_llm_store_vector('docs', 'body', 1, '{}')`)).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('dimension') });
    await expect(client.query(`SELECT pg_llm_store_vector('docs', 'body', 1, '[1,2]')`)).rejects.toMatchObject({ code: '22P02' });
  });
});
