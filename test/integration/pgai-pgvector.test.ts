// pgai's vectors on a database with pgvector (PGlite and its vector extension as the upstream, which serves one
// connection at a time): CREATE EXTENSION ai CASCADE installs pgvector first, as pgai's does, and the embedding
// functions then return pgvector's vector, which a vector column takes as it is.

import { vector } from '@electric-sql/pglite-pgvector';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeEmbedding, startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { startPgliteUpstream, type PgliteUpstream } from '../support/pglite-upstream.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';

const SLOW = 120_000;

describe('on a database with pgvector', () => {
  let upstream: PgliteUpstream;
  let proxy: TestProxy;
  let fake: FakeProvider;
  let client: pg.Client;
  const notices: string[] = [];
  beforeAll(async () => {
    fake = await startFakeProvider();
    upstream = await startPgliteUpstream({ vector });
    proxy = await startProxy({ upstream: upstream.target });
    client = new pg.Client(connection(proxy.port));
    client.on('notice', (notice) => notices.push(notice.message ?? ''));
    await client.connect();
  }, SLOW);
  afterAll(async () => {
    await client?.end();
    await proxy?.stop();
    await upstream?.stop();
    await fake?.close();
  });

  it('CREATE EXTENSION ai CASCADE installs pgvector, and the embeddings are vectors', async () => {
    await client.query('CREATE EXTENSION ai CASCADE');
    expect(notices).toContain('installing required extension "vector"');
    const { rows: results } = await client.query(`SELECT oid::regprocedure::text AS stub, pg_get_function_result(oid) AS result FROM pg_proc WHERE proname IN ('openai_embed', 'ollama_embed') ORDER BY 1`);
    expect(results).toEqual([
      { stub: 'ai.ollama_embed(text,text,text,text,jsonb,boolean)', result: 'vector' },
      { stub: 'ai.openai_embed(text,integer[],text,text,integer,text,jsonb,jsonb,jsonb,boolean,jsonb)', result: 'vector' },
      { stub: 'ai.openai_embed(text,text,text,text,integer,text,jsonb,jsonb,jsonb,boolean,jsonb)', result: 'vector' },
      { stub: 'ai.openai_embed(text,text[],text,text,integer,text,jsonb,jsonb,jsonb,boolean,jsonb)', result: 'TABLE(index integer, embedding vector)' },
    ]);
    await client.query(`SET ai.openai_base_url = '${fake.baseUrl}'; SET ai.openai_api_key = 'sk-vector-0123456789'`);
    const { rows, fields } = await client.query(`SELECT ai.openai_embed('m', 'hello') AS v`);
    expect(fields[0]!.dataTypeID).toBe(Number((await client.query(`SELECT 'vector'::regtype::oid AS oid`)).rows[0].oid));
    expect(rows[0].v).toBe(`[${fakeEmbedding('hello').join(',')}]`);
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text, embedding vector(4))`);
    await client.query(`INSERT INTO docs (id, body) VALUES (1, 'cats'), (2, 'dogs')`);
    await client.query(`UPDATE docs SET embedding = ai.openai_embed('m', body)`);
    const nearest = await client.query(`SELECT id FROM docs ORDER BY embedding <-> ai.openai_embed('m', 'cat') LIMIT 1`);
    expect(nearest.rows).toEqual([{ id: 1 }]);
  }, SLOW);
});
