// pgai's vectorizer on a real PostgreSQL server with pgvector (test/support/pgvector-cluster.ts), end to end: the
// proxy's worker embeds the rows into the store's vector column, and builds the hnsw index of indexing_hnsw once the
// queue is empty and min_rows are stored, not before; a semantic search through the view then uses it.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeEmbedding, startFakeProvider, type FakeProvider } from '../support/fake-provider.js';
import { pgvectorCluster, withoutPgvectorServer } from '../support/pgvector-cluster.js';
import { connection, startProxy, type TestProxy } from '../support/proxy.js';
import { startWorker } from '../support/worker.js';

const SLOW = 120_000;
const EVENTUALLY = { timeout: 30_000, interval: 100 };
const KEY = 'sk-vectorizer-0123456789';
/** The rows' texts, whose fake embeddings all differ (test/support/fake-provider.ts). */
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo'];

describe.skipIf(withoutPgvectorServer)('a vectorizer on a PostgreSQL server with pgvector', () => {
  const server = pgvectorCluster(SLOW);
  let fake: FakeProvider;
  let proxy: TestProxy;
  let client: pg.Client;

  beforeAll(async () => {
    fake = await startFakeProvider();
    proxy = await startProxy({ upstream: { host: server.cluster.host, port: server.cluster.port } });
    client = new pg.Client(connection(proxy.port));
    await client.connect();
  }, SLOW);
  afterAll(async () => {
    await client?.end();
    await proxy?.stop();
    await fake?.close();
  });

  const rows = async (sql: string) => (await client.query(sql)).rows;
  const hnswIndexes = () => rows(`SELECT indexdef FROM pg_indexes WHERE tablename = 'docs_embedding_store' AND indexdef LIKE '%USING hnsw%'`);

  it('embeds into vectors, builds the hnsw index once min_rows are stored, and a semantic search uses it', async () => {
    await client.query('CREATE EXTENSION ai CASCADE');
    expect(await rows(`SELECT extname FROM pg_extension WHERE extname = 'vector'`)).toEqual([{ extname: 'vector' }]);
    await client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL)`);
    await client.query(`INSERT INTO docs SELECT i, (ARRAY['${WORDS.join("', '")}'])[i] FROM generate_series(1, 4) AS i`);
    const { id } = (
      await rows(`SELECT ai.create_vectorizer('docs'::regclass, loading => ai.loading_column('body'), embedding => ai.embedding_openai('text-embedding-3-small', 4),
                                              chunking => ai.chunking_none(), indexing => ai.indexing_hnsw(min_rows => 5, m => 8)) AS id`)
    )[0];
    startWorker('postgres', { pollMs: 100 }, { env: { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: fake.baseUrl } }, 'postgres', server.cluster.port);
    const pending = async () => (await rows(`SELECT ai.vectorizer_queue_pending(${id}, exact_count => true) AS n`))[0].n;
    await expect.poll(pending, EVENTUALLY).toBe('0');
    await expect.poll(async () => (await rows(`SELECT count(*)::int AS n FROM docs_embedding_store`))[0].n, EVENTUALLY).toBe(4);
    // Four of five: no index yet.
    expect(await hnswIndexes()).toEqual([]);

    await client.query(`INSERT INTO docs VALUES (5, '${WORDS[4]}')`);
    await expect.poll(hnswIndexes, EVENTUALLY).toEqual([
      { indexdef: 'CREATE INDEX docs_embedding_store_embedding_idx ON public.docs_embedding_store USING hnsw (embedding vector_cosine_ops) WITH (m=\'8\')' },
    ]);
    const stored = await rows(`SELECT chunk, embedding::text AS embedding, pg_typeof(embedding)::text AS type FROM docs_embedding_store ORDER BY id`);
    expect(stored).toEqual(WORDS.map((word) => ({ chunk: word, embedding: JSON.stringify(fakeEmbedding(word)), type: 'vector' })));

    await client.query(`SET ai.openai_api_key = '${KEY}'; SET ai.openai_base_url = '${fake.baseUrl}'; SET enable_seqscan = off`);
    const search = `SELECT id FROM docs_embedding ORDER BY embedding <=> ai.openai_embed('text-embedding-3-small', 'charlie', dimensions => 4) LIMIT 1`;
    expect(await rows(search)).toEqual([{ id: 3 }]);
    const plan = (await rows(`EXPLAIN SELECT id FROM docs_embedding_store ORDER BY embedding <=> '${JSON.stringify(fakeEmbedding('charlie'))}' LIMIT 1`)).map((row) => row['QUERY PLAN']);
    expect(plan.join('\n')).toContain('Index Scan using docs_embedding_store_embedding_idx');
  }, SLOW);
});
