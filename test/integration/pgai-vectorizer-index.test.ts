// pgai's indexing configs on a database with pgvector (PGlite as the upstream, one connection at a time): the vector
// index the worker builds (_pg_llm_catalog.vectorizer_index, which it calls once it has emptied a queue) appears once
// the queue is empty and the embeddings number min_rows, on the store or on a destination_column, once; diskann is
// refused without pgvectorscale, and indexing_default follows the setting ai.indexing_default, as in pgai.

import { beforeAll, describe, expect, it } from 'vitest';
import { pgvectorProxy } from '../support/pgvector-proxy.js';

const SLOW = 120_000;

describe("a vectorizer's vector index, on a database with pgvector", () => {
  const suite = pgvectorProxy(SLOW);
  beforeAll(() => suite.client.query('CREATE EXTENSION ai CASCADE'), SLOW);

  const rows = async (sql: string) => (await suite.client.query(sql)).rows;
  const build = async (id: number) => (await rows(`SELECT _pg_llm_catalog.vectorizer_index(${id}) AS built`))[0].built;
  const indexes = (table: string) => rows(`SELECT indexdef FROM pg_indexes WHERE tablename = '${table}' AND indexdef LIKE '%USING hnsw%'`);

  it('builds the hnsw index of the store once the queue is empty and min_rows are stored, and only once', async () => {
    await suite.client.query(`CREATE TABLE docs (id int PRIMARY KEY, body text); INSERT INTO docs VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
    const { id } = (await rows(`SELECT ai.create_vectorizer('docs', loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 4),
                                                         indexing => ai.indexing_hnsw(min_rows => 3, m => 8)) AS id`))[0];
    expect(await build(id)).toBe(false);
    await suite.client.query(`DELETE FROM ai._vectorizer_q_${id}`);
    await suite.client.query(`INSERT INTO docs_embedding_store (id, chunk_seq, chunk, embedding) VALUES (1, 0, 'a', '[1,0,0,0]'), (2, 0, 'b', '[0,1,0,0]')`);
    expect(await build(id)).toBe(false);
    await suite.client.query(`INSERT INTO docs_embedding_store (id, chunk_seq, chunk, embedding) VALUES (3, 0, 'c', '[0,0,1,0]')`);
    expect(await build(id)).toBe(true);
    expect(await build(id)).toBe(false);
    expect(await indexes('docs_embedding_store')).toEqual([
      { indexdef: 'CREATE INDEX docs_embedding_store_embedding_idx ON public.docs_embedding_store USING hnsw (embedding vector_cosine_ops) WITH (m=\'8\')' },
    ]);
  }, SLOW);

  it('builds it on a destination_column, and follows ai.indexing_default; diskann needs pgvectorscale', async () => {
    await suite.client.query(`CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'a')`);
    await suite.client.query(`SET ai.indexing_default = 'indexing_hnsw'`);
    const { id } = (await rows(`SELECT ai.create_vectorizer('notes', loading => ai.loading_column('body'), embedding => ai.embedding_openai('m', 4),
                                                         destination => ai.destination_column('emb'), chunking => ai.chunking_none()) AS id`))[0];
    expect(await rows(`SELECT config -> 'indexing' AS indexing FROM ai.vectorizer WHERE id = ${id}`)).toEqual([
      { indexing: { implementation: 'hnsw', config_type: 'indexing', min_rows: 100000, opclass: 'vector_cosine_ops', create_when_queue_empty: true } },
    ]);
    await suite.client.query(`UPDATE _pg_llm_catalog.pg_llm_vectorizers SET config = jsonb_set(config, '{indexing,min_rows}', '1') WHERE id = ${id}`);
    await suite.client.query(`UPDATE notes SET emb = '[1,2,3,4]'`);
    // The worker's write of the column queues nothing; what the creation queued is taken off by hand here.
    expect(await rows(`SELECT count(*)::int AS n FROM ai._vectorizer_q_${id}`)).toEqual([{ n: 1 }]);
    await suite.client.query(`DELETE FROM ai._vectorizer_q_${id}`);
    expect(await build(id)).toBe(true);
    expect(await indexes('notes')).toEqual([{ indexdef: 'CREATE INDEX notes_emb_idx ON public.notes USING hnsw (emb vector_cosine_ops)' }]);
    await expect(
      suite.client.query(`SELECT ai.create_vectorizer('docs', name => 'd', destination => ai.destination_table('other'), loading => ai.loading_column('body'),
                                                embedding => ai.embedding_openai('m', 4), indexing => ai.indexing_diskann())`),
    ).rejects.toMatchObject({ code: '0A000', message: 'indexing_diskann needs pgvectorscale (the vectorscale extension), which this database does not have' });
  }, SLOW);
});
