// The pgvector path, with PGlite (PostgreSQL in WebAssembly) and its vector extension as the upstream: the catalog
// keeps embeddings as vector, the stubs say vector, and what the proxy encodes itself is pgvector's text and binary
// form, byte for byte. Also a database that gains pgvector after pg_llm, and loses it again. PGlite serves one
// connection at a time, so each upstream here has a single client.

import { vector } from '@electric-sql/pglite-pgvector';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINARY_FORMAT, encodeValue, TEXT_FORMAT } from '../../src/intercept/values.js';
import { localEmbedding } from '../../src/providers/local-embedding.js';
import { float4Literal, float4Samples } from '../support/float4-samples.js';
import { startPgliteUpstream, type PgliteUpstream } from '../support/pglite-upstream.js';
import { pgvectorProxy } from '../support/pgvector-proxy.js';
import { startProxy, type TestProxy } from '../support/proxy.js';
import { RawClient } from '../support/raw-client.js';

const SLOW = 120_000;
const expected = (text: string) => localEmbedding(text, 8).map(Math.fround);

describe('on a database with pgvector', () => {
  let upstream: PgliteUpstream;
  let proxy: TestProxy;
  let raw: RawClient;

  /** The rows of a simple Query as text; its error as an Error with the SQLSTATE in `code`. */
  async function rows(sql: string): Promise<Array<Array<string | null>>> {
    const messages = (await raw.query(sql, SLOW)) as unknown as Array<{ name: string; fields: Array<string | null>; code: string; message: string }>;
    const error = messages.find((message) => message.name === 'error');
    if (error) throw Object.assign(new Error(error.message), { code: error.code });
    return messages.filter((message) => message.name === 'dataRow').map((message) => message.fields);
  }
  const value = async (sql: string) => (await rows(sql))[0]![0];
  const typeOf = async (sql: string) => {
    const messages = (await raw.query(sql, SLOW)) as unknown as Array<{ name: string; fields: Array<{ dataTypeID: number }> }>;
    return messages.find((message) => message.name === 'rowDescription')!.fields[0]!.dataTypeID;
  };

  beforeAll(async () => {
    upstream = await startPgliteUpstream({ vector });
    proxy = await startProxy({ upstream: upstream.target });
    raw = await RawClient.session(proxy.port);
    await rows('CREATE EXTENSION vector');
    await rows('CREATE EXTENSION pg_llm');
    await rows(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{"embedding_dimensions": 8}')`);
  }, SLOW);
  afterAll(async () => {
    raw?.end();
    await proxy?.stop();
    await upstream?.stop();
  });

  it('keeps the catalog embeddings as vector, and the stubs say vector', async () => {
    expect(await rows(`SELECT attrelid::regclass::text, format_type(atttypid, NULL) FROM pg_attribute WHERE attname = 'embedding' AND attrelid::regclass::text LIKE '_pg_llm_catalog.%' ORDER BY 1`)).toEqual([
      ['_pg_llm_catalog.pg_llm_knowledge_chunks', 'vector'],
      ['_pg_llm_catalog.pg_llm_queries', 'vector'],
      ['_pg_llm_catalog.pg_llm_vectors', 'vector'],
    ]);
    expect(await rows(`SELECT oid::regprocedure::text, pg_get_function_result(oid) FROM pg_proc WHERE proname IN ('pg_llm_get_embedding', 'pg_llm_store_vector', 'pg_llm_search_vectors') ORDER BY 1`)).toEqual([
      ['pg_llm_get_embedding(text,text)', 'vector'],
      ['pg_llm_search_vectors(vector,integer,real)', expect.stringContaining('similarity real')],
      ['pg_llm_store_vector(text,text,bigint,vector,jsonb)', 'bigint'],
    ]);
  });

  it('returns pgvector text from pg_llm_get_embedding, the same computed by the proxy or returned by PostgreSQL', async () => {
    const vectorType = Number(await value(`SELECT 'vector'::regtype::oid`));
    const projected = `SELECT pg_llm_get_embedding('m', 'cats sleep on warm mats')`;
    const general = `SELECT e FROM (SELECT pg_llm_get_embedding('m', 'cats sleep on warm mats') AS e) AS s`;
    expect(await typeOf(projected)).toBe(vectorType);
    expect(await typeOf(general)).toBe(vectorType);
    const text = (await value(projected))!;
    expect((JSON.parse(text) as number[]).map(Math.fround)).toEqual(expected('cats sleep on warm mats'));
    expect(await value(general)).toBe(text);
    expect(await value(`SELECT '${text}'::vector`)).toBe(text);
  });

  it('encodes vector in binary exactly as pgvector does', async () => {
    const [projected] = (await raw.binaryQuery(`SELECT pg_llm_get_embedding('m', $1)`, ['a long text to embed'])).rows;
    const [general] = (await raw.binaryQuery(`SELECT e FROM (SELECT pg_llm_get_embedding('m', $1) AS e) AS s`, ['a long text to embed'])).rows;
    const [own] = (await raw.binaryQuery(`SELECT $1::vector`, [await value(`SELECT pg_llm_get_embedding('m', 'a long text to embed')`)])).rows;
    expect(projected![0]!.toString('hex')).toBe(own![0]!.toString('hex'));
    expect(general![0]!.toString('hex')).toBe(own![0]!.toString('hex'));
  });

  it('encodes any float4 values as pgvector prints and sends them', async () => {
    const values = float4Samples();
    const literal = float4Literal(values, '[', ']');
    expect(encodeValue('vector', values, TEXT_FORMAT)!.toString()).toBe(await value(`SELECT '${literal}'::vector`));
    const [own] = (await raw.binaryQuery(`SELECT $1::vector`, [literal])).rows;
    expect(encodeValue('vector', values, BINARY_FORMAT)!.toString('hex')).toBe(own![0]!.toString('hex'));
  });

  it('embeds each row of a table into a vector column, and stores and searches those vectors', async () => {
    await rows(`CREATE TABLE docs (id int PRIMARY KEY, body text, embedding vector(8))`);
    await rows(`INSERT INTO docs (id, body) VALUES (1, 'cats sleep on warm mats'), (2, 'quarterly tax filing deadline'), (3, 'tomatoes need sun')`);
    await rows(`UPDATE docs SET embedding = pg_llm_get_embedding('m', body)`);
    const projected = await rows(`SELECT id, pg_llm_get_embedding('m', body) FROM docs ORDER BY id`);
    expect(projected).toEqual(await rows(`SELECT id, embedding FROM docs ORDER BY id`));
    expect(await rows(`SELECT id, pg_llm_store_vector('docs', 'embedding', id, embedding) FROM docs ORDER BY id`)).toEqual([['1', '1'], ['2', '2'], ['3', '3']]);
    await rows(`SELECT pg_llm_store_vector('docs', 'title', 4, '[1,0,0]', '{"short": true}')`);
    expect(await rows(`SELECT row_id, metadata FROM pg_llm_search_vectors(pg_llm_get_embedding('m', 'the cat sleeps on a mat'), 1, 0)`)).toEqual([['1', '{}']]);
    expect(await rows(`SELECT row_id, similarity, metadata FROM pg_llm_search_vectors('[1,0.000001,0]')`)).toEqual([['4', '1', '{"short": true}']]);
    await expect(rows(`SELECT * FROM pg_llm_search_vectors('[1,0]', -5)`)).rejects.toMatchObject({ code: '22023' });
  });

  it('adds and searches knowledge', async () => {
    const pets = await value(`SELECT pg_llm_add_knowledge('pets.md', 'Cats sleep most of the day on warm mats and sofas.', '{"topic": "pets"}')`);
    await value(`SELECT pg_llm_add_knowledge('tax.md', 'The quarterly tax filing deadline is the fifteenth of the month.')`);
    expect(await rows(`SELECT document_id, source_name, metadata FROM pg_llm_search_knowledge('where do cats sleep?', '{"limit": 1}')`)).toEqual([[pets, 'pets.md', '{"topic": "pets"}']]);
  });
});

describe('on a database that gains pgvector after pg_llm, and loses it', () => {
  const suite = pgvectorProxy(SLOW);

  const embeddingType = async () => (await suite.client.query(`SELECT pg_llm_get_embedding('m', 'x') AS e`)).fields[0]!.dataTypeID;
  const stubs = async () => (await suite.client.query(`SELECT oid::regprocedure::text AS stub FROM pg_proc WHERE proname = 'pg_llm_store_vector'`)).rows.map((row) => row.stub);

  it('converts the catalog and the stubs on ALTER EXTENSION pg_llm UPDATE, keeping what was stored', async () => {
    await suite.client.query('CREATE EXTENSION pg_llm');
    await suite.client.query(`SELECT pg_llm_add_model(false, 'mock', 'm', NULL, '{}')`);
    expect(await embeddingType()).toBe(1021);
    await suite.client.query(`SELECT pg_llm_store_vector('t', 'c', 1, '{1,0,0}')`);
    await suite.client.query('CREATE EXTENSION vector');
    await suite.client.query('ALTER EXTENSION pg_llm UPDATE');
    const vectorType = (await suite.client.query(`SELECT 'vector'::regtype::oid AS oid`)).rows[0].oid;
    expect(await embeddingType()).toBe(Number(vectorType));
    expect(await stubs()).toEqual(['pg_llm_store_vector(text,text,bigint,vector,jsonb)']);
    expect((await suite.client.query(`SELECT row_id, similarity FROM pg_llm_search_vectors('[1,0,0]')`)).rows).toEqual([{ row_id: '1', similarity: 1 }]);

    await suite.client.query('DROP EXTENSION vector CASCADE');
    await suite.client.query('ALTER EXTENSION pg_llm UPDATE');
    expect(await embeddingType()).toBe(1021);
    expect(await stubs()).toEqual(['pg_llm_store_vector(text,text,bigint,real[],jsonb)']);
    await suite.client.query(`SELECT pg_llm_store_vector('t', 'c', 2, '{0,1,0}')`);
    expect((await suite.client.query(`SELECT row_id FROM pg_llm_search_vectors('{0,1,0}')`)).rows).toEqual([{ row_id: '2' }]);
  });
});
